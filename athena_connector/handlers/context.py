"""What one invocation needs: the container's runtime and AWS clients, the parsed request, the
deadline, and counters that become metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from athena_connector.config import Settings
from athena_connector.errors import TableNotFoundError, UnsupportedPredicateError
from athena_connector.passthrough import parse_passthrough, passthrough_query
from athena_connector.protocol import Request, TableName, expression_to_ir, value_set_to_ir
from saasbridge.catalog.model import Catalog, Entity
from saasbridge.client.properties import with_properties
from saasbridge.client.stats import UsageMeter
from saasbridge.query.ir import Const, Expr, and_all, columns_of, conjuncts


@dataclass
class Counters:
    rows_read: int = 0  # records the API returned
    rows_returned: int = 0  # rows sent to Athena
    bytes_returned: int = 0  # Arrow bytes sent to Athena (inline or spilled)
    spilled_blocks: int = 0
    values_nulled: int = 0  # wrongly typed API values the converter turned into null

    def metrics(self) -> dict[str, int]:
        """The counters by metric name (RowsRead, …, ValuesNulled)."""
        return {"".join(part.title() for part in name.split("_")): value for name, value in asdict(self).items()}


@dataclass
class Invocation:
    runtime: Any  # saasbridge.runtime.Runtime
    settings: Settings
    request: Request
    deadline: Any = None  # saasbridge.client.deadline.Deadline
    s3: Callable[[], Any] = lambda: None
    kms: Callable[[], Any] = lambda: None
    counters: Counters = field(default_factory=Counters)
    meter: UsageMeter = field(default_factory=UsageMeter)  # the invocation's API usage

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    def client(self) -> CountingClient:
        return self.meter.watch(CountingClient(self.runtime.client(), self.counters))

    # ---- names -------------------------------------------------------------------------------

    def check_schema(self, schema_name: str | None) -> None:
        if schema_name is not None and schema_name.lower() != self.catalog.name:
            raise TableNotFoundError(schema_name, [self.catalog.name], kind="schema")

    def entity_for(self, table: TableName, passthrough: dict[str, str] | None = None) -> tuple[Entity, Expr | None]:
        """The entity a request reads and the passthrough query's filter (None for a table scan)."""
        text = passthrough_query(passthrough)
        if text is not None:
            return parse_passthrough(self.catalog, text)
        self.check_schema(table.schema_name)
        name = table.table_name.lower()
        for e in self.catalog.entities:
            if e.name == name:
                if e.properties is not None:  # columns discovered per tenant (issue 24)
                    e = with_properties(self.catalog, self.client(), e.name).entity(e.name)
                return e, None
        raise TableNotFoundError(f"{table.schema_name}.{table.table_name}",
                                 [f"{self.catalog.name}.{e.name}" for e in self.catalog.entities])

    def where(self, entity: Entity, extra: Expr | None = None) -> Expr | None:
        """The request's constraints (summary and expressions) and `extra`, as one IR filter."""
        terms: list[Expr] = conjuncts(extra)
        constraints = self.request.constraints
        if constraints is not None:
            for column, vs in constraints.summary.items():
                terms.append(value_set_to_ir(column.lower(), vs))
            terms.extend(_usable_expressions(constraints.expression))
        expr = and_all(terms)
        unknown = sorted(c for c in columns_of(expr) if not entity.has_field(c))
        if unknown:
            raise UnsupportedPredicateError(
                f"constraint on unknown column(s) {', '.join(unknown)} of {entity.name}; "
                f"columns: {', '.join(entity.column_names)}"
            )
        if any(t == Const(False) for t in conjuncts(expr)):
            return Const(False)
        return expr


def _usable_expressions(expressions: list) -> list[Expr]:
    """The expressions that translate to IR. Complex-expression pushdown is not advertised, so
    Athena applies every expression itself; one we can translate only saves rows, one we cannot
    is left to Athena instead of failing the query."""
    usable: list[Expr] = []
    for e in expressions:
        try:
            usable.append(expression_to_ir(e))
        except UnsupportedPredicateError:
            continue
    return usable


class CountingClient:
    """The SaaS client with a count of the records it returned (the "rows read" metric)."""

    def __init__(self, client: Any, counters: Counters):
        self._client = client
        self._counters = counters

    def list_pages(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for page in self._client.list_pages(*args, **kwargs):
            self._counters.rows_read += len(page.records)
            yield page

    def get(self, *args: Any, **kwargs: Any) -> Any:
        record = self._client.get(*args, **kwargs)
        self._counters.rows_read += record is not None
        return record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
