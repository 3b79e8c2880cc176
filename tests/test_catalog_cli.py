"""`saasbridge catalog show | validate | from-openapi`: output and exit codes."""

from __future__ import annotations

import sys

import pytest
import yaml

from saasbridge.catalog import load_catalog
from saasbridge.catalog.show import column_pushdown
from saasbridge.cli import main
from saasbridge.runtime import catalog_path, default_catalog_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_lists_every_entity_and_column_with_its_pushdown(capsys):
    code, out, err = run(capsys, "catalog", "show", "--plain")
    assert code == 0, err
    catalog = load_catalog(catalog_path())
    sections = {chunk.split(":")[0].split()[0]: chunk for chunk in out.split("\n== ")[1:]}
    assert list(sections) == [e.name for e in catalog.entities]
    for entity in catalog.entities:
        lines = sections[entity.name].splitlines()
        for f in entity.fields:
            line = next(line for line in lines if line.split()[:1] == [f.name])
            pushdown = column_pushdown(entity, f)
            assert line.rstrip().endswith(pushdown or "-"), line


def test_show_pushdown_words_come_from_the_catalog():
    accounts = load_catalog(catalog_path()).entity("accounts")
    assert column_pushdown(accounts, accounts.field("country")) == "= country"
    assert column_pushdown(accounts, accounts.field("name")) == ""
    assert "IN ids (≤100)" in column_pushdown(accounts, accounts.field("id"))
    assert ">= updated_since" in column_pushdown(accounts, accounts.field("updated_at"))


def test_show_one_entity_with_rich(capsys, monkeypatch):
    pytest.importorskip("rich")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    code, out, _ = run(capsys, "catalog", "show", "--entity", "deals")
    assert code == 0
    assert "deals" in out and "stage" in out and "accounts" not in out.split("deals", 1)[1]


def test_show_unknown_entity_is_one_line_and_exit_1(capsys):
    code, out, err = run(capsys, "catalog", "show", "--entity", "dealz")
    assert code == 1
    assert err.count("\n") == 1 and "unknown table/entity 'dealz'" in err


def test_show_uses_the_catalog_option_and_env(capsys, tmp_path, monkeypatch):
    doc = yaml.safe_load(default_catalog_path().read_text())
    doc["name"] = "my_api"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert "catalog: my_api" in run(capsys, "catalog", "show", "--plain", "--catalog", str(path))[1]
    monkeypatch.setenv("SAASBRIDGE_CATALOG", str(path))
    assert "catalog: my_api" in run(capsys, "catalog", "show", "--plain")[1]


def test_validate_ok_and_broken(capsys, tmp_path):
    code, out, _ = run(capsys, "catalog", "validate", str(default_catalog_path()))
    assert code == 0 and out.startswith("OK ") and out.count("\n") == 1
    doc = yaml.safe_load(default_catalog_path().read_text())
    doc["entities"][0]["fields"][0]["type"] = "strng"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, out, err = run(capsys, "catalog", "validate", str(bad))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert str(bad) in err and "entities[0].fields[0].type" in err and "unknown type 'strng'" in err


def test_validate_without_file_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["catalog", "validate"])
    assert exc.value.code == 2


def test_from_openapi_writes_a_valid_draft(capsys, tmp_path, reference_api):
    out_file = tmp_path / "draft.yaml"
    code, out, err = run(capsys, "catalog", "from-openapi", f"{reference_api.url}/openapi.json",
                         "--output", str(out_file), "--name", "my_crm")
    assert code == 0, err
    catalog = load_catalog(out_file, env={})
    assert catalog.name == "my_crm"
    assert [e.name for e in catalog.entities] == [e.name for e in load_catalog(catalog_path()).entities]
    # refuses to overwrite without --force
    code, _, err = run(capsys, "catalog", "from-openapi", f"{reference_api.url}/openapi.json", "--output", str(out_file))
    assert code == 1 and "--force" in err
    assert run(capsys, "catalog", "validate", str(out_file))[0] == 0


def test_from_openapi_to_stdout_and_bad_source(capsys, tmp_path, reference_api):
    code, out, _ = run(capsys, "catalog", "from-openapi", f"{reference_api.url}/openapi.json")
    assert code == 0 and "entities:" in out
    code, out, err = run(capsys, "catalog", "from-openapi", str(tmp_path / "none.json"))
    assert code == 1 and err.count("\n") == 1 and "cannot read the OpenAPI document" in err
