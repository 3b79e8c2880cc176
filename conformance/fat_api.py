"""A loopback "documents" API for the AWS-limit tests (issue 23): records whose `body` holds 3 MiB
or 12 MiB of text, or pages that take seconds to arrive. Page-number paging with the total in
`X-Total-Count`, GET by id, and a batch insert that records what it was sent.

Its data is built here, so the tests compare what the connectors return with it exactly.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote

import orjson

from saasbridge.local.httpstub import StubReply, StubRequest, reply

API_KEY = "docs-key-41c9"
MIB = 1 << 20
DOC_PATH = re.compile(r"/docs/([^/]+)\Z")


def body_text(doc_id: str, size: int) -> str:
    """`size` characters of text unique to the document, with characters JSON escapes
    (quote, backslash, newline) and one that UTF-8 spells in two bytes."""
    unit = f'{doc_id} "quoted" back\\slash\nnew line é; '
    return (unit * (size // len(unit) + 1))[:size]


def documents(sizes: list[int], first: int = 1) -> list[dict]:
    """Documents doc_01, doc_02, … (from number `first`) with bodies of these sizes (characters)."""
    return [{"id": f"doc_{i:02d}", "size": size, "body": body_text(f"doc_{i:02d}", size)}
            for i, size in enumerate(sizes, start=first)]


# small, 3 MiB and 12 MiB bodies, mixed so that fat rows meet on pages and in blocks
FAT = documents([10, 3 * MIB, 3 * MIB, 20, 12 * MIB, 3 * MIB, 30, 3 * MIB, 12 * MIB, 40])


def digest(row: dict) -> tuple:
    """A row compared by id, size and a hash of its body (None when it has no body)."""
    body = row.get("body")
    return (row["id"], row.get("size"),
            None if body is None else hashlib.sha256(body.encode()).hexdigest())


@dataclass
class DocsApi:
    """The handler; `delay` seconds before every answer; `inserted` and `insert_bodies` keep
    what the batch insert was sent."""

    docs: list[dict]
    delay: float = 0.0
    max_page_size: int = 4
    inserted: list[dict] = field(default_factory=list)
    insert_bodies: list[int] = field(default_factory=list)  # bytes of each insert request
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("x-api-key") != API_KEY:
            return reply({"error": "unauthorized"}, status=401)
        answer = self._answer(request)
        answer.delay = self.delay
        return answer

    def _answer(self, request: StubRequest) -> StubReply:
        if request.method == "POST" and request.path == "/docs":
            records = request.json()["data"]
            with self._lock:
                self.insert_bodies.append(len(request.body))
                self.inserted += records
            return reply({"data": [{"id": r["id"]} for r in records]})
        if request.path == "/docs":
            size = min(int(request.query.get("per_page", self.max_page_size)), self.max_page_size)
            start = (int(request.query.get("page", 1)) - 1) * size
            return reply(self.docs[start:start + size], X_Total_Count=str(len(self.docs)))
        if (m := DOC_PATH.match(request.path)) is not None:
            found = [d for d in self.docs if d["id"] == unquote(m.group(1))]
            return reply(found[0]) if found else reply({"error": "not found"}, status=404)
        return reply({"error": "not found"}, status=404)


def catalog_yaml(max_page_size: int = 4) -> str:
    return f"""\
name: docs
base_url: ${{SAASBRIDGE_API_URL}}
auth: {{type: api_key, header: X-Api-Key, prefix: ""}}
pagination: {{style: page_number, page_param: page, limit_param: per_page, default_page_size: {max_page_size},
             max_page_size: {max_page_size}, total_header: X-Total-Count}}
records_path: ""
retry: {{max_attempts: 3, base_delay: 0.01, max_delay: 0.05}}
rate_limit: {{requests_per_second: 1000, burst: 1000, max_concurrency: 4}}
entities:
  - name: docs
    path: /docs
    get_path: "/docs/{{id}}"
    fields:
      - {{name: id, type: string, nullable: false}}
      - {{name: size, type: int64}}
      - {{name: body, type: string}}
    writes:
      - {{op: insert, method: POST, path: /docs, batch_size: 50, body_key: data, result_path: data}}
"""


def json_bytes(value: object) -> int:
    return len(orjson.dumps(value))
