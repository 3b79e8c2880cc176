"""GitHub-shaped API (tests/saas_stubs/github.py): the from-openapi draft of GitHub's published
document reads the repository's issue list unedited (Link-header pages of 100, `state=all`, the
owner and repo bound by the query), and the catalog tests/saas_stubs/github.yaml compiles
filters into GitHub's search qualifiers; exact rows through both connectors against brute force
over the stub's data, at the fewest requests."""

from __future__ import annotations

import datetime as dt
import math
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pytest

from athena_connector import protocol as p
from saasbridge.catalog.openapi import draft_catalog_yaml, load_openapi
from tests.helpers import reset_connectors
from tests.saas_stubs import deploy as stubs
from tests.saas_stubs.github import TOKEN, GitHub, parse_qualifiers

SPEC = Path(__file__).parent / "fixtures" / "openapi" / "github-issues.json"
LIST = "/repos/octo/app/issues"
SEARCH = "/search/issues"
SECRET = {"accessToken": TOKEN}


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def drafted(aws_env, monkeypatch, tmp_path):
    """`setup(api)`: the draft of GitHub's document, unedited, served over `api`."""
    path = tmp_path / "github-draft.yaml"
    path.write_text(draft_catalog_yaml(load_openapi(str(SPEC)), source=str(SPEC)))
    with ExitStack() as stack:
        yield lambda api: stubs.deploy(stack, monkeypatch, tmp_path, str(path), api, SECRET)
    reset_connectors()


_deployed = stubs.deployment("github.yaml", SECRET)


@pytest.fixture
def github(_deployed):
    return lambda api, cap=1000: _deployed(api, GITHUB_SEARCH_CAP=str(cap))


# ------------------------------------------------------------------ the draft, on the list endpoint


def _row_view(item: dict) -> tuple:
    return (item["id"], item["number"], item["state"], [x["name"] for x in item["labels"]], "pull_request" in item)


@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_the_draft_reads_every_issue_and_pull_request_in_pages_of_100(drafted, connector):
    api = GitHub(230)
    d = drafted(api)
    columns = ["owner", "repo", "id", "number", "state", "labels", "pull_request", "created_at"]
    if connector == "athena":
        summary = {"owner": p.values_in(pa.string(), ["octo"]), "repo": p.values_in(pa.string(), ["app"])}
        rows = d.athena("issues", summary=summary, columns=columns)
    else:
        rows = d.appflow("issues", expression="owner = 'octo' and repo = 'app'", fields=columns)
    got = sorted(((r["id"], r["number"], r["state"], [x["name"] for x in r["labels"]], r["pull_request"] is not None)
                  for r in rows), key=lambda t: t[0])
    assert got == sorted(map(_row_view, api.issues()), key=lambda t: t[0])  # the closed ones too
    assert {(r["owner"], r["repo"]) for r in rows} == {("octo", "app")}
    taken = d.taken()
    assert [(r.path, r.query.get("state"), r.query.get("per_page"), r.query.get("page")) for r in taken] == [
        (LIST, "all", "100", None), (LIST, "all", "100", "2"), (LIST, "all", "100", "3")]


def test_the_draft_reads_several_repositories_and_pushes_state(drafted):
    api = GitHub(230)
    d = drafted(api)
    summary = {"owner": p.values_in(pa.string(), ["octo"]), "repo": p.values_in(pa.string(), ["app", "lib"]),
               "state": p.values_in(pa.string(), ["closed"])}
    rows = d.athena("issues", summary=summary, columns=["repo", "number", "state"])
    want = sorted((repo, i["number"]) for repo in ("app", "lib") for i in api.issues("octo", repo) if i["state"] == "closed")
    assert sorted((r["repo"], r["number"]) for r in rows) == want
    taken = d.taken()
    assert {r.query.get("state") for r in taken} == {"closed"}  # the WHERE replaces the static `all`
    closed_app = sum(i["state"] == "closed" for i in api.issues())
    assert len(taken) == math.ceil(closed_app / 100) + 1  # octo/lib is one page


# ------------------------------------------------------------------ the catalog, on search qualifiers


