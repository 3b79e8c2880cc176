"""Deterministic demo data: the same (seed, tenant, scale) always gives the same records.

Records are produced in API form (the dicts the API serves), with timestamps as epoch
milliseconds; `store` converts them to rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

from demo_saas.entities import DEAL_STAGES, ENTITIES, EVENT_TYPES

TENANTS = ("acme", "globex")

_EPOCH_START = int(datetime(2022, 1, 1, tzinfo=UTC).timestamp() * 1000)
_EPOCH_END = int(datetime(2024, 12, 31, tzinfo=UTC).timestamp() * 1000)
# A bulk import gives a block of rows the very same updated_at (realistic, and it exercises ties).
_BULK_IMPORT_AT = int(datetime(2024, 7, 1, 3, 0, tzinfo=UTC).timestamp() * 1000)

_INDUSTRIES = ("software", "retail", "manufacturing", "finance", "healthcare", "energy", "media", "logistics")
_COUNTRIES = ("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "NL", "ES", "SE")
_CITIES = ("Springfield", "Riverside", "Fairview", "Franklin", "Greenville", "Bristol", "Clinton", "Salem")
_STREETS = ("Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St", "Lake View", "Hill Rd")
_TAGS = ("enterprise", "smb", "partner", "churn-risk", "expansion", "beta", "vip", "reference")
_WORDS = ("Blue", "Nimbus", "Vertex", "Quantum", "Pioneer", "Summit", "Harbor", "Atlas", "Nova", "Echo")
_SUFFIXES = ("Labs", "Systems", "Group", "Industries", "Holdings", "Works", "Partners", "Co")
_FIRST = ("Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Dennis", "Frances", "Ken", "José", "Zoë")
_LAST = ("Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Ritchie", "Allen", "O'Neil")
_TITLES = ("CEO", "CTO", "VP Sales", "Engineer", "Analyst", "Buyer", "Director", "Manager")
_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
_PAGES = ("/pricing", "/docs", "/blog", "/signup", "/features", "/contact")
_SOURCES = ("google", "newsletter", "direct", "linkedin", "partner")


def row_count(entity: str, scale: float) -> int:
    return round(ENTITIES[entity].count * scale)


def _created_updated(rng: random.Random) -> tuple[int, int]:
    created = rng.randint(_EPOCH_START, _EPOCH_END - 86_400_000 * 30)
    if rng.random() < 0.05:
        return min(created, _BULK_IMPORT_AT), _BULK_IMPORT_AT
    return created, rng.randint(created, _EPOCH_END)


def generate(entity: str, *, tenant: str, seed: int, scale: float) -> Iterator[dict]:
    """Yield every record of one entity for one tenant, in id order."""
    rng = random.Random(f"{seed}:{tenant}:{entity}")
    spec = ENTITIES[entity]
    n_accounts = max(row_count("accounts", scale), 1)
    n_contacts = max(row_count("contacts", scale), 1)
    make = _MAKERS.get(entity)
    if make is None:
        return
    edges = _EDGES.get(entity, ())
    for n in range(1, row_count(entity, scale) + 1):
        record = make(rng, spec.make_id(n), n_accounts, n_contacts)
        yield {**record, **edges[n - 1]} if n <= len(edges) else record


def _account(rng: random.Random, id_: str, _na: int, _nc: int) -> dict:
    created, updated = _created_updated(rng)
    country = rng.choice(_COUNTRIES)
    address = None
    if rng.random() > 0.08:
        address = {
            "street": f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
            "city": rng.choice(_CITIES),
            "postal_code": None if rng.random() < 0.1 else f"{rng.randint(10000, 99999)}",
            "country": country,
        }
    return {
        "id": id_,
        "name": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_SUFFIXES)}",
        "industry": None if rng.random() < 0.1 else rng.choice(_INDUSTRIES),
        "country": country,
        "employees": int(rng.lognormvariate(4, 1.5)) + 1,
        "annual_revenue": None if rng.random() < 0.05 else round(rng.uniform(1e4, 5e8), 2),
        "is_active": rng.random() < 0.8,
        "tags": rng.sample(_TAGS, rng.randint(0, 3)),
        "address": address,
        "created_at": created,
        "updated_at": updated,
    }


def _contact(rng: random.Random, id_: str, n_accounts: int, _nc: int) -> dict:
    created, updated = _created_updated(rng)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "id": id_,
        "account_id": ENTITIES["accounts"].make_id(rng.randint(1, n_accounts)),
        "first_name": first,
        "last_name": last,
        "email": None if rng.random() < 0.07 else f"{first}.{last}{rng.randint(1, 99)}@example.com".lower(),
        "title": None if rng.random() < 0.2 else rng.choice(_TITLES),
        "lead_score": round(rng.random() * 100, 3),
        "do_not_contact": rng.random() < 0.1,
        "created_at": created,
        "updated_at": updated,
    }


def _deal(rng: random.Random, id_: str, n_accounts: int, _nc: int) -> dict:
    created, updated = _created_updated(rng)
    stage = rng.choice(DEAL_STAGES)
    close_ms = created + rng.randint(7, 365) * 86_400_000
    close_date = None if rng.random() < 0.15 else datetime.fromtimestamp(close_ms / 1000, UTC).date().isoformat()
    probability = {"closed_won": 100, "closed_lost": 0}.get(stage, rng.randint(5, 95))
    return {
        "id": id_,
        "account_id": ENTITIES["accounts"].make_id(rng.randint(1, n_accounts)),
        "name": f"{rng.choice(_WORDS)} renewal {rng.randint(1, 99)}",
        "stage": stage,
        "amount": round(rng.uniform(500, 250_000), 2),
        "currency": rng.choice(_CURRENCIES),
        "close_date": close_date,
        "probability": probability,
        "created_at": created,
        "updated_at": updated,
    }


def _event(rng: random.Random, id_: str, n_accounts: int, n_contacts: int) -> dict:
    type_ = rng.choice(EVENT_TYPES)
    properties = {"source": rng.choice(_SOURCES)}
    if type_ == "page_view":
        properties["path"] = rng.choice(_PAGES)
    elif rng.random() < 0.3:
        properties["campaign"] = f"c{rng.randint(1, 20)}"
    return {
        "id": id_,
        "account_id": ENTITIES["accounts"].make_id(rng.randint(1, n_accounts)),
        "contact_id": None if rng.random() < 0.1 else ENTITIES["contacts"].make_id(rng.randint(1, n_contacts)),
        "type": type_,
        "occurred_at": rng.randint(_EPOCH_START, _EPOCH_END),
        "properties": properties,
        "duration_ms": rng.randint(50, 3_600_000) if type_ in ("meeting", "call", "page_view") else None,
    }


# Values at the edges of their types, written over the first rows of an entity (the generator's
# random sequence is untouched, so every other row stays as it was): int64 above 2^31 and above
# 2^53 (where doubles lose integers), instants before 1970 (one a millisecond before the epoch),
# decimals with all the digits the API's numbers carry exactly (15 significant), empty strings
# and non-ASCII text (4-byte UTF-8 included).
_EDGES: dict[str, tuple[dict, ...]] = {
    "accounts": (
        {"name": "Zürich Ωmega 東京 Systems 🚀", "industry": "", "employees": 2**53 + 1,
         "annual_revenue": 9_999_999_999_999.99, "created_at": -1,
         "address": {"street": "", "city": "São Paulo", "postal_code": "01310-000", "country": "BR"}},
        {"employees": 2**31, "annual_revenue": 0.01, "created_at": -14_182_940_000},  # 1969-07-20T20:17:40Z
    ),
    "contacts": ({"first_name": "Øyvind", "last_name": "Ñúñez-Łukasiewicz", "title": "",
                  "created_at": -86_400_000 * 365 * 30 - 1},),
    "deals": ({"name": "", "amount": 9_999_999_999_999.99, "close_date": "1969-12-31", "currency": "EUR"},
              {"amount": 0.01, "close_date": "1900-01-01"}),
    "events": ({"duration_ms": 2**40 + 3, "properties": {"source": "直接", "campaign": ""}},),
}

_MAKERS = {"accounts": _account, "contacts": _contact, "deals": _deal, "events": _event}
