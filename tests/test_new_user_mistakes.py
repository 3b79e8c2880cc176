"""Mistakes a new user makes with the README's commands: each ends in ONE line on stderr that names
what is wrong and how to fix it, a non-zero exit, no traceback and nothing half-written."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import boto3
import pytest

from demo_saas import dump_records
from saasbridge.cli import main
from saasbridge.runtime import default_catalog_path
from tests.helpers import reset_connectors as reset


@pytest.fixture(autouse=True)
def fresh_connectors():
    """Each test sets its own API URL, key and catalog: no connector keeps another test's."""
    reset()
    yield
    reset()


def fails_in_one_line(capsys, *argv: str) -> str:
    """Run the command; it must exit 1 with one line on stderr (returned) and nothing on stdout."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    assert err.count("\n") == 1 and err.startswith("saasbridge: error: "), err
    assert out == "", out
    return err.strip()


def write_demo_catalog_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The demo catalog with the first `old` replaced by `new`; returns the file and that line."""
    lines = default_catalog_path().read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if old in line)
    lines[at] = lines[at].replace(old, new, 1)
    file = tmp_path / "my-api.yaml"
    file.write_text("\n".join(lines) + "\n")
    return file, at + 1


def test_a_typod_top_level_key_is_reported_at_its_own_line(capsys, tmp_path):
    file, line = write_demo_catalog_with(tmp_path, "records_path:", "record_path:")
    err = fails_in_one_line(capsys, "catalog", "validate", str(file))
    assert err.startswith(f"saasbridge: error: {file}:{line}: "), (line, err)
    assert "did you mean 'records_path'" in err


def test_a_typod_entity_key_is_reported_at_its_own_line(capsys, tmp_path):
    file, line = write_demo_catalog_with(tmp_path, "    get_path:", "    get_pth:")
    err = fails_in_one_line(capsys, "catalog", "validate", str(file))
    assert err.startswith(f"saasbridge: error: {file}:{line}: entities[0]: "), (line, err)
    assert "did you mean 'get_path'" in err


STUBS = Path(__file__).parent / "saas_stubs"


def write_stub_catalog_with(tmp_path: Path, stub: str, old: str, new: str) -> Path:
    text = (STUBS / stub).read_text()
    assert old in text
    file = tmp_path / stub
    file.write_text(text.replace(old, new, 1))
    return file


def test_a_search_condition_with_a_misspelt_placeholder_is_refused(capsys, tmp_path):
    # sent as written, HubSpot would compare every contact with the text '{valeu}': no rows, no error
    file = write_stub_catalog_with(tmp_path, "hubspot.yaml", 'value: "{value}"}', 'value: "{valeu}"}')
    err = fails_in_one_line(capsys, "catalog", "validate", str(file))
    assert "entities[0].search.filter.condition: " in err and "{valeu}" in err and "needs {field}, {value}" in err


def test_a_query_operator_without_its_value_is_refused(capsys, tmp_path):
    file = write_stub_catalog_with(tmp_path, "stripe.yaml", 'eq: "{field}:{value}"', 'eq: "{field}:{value"')
    err = fails_in_one_line(capsys, "catalog", "validate", str(file))
    assert "entities[0].search.query.operators.eq: '{field}:{value' needs {field}, {value}" in err


def test_a_query_language_whose_quote_nothing_escapes_is_refused(capsys, tmp_path):
    # `name = 'x" OR balance>0 OR name:"y'` would otherwise become three clauses of the query
    file = write_stub_catalog_with(tmp_path, "stripe.yaml", """escape: [["\\\\", "\\\\\\\\"], ['"', '\\"']]""",
                                   "escape: []")
    err = fails_in_one_line(capsys, "catalog", "validate", str(file))
    assert "entities[0].search.query.escape: values are quoted with '\"' but no escape rule replaces it" in err
    assert "or put it in forbidden" in err


OPENAPI = Path(__file__).parent / "fixtures" / "openapi"


def test_from_openapi_into_a_folder_that_does_not_exist_writes_nothing(capsys, tmp_path):
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(OPENAPI / "asana-tasks.json"),
                            "-o", str(tmp_path / "nowhere" / "asana.yaml"))
    assert f"--output {tmp_path / 'nowhere' / 'asana.yaml'}: the folder {tmp_path / 'nowhere'} does not exist" in err
    assert not (tmp_path / "nowhere").exists()


