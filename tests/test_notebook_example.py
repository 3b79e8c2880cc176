"""The notebook's local-engine cells run as written, and their first answer matches the API's
own data."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from athena_connector.handler import reset_container
from demo_saas import dump_records

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "sagemaker_notebook.ipynb"


def local_engine_cells() -> list[str]:
    """The code cells of section 1 (the local engine), in order."""
    cells, in_section = [], False
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            in_section = source.startswith("## 1.")
        elif in_section:
            cells.append(source)
    return cells


def test_local_engine_cells_run_and_agree_with_the_api(reference_api, monkeypatch):
    monkeypatch.setenv("SAASBRIDGE_API_URL", reference_api.url)
    monkeypatch.setenv("SAASBRIDGE_API_KEY", "demo-acme-key")
    reset_container()
    cells = local_engine_cells()
    assert len(cells) >= 2
    scope: dict = {}
    for source in cells:
        exec(compile(source, str(NOTEBOOK), "exec"), scope)
    reset_container()
    totals: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for deal in dump_records(reference_api.db_path, "acme", "deals"):
        totals[deal["stage"]][0] += 1
        totals[deal["stage"]][1] += Decimal(str(deal["amount"])) if deal["amount"] is not None else 0
    got = {r["stage"]: (r["deals"], Decimal(str(r["total"]))) for r in scope["deals_by_stage"].to_pylist()}
    assert got == {stage: (n, total) for stage, (n, total) in totals.items()}