def issues_only(api: GitHub, keep=lambda i: True) -> list[int]:
    """Brute force: the ids of the repository's issues (not pull requests) that `keep` keeps."""
    return sorted(i["id"] for i in api.issues() if "pull_request" not in i and keep(i))


CUT = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
CASES = [
    ("state = 'open'", lambda i: i["state"] == "open", 'state:"open"'),
    ("author = 'hubot' and comments > 10", lambda i: i["user"]["login"] == "hubot" and i["comments"] > 10,
     'author:"hubot" comments:>10'),
    ("created_at >= 2024-03-01T00:00:00.000Z and state != 'closed'",
     lambda i: _ts(i["created_at"]) >= CUT and i["state"] != "closed", 'created:>=2024-03-01T00:00:00Z'),
    # no OR in the qualifiers: the whole OR stays in the residual, over every issue
    ("author = 'Mona' or comments <= 2", lambda i: i["user"]["login"] == "Mona" or i["comments"] <= 2, None),
    # GitHub has no escape for a quote inside a quoted value: never sent, filtered here
    ("author = 'o\"neil' or author = 'hubot'", lambda i: i["user"]["login"] == "hubot", None),
    ("author = 'mona'", lambda i: False, 'author:"mona"'),  # GitHub matches logins in any case: the residual does not
    # ... so a negation is not sent: `-author:"mona"` would drop Mona's issues, which SQL keeps
    ("author != 'mona' and comments >= 25", lambda i: i["user"]["login"] != "mona" and i["comments"] >= 25,
     "comments:>=25"),
]


@pytest.mark.parametrize(("expression", "keep", "sent"), CASES, ids=[c[0] for c in CASES])
def test_appflow_filters_compile_into_search_qualifiers(github, expression, keep, sent):
    api = GitHub(230)
    d = github(api)
    rows = d.appflow("issues", expression=expression, fields=["id", "author", "comments"])
    assert sorted(r["id"] for r in rows) == issues_only(api, keep)
    assert len(rows) == len({r["id"] for r in rows})
    taken = d.taken()
    assert {r.path for r in taken} == {SEARCH}
    q = taken[0].query["q"]
    assert q == "repo:octo/app is:issue" + (f" {sent}" if sent else "")
    matched = sum(1 for (owner, repo), items in api.repos.items() for i in items if parse_qualifiers(q)(owner, repo, i))
    assert len(taken) == max(1, math.ceil(matched / 100))  # pages of 100, no extra request


def test_athena_constraints_become_qualifiers(github):
    api = GitHub(230)
    d = github(api)
    summary = {"state": p.values_in(pa.string(), ["closed"]),
               "comments": p.sorted_range_set(pa.int64(), [p.range_of(5, 20)])}
    rows = d.athena("issues", summary=summary, columns=["id", "state", "comments"])
    assert sorted(r["id"] for r in rows) == issues_only(api, lambda i: i["state"] == "closed" and 5 <= i["comments"] <= 20)
    (request,) = d.taken()
    assert request.query["q"] == 'repo:octo/app is:issue state:"closed" comments:>=5 comments:<=20'


def test_a_label_qualifier_with_spaces_is_quoted(github):
    api = GitHub(230)
    d = github(api)
    rows = d.athena("good_first_issues", columns=["id", "labels"])
    assert sorted(r["id"] for r in rows) == issues_only(
        api, lambda i: "good first issue" in [x["name"] for x in i["labels"]])
    assert all("good first issue" in [x["name"] for x in r["labels"]] for r in rows)
    assert {r.query["q"] for r in d.taken()} == {'repo:octo/app is:issue label:"good first issue"'}


@pytest.mark.parametrize("connector", ["athena", "appflow"])
def test_a_search_past_the_result_cap_is_cut_into_created_at_windows(github, connector):
    api = GitHub(230)
    d = github(api, cap=60)
    rows = d.athena("issues", columns=["id"]) if connector == "athena" else d.appflow("issues", fields=["id"])
    assert sorted(r["id"] for r in rows) == issues_only(api)  # all of them, once each
    assert len(rows) == len(issues_only(api))
    taken = d.taken()
    assert {r.path for r in taken} == {SEARCH}
    assert any("created:>=" in r.query["q"] for r in taken)