def test_from_openapi_into_a_folder_asks_for_a_file(capsys, tmp_path):
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(OPENAPI / "asana-tasks.json"), "-o", str(tmp_path),
                            "--force")
    assert f"--output {tmp_path}: is a folder; give the catalog's file name" in err
    assert list(tmp_path.iterdir()) == []


def test_from_openapi_on_files_that_are_not_openapi_says_what_they_are(capsys, tmp_path):
    text = tmp_path / "page.json"
    text.write_text("<html>Sign in</html>\n")
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(text))
    assert "not an OpenAPI 3 document (no 'openapi: 3.x' key); give the API's OpenAPI 3 JSON or YAML" in err
    assert "Swagger" not in err
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(default_catalog_path()))
    assert "not an OpenAPI 3 document but a saasbridge catalog already; check it with `saasbridge catalog validate" in err
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "info": {"title": "t"}, "paths": {}}')
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(swagger))
    assert "not an OpenAPI 3 document but Swagger 2.0; convert it to OpenAPI 3 first" in err


def test_from_openapi_reads_a_gzipped_document_like_the_plain_one(capsys, tmp_path):
    plain, packed = tmp_path / "asana.json", tmp_path / "asana.json.gz"
    plain.write_bytes((OPENAPI / "asana-tasks.json").read_bytes())
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    drafts = []
    for source in (plain, packed):
        assert main(["catalog", "from-openapi", str(source)]) == 0
        drafts.append(capsys.readouterr().out.split("\n", 1)[1])  # the first line names the source
    assert drafts[0] == drafts[1] and "entities:" in drafts[0]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sql_through_an_endpoint_that_is_not_running_says_to_start_it(capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    err = fails_in_one_line(capsys, "sql", "--endpoint-url", url, "SELECT * FROM crm.accounts LIMIT 1")
    assert f"nothing answers at {url}; start `saasbridge lambda serve` there or fix --endpoint-url" in err


def test_a_deployed_function_without_aws_credentials_says_where_they_come_from(capsys, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")  # nor AWS, whatever happens
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no credentials another test's session resolved
    err = fails_in_one_line(capsys, "sql", "--function-name", "my-athena", "--region", "us-east-1",
                            "SELECT * FROM crm.accounts LIMIT 1")
    assert "no AWS credentials to invoke my-athena; configure them (aws configure, AWS_PROFILE" in err


def test_sql_when_the_api_is_down_says_to_check_its_address(capsys, monkeypatch, aws_env):
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("SAASBRIDGE_API_URL", url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    err = fails_in_one_line(capsys, "sql", "SELECT count(*) FROM crm.accounts")
    assert f"cannot connect to {url}/v1/accounts" in err
    assert "check that the API is up there (SAASBRIDGE_API_URL or the catalog's base_url), or retry later" in err


@pytest.mark.parametrize(("where", "words"), [
    ("country = 'DE", "invalid filter expression \"country = 'DE\": column 11: token recognition error at: ''DE'; "
                      "write it in AppFlow's filter language, e.g. country = 'DE' and employees > 50"),
    ("contry = 'DE'", "Filter attribute not found in entity definition: contry; did you mean 'country'?"),
])
def test_extract_with_a_bad_where_names_the_fix_and_writes_nothing(capsys, monkeypatch, aws_env, reference_api,
                                                                   tmp_path, where, words):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    err = fails_in_one_line(capsys, "extract", "accounts", "--to", str(tmp_path / "out"), "--where", where,
                            "--no-progress")
    assert words in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "data", "words"), [
    ("scores.csv", "id,entity_type,entity_id,model,score\np1,accounts,acc_1,Zürich,0.5\n".encode("latin-1"),
     "--from scores.csv: not UTF-8 text (byte 0xfc at 56); save it as UTF-8"),
    ("scores.jsonl", '{"id": "p1", "model": "Zürich"}\n'.encode("latin-1"),
     "--from scores.jsonl: not UTF-8 text (byte 0xfc at 24); save it as UTF-8"),
    ("scores.parquet", b"id,score\np1,0.5\n",
     "--from scores.parquet: not a readable Parquet file (Parquet magic bytes not found in footer); check that it is "
     "Parquet, or give a .csv or .jsonl file"),
])
def test_writeback_of_a_file_it_cannot_read_writes_nothing(capsys, monkeypatch, aws_env, reference_api, tmp_path,
                                                            name, data, words):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(data)
    before = dump_records(reference_api.db_path, "acme", "predictions")
    err = fails_in_one_line(capsys, "writeback", "predictions", "--from", name, "--operation", "upsert", "--no-progress")
    assert words in err
    assert dump_records(reference_api.db_path, "acme", "predictions") == before


def test_extract_to_a_folder_that_cannot_be_made_says_so_before_reading(capsys, monkeypatch, aws_env, reference_api,
                                                                        tmp_path):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    err = fails_in_one_line(capsys, "extract", "accounts", "--to", str(tmp_path / "notes.txt" / "out"), "--no-progress")
    assert f"--to {tmp_path / 'notes.txt' / 'out'}: {tmp_path / 'notes.txt'} is a file, so no folder can be made " \
           "there; give a directory or an s3:// URI" in err


def test_a_write_method_the_api_does_not_allow_names_the_catalogs_write(capsys, monkeypatch, aws_env, reference_api,
                                                                         tmp_path):
    catalog, _ = write_demo_catalog_with(tmp_path, '{op: update, method: PATCH, path: "/v1/predictions/{id}"',
                                         '{op: update, method: POST, path: "/v1/predictions/{id}"')
    for name, value in (("SAASBRIDGE_CATALOG", str(catalog)), ("SAASBRIDGE_API_URL", reference_api.url),
                        ("SAASBRIDGE_API_KEY", "demo-acme-key")):
        monkeypatch.setenv(name, value)
    scores = tmp_path / "scores.csv"
    scores.write_text("id,score\npred_qa_1,0.5\n")
    code = main(["writeback", "predictions", "--from", str(scores), "--operation", "update", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1 and "0 of 1 rows" in out
    assert (f"row 1 (id pred_qa_1): HTTP 405: the API does not allow POST on {reference_api.url}/v1/predictions/"
            "pred_qa_1; check the update write's method and path in the catalog") in err


def test_a_broken_catalog_is_a_configuration_error_through_both_connectors(capsys, monkeypatch, aws_env,
                                                                          reference_api, tmp_path):
    catalog, line = write_demo_catalog_with(tmp_path, "records_path:", "record_path:")
    for name, value in (("SAASBRIDGE_CATALOG", str(catalog)), ("SAASBRIDGE_API_URL", reference_api.url),
                        ("SAASBRIDGE_API_KEY", "demo-acme-key")):
        monkeypatch.setenv(name, value)
    problem = f"{catalog}:{line}: (top level): unknown key 'record_path'; did you mean 'records_path'?"
    err = fails_in_one_line(capsys, "sql", "SELECT count(*) FROM crm.accounts")
    assert f"connector 'athena' failed with ConfigurationError: {problem}" in err
    err = fails_in_one_line(capsys, "extract", "accounts", "--to", str(tmp_path / "out"), "--no-progress")
    assert f"DescribeConnectorConfiguration failed: InvalidArgument: {problem}" in err


@pytest.mark.parametrize(("sql", "words"), [
    ("SELECT * FROM crm.accounts WHERE name = 'Acme", "SQL syntax error: the ' at line 1, column 40 is never closed; "
                                                     "close it"),
    ("SELECT * FORM crm.accounts", "SQL syntax error near 'crm' (line 1, column 17): Invalid expression / Unexpected "
                                   "token; fix the SQL there"),
    ("SELEC * FROM crm.accounts", "SQL syntax error near 'FROM' (line 1, column 12): Required keyword: 'expression' "
                                  "missing for Mul; fix the SQL there"),
])
def test_sql_that_does_not_parse_points_at_the_place(capsys, sql, words):
    err = fails_in_one_line(capsys, "sql", sql)
    assert words in err


def test_from_openapi_with_a_base_url_that_is_not_http_names_the_flag(capsys, tmp_path):
    err = fails_in_one_line(capsys, "catalog", "from-openapi", str(OPENAPI / "asana-tasks.json"), "--base-url",
                            "api.example.com/v1", "-o", str(tmp_path / "asana.yaml"))
    assert "--base-url api.example.com/v1: not an http(s) URL; write e.g. https://api.example.com/v1" in err
    assert "report" not in err and not (tmp_path / "asana.yaml").exists()


def test_a_value_of_the_wrong_type_in_sql_names_the_fix(capsys, monkeypatch, aws_env, reference_api):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    err = fails_in_one_line(capsys, "sql", "SELECT count(*) FROM crm.accounts WHERE employees > 'many'")
    assert "query failed in the engine: Conversion Error: Could not convert string 'many' to INT64" in err
    assert "; check the SQL against the columns and their types (`saasbridge catalog show`)" in err
