"""The one S3 URL parser (saasbridge/s3url.py): any bucket and key survive a round trip, the parts
agree with urllib's generic URL split (for keys it can split), and every malformed URL is one line
naming the flag or field it came from."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.errors import ConfigError
from saasbridge.s3url import S3Url, is_s3_url, parse_s3_url

buckets = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,62}", fullmatch=True)
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40)


@given(buckets, keys)
def test_any_bucket_and_key_round_trip(bucket, key):
    url = f"s3://{bucket}/{key}"
    parsed = parse_s3_url(url)
    assert (parsed.bucket, parsed.key) == (bucket, key)
    assert str(parsed) == url
    assert parsed.prefix == key.strip("/")


@given(buckets, st.lists(st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True), min_size=1, max_size=4))
def test_parts_agree_with_urllib(bucket, parts):
    url = f"s3://{bucket}/{'/'.join(parts)}"
    generic = urlsplit(url)
    parsed = parse_s3_url(url, need_key=True)
    assert (parsed.bucket, parsed.key) == (generic.netloc, generic.path.lstrip("/"))
    assert parsed.name == parts[-1]


def test_a_key_keeps_what_urllib_would_cut_off():
    """`?` and `#` are legal in S3 keys; a generic URL split would drop them as query and fragment."""
    assert parse_s3_url("s3://b/scores?v=1#a.csv", need_key=True) == S3Url("b", "scores?v=1#a.csv")


@pytest.mark.parametrize(
    "url, need_key, message",
    [
        ("b/key", False, "--to 'b/key' is not an S3 URL; expected s3://bucket/prefix"),
        ("s3:/b/key", False, "--to 's3:/b/key' is not an S3 URL; expected s3://bucket/prefix"),
        ("s3:///key", True, "--to 's3:///key' is not an S3 URL; expected s3://bucket/key"),
        ("s3:// b/key", True, "--to 's3:// b/key' is not an S3 URL; expected s3://bucket/key"),
        ("https://b/key", False, "--to 'https://b/key' is not an S3 URL; expected s3://bucket/prefix"),
        ("s3://b", True, "--to 's3://b' names a bucket but no object; expected s3://b/key"),
        ("s3://b//", True, "--to 's3://b//' names a bucket but no object; expected s3://b/key"),
    ],
)
def test_malformed_urls_are_one_line_errors(url, need_key, message):
    with pytest.raises(ConfigError) as caught:
        parse_s3_url(url, "--to", need_key=need_key)
    assert str(caught.value) == message


def test_a_bucket_alone_is_a_prefix_url():
    assert parse_s3_url("s3://b") == S3Url("b", "")
    assert parse_s3_url("s3://b/").prefix == ""
    assert (is_s3_url("s3://b"), is_s3_url("./s3:/b"), is_s3_url("S3://b")) == (True, False, False)
