"""Values → query-parameter text in a filter's format, rounded in the direction that keeps rows.

`render(v, fmt, "floor")` for lower bounds, `"ceil"` for upper bounds, `"exact"` for equality;
None when the value cannot be written in that format (then the predicate is not pushed).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from saasbridge.catalog.model import FieldType, ValueFormat

Rounding = Literal["floor", "ceil", "exact"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def render(v: Any, fmt: ValueFormat, rounding: Rounding) -> str | None:
    if v is None:
        return None
    if fmt == "bool_lower":
        return ("true" if v else "false") if isinstance(v, bool) else None
    if fmt == "number":
        return _number(v)
    if fmt in ("iso8601", "iso8601_ms", "epoch_s", "epoch_ms"):
        return _instant(v, fmt, rounding)
    if fmt == "date":
        return _date(v, rounding)
    # "string"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return _instant(v, "iso8601_ms", rounding)
    if isinstance(v, float):
        return _number(v)
    if isinstance(v, Decimal):
        return _number(v)
    return str(v)


def _number(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return format(v, "f") if v.is_finite() else None
    return None


def _as_instant(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC)
    return None


def _instant(v: Any, fmt: str, rounding: Rounding) -> str | None:
    t = _as_instant(v)
    if t is None:
        return None
    unit_us = 1_000_000 if fmt in ("iso8601", "epoch_s") else 1_000
    us = (t - _EPOCH) // _US
    q, r = divmod(us, unit_us)
    if r:
        if rounding == "exact":
            return None
        if rounding == "ceil":
            q += 1
    if fmt == "epoch_s" or fmt == "epoch_ms":
        return str(q)
    t = _EPOCH + dt.timedelta(microseconds=q * unit_us)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if fmt == "iso8601_ms":
        text += f".{t.microsecond // 1000:03d}"
    return text + "Z"


def _date(v: Any, rounding: Rounding) -> str | None:
    if isinstance(v, dt.datetime):
        t = _as_instant(v).astimezone(dt.UTC)  # type: ignore[union-attr]
        d = t.date()
        if t != dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC):
            if rounding == "exact":
                return None
            if rounding == "ceil":
                d += dt.timedelta(days=1)
        return d.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return None


def step_up(v: Any, ft: FieldType) -> Any:
    """The smallest value of the column's type above `v` (so `<= v` == `< step_up(v)`), or None."""
    if v is None or isinstance(v, bool):
        return None
    kind = ft.kind
    if kind in ("int32", "int64") and isinstance(v, (int, float, Decimal)):
        return math.floor(v) + 1
    if kind == "double" and isinstance(v, (int, float)):
        return math.nextafter(float(v), math.inf)
    if kind == "decimal" and isinstance(v, (int, Decimal)):
        unit = Decimal(1).scaleb(-(ft.scale or 0))
        return Decimal(v).quantize(unit, rounding=ROUND_FLOOR) + unit
    if kind == "date" and isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v + dt.timedelta(days=1)
    if kind == "timestamp" and isinstance(v, dt.datetime):
        t = _as_instant(v)
        assert t is not None
        ms = (t - _EPOCH) // dt.timedelta(milliseconds=1)  # the column holds whole milliseconds
        return _EPOCH + dt.timedelta(milliseconds=ms + 1)
    return None
