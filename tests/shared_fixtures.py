"""Where the recorded protocol fixtures live: the `shared/` folder beside the checkout (CI clones
main with shared/ beside it), or the folder named by SAASBRIDGE_SHARED."""

from __future__ import annotations

import os
from pathlib import Path


def _shared() -> Path:
    named = os.environ.get("SAASBRIDGE_SHARED")
    candidates = [Path(named)] if named else [Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "athena-fixtures").is_dir():
            return candidate
    raise RuntimeError(f"the recorded fixtures are not in {', '.join(map(str, candidates))}; "
                       "set SAASBRIDGE_SHARED to the folder holding athena-fixtures/ and appflow-fixtures/")


SHARED = _shared()
ATHENA_FIXTURES = SHARED / "athena-fixtures"
APPFLOW_FIXTURES = SHARED / "appflow-fixtures"
