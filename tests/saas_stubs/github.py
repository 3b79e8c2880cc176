"""A GitHub REST issues API on loopback, after GitHub's public REST docs:

- `GET /repos/{owner}/{repo}/issues`: issues *and* pull requests (those carry `pull_request`),
  `state` open (the default) / closed / all, `labels` (comma-separated, all must be on the
  issue), `since` (updated at or after), `sort` created (default) / updated / comments,
  `direction` desc (default) / asc, `per_page` (default 30, at most 100: more is cut to 100) and
  `page`; the next page in a `Link` header (rel="next", "last", "prev", "first").
- `GET /repos/{owner}/{repo}/issues/{issue_number}`.
- `GET /search/issues?q=…`: qualifiers separated by spaces, all of which must hold (no OR):
  `repo:o/r`, `is:issue` / `is:pr`, `is:open` / `is:closed`, `state:open|closed`,
  `label:NAME` (any number, each must be on the issue), `author:LOGIN`, `created:` / `updated:`
  / `comments:` with `>`, `>=`, `<`, `<=` or `a..b`; a `-` before a qualifier negates it;
  values with spaces in double quotes (no escape for a quote inside). Labels and logins match
  case-insensitively, as GitHub's do. `sort` / `order`, `per_page` / `page`, and only the first
  `cap` results (1,000 at GitHub) can be paged to. Answers `{total_count, incomplete_results,
  items}` with the same `Link` header.

The stub is the ground truth the tests brute-force.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from typing import Any
from urllib.parse import urlencode

from saasbridge.local.httpstub import StubReply, StubRequest, reply

TOKEN = "ghp_githubTestToken0123456789"
LABELS = ("bug", "enhancement", "good first issue", "docs", "Won't fix")
LOGINS = ("octocat", "hubot", "Mona", "defunkt")
API = "https://api.github.com"


def make_repo(owner: str, repo: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` issues and pull requests of one repository, newest number last."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
    out = []
    for number in range(1, n + 1):
        created = start + dt.timedelta(seconds=rng.randrange(0, 500 * 86400))
        updated = created + dt.timedelta(seconds=rng.randrange(0, 60 * 86400))
        closed = rng.random() < 0.4
        login = rng.choice(LOGINS)
        labels = sorted(rng.sample(LABELS, rng.randrange(0, 3)))
        url = f"{API}/repos/{owner}/{repo}/issues/{number}"
        issue: dict[str, Any] = {
            "id": seed * 100_000 + number, "node_id": f"I_kw{seed}{number:05d}", "url": url,
            "repository_url": f"{API}/repos/{owner}/{repo}", "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments", "events_url": f"{url}/events",
            "html_url": f"https://github.com/{owner}/{repo}/issues/{number}", "number": number,
            "state": "closed" if closed else "open", "state_reason": "completed" if closed else None,
            "title": f"Issue {number}: {rng.choice(['crash', 'typo', 'slow', 'idea'])}",
            "body": None if number % 4 == 0 else f"Body of {number}",
            "user": {"login": login, "id": LOGINS.index(login) + 1, "type": "User", "site_admin": False},
            "labels": [{"id": LABELS.index(name) + 1, "name": name, "color": "d73a4a", "default": False}
                       for name in labels],
            "assignee": None, "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
            "comments": rng.randrange(0, 30),
            "closed_at": _iso(updated) if closed else None, "created_at": _iso(created), "updated_at": _iso(updated),
            "author_association": "MEMBER",
        }
        if number % 5 == 0:  # a pull request: the issues list returns them too
            issue["pull_request"] = {"url": f"{API}/repos/{owner}/{repo}/pulls/{number}", "merged_at": None}
        out.append(issue)
    return out


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time as GitHub takes it (a date is its midnight UTC)."""
    if len(text) == 10:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class GitHub:
    """The API's state and its request handler (`StubServer(GitHub(...))`)."""

    def __init__(self, issues: int = 230, *, cap: int = 1000, seed: int = 3):
        self.repos = {("octo", "app"): make_repo("octo", "app", issues, seed),
                      ("octo", "lib"): make_repo("octo", "lib", 12, seed + 1)}
        self.cap = cap

    def __call__(self, request: StubRequest) -> StubReply:
        if request.headers.get("authorization") not in (f"Bearer {TOKEN}", f"token {TOKEN}"):
            return reply({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401)
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts == ["search", "issues"]:
            return self._search(request)
        if request.method == "GET" and len(parts) in (4, 5) and parts[0] == "repos" and parts[3] == "issues":
            issues = self.repos.get((parts[1], parts[2]))
            if issues is not None and len(parts) == 4:
                return self._list(request, issues)
            found = [i for i in issues or [] if len(parts) == 5 and str(i["number"]) == parts[4]]
            if found:
                return reply(found[0])
        return reply({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404)

    def issues(self, owner: str = "octo", repo: str = "app") -> list[dict[str, Any]]:
        return self.repos[(owner, repo)]

    # ---- the repository's issue list ------------------------------------------------------

    def _list(self, request: StubRequest, issues: list[dict[str, Any]]) -> StubReply:
        q = request.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _invalid("state", state)
        found = [i for i in issues if state == "all" or i["state"] == state]
        if labels := [x for x in q.get("labels", "").split(",") if x]:
            found = [i for i in found if {x.lower() for x in labels} <= {n["name"].lower() for n in i["labels"]}]
        if "since" in q:
            since = _time(q["since"])
            found = [i for i in found if _time(i["updated_at"]) >= since]
        sort = q.get("sort", "created")
        if sort not in ("created", "updated", "comments"):
            return _invalid("sort", sort)
        key = "comments" if sort == "comments" else f"{sort}_at"
        found.sort(key=lambda i: (i[key], i["number"]), reverse=q.get("direction", "desc") == "desc")
        return self._page(request, found, lambda page, items: items)

    # ---- search ---------------------------------------------------------------------------

    def _search(self, request: StubRequest) -> StubReply:
        try:
            keep = parse_qualifiers(request.query.get("q", ""))
        except ValueError as exc:
            return reply({"message": "Validation Failed", "errors": [{"message": str(exc), "resource": "Search",
                                                                      "field": "q", "code": "invalid"}]}, 422)
        found = [i for (owner, repo), issues in self.repos.items() for i in issues if keep(owner, repo, i)]
        sort, order = request.query.get("sort"), request.query.get("order", "desc")
        if sort in ("created", "updated", "comments"):
            key = "comments" if sort == "comments" else f"{sort}_at"
            found.sort(key=lambda i: (i[key], i["id"]), reverse=order == "desc")
        else:  # "best match": an order of its own, not the list's
            found.sort(key=lambda i: (i["comments"], i["id"]))
        return self._page(request, found, lambda page, items: {
            "total_count": len(found), "incomplete_results": False, "items": items}, cap=self.cap)

    def _page(self, request: StubRequest, found: list, body: Any, cap: int | None = None) -> StubReply:
        q = request.query
        per_page = min(int(q.get("per_page", "30")), 100)  # GitHub cuts larger pages to 100
        page = int(q.get("page", "1"))
        if per_page < 1 or page < 1:
            return _invalid("page", q.get("page", ""))
        reachable = len(found) if cap is None else min(len(found), cap)
        if cap is not None and (page - 1) * per_page >= cap:
            return reply({"message": f"Only the first {cap} search results are available"}, 422)
        items = found[(page - 1) * per_page : min(page * per_page, reachable)]
        last = max(1, math.ceil(reachable / per_page))
        links = []
        host = request.headers.get("host", "")
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if 1 <= number <= last and (rel in ("prev", "next") or page != number):
                query = urlencode({**q, "page": str(number)})
                links.append(f'<http://{host}{request.path}?{query}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return reply(body(page, items), **headers)


_QUALIFIER = re.compile(r'(-?)([a-z_]+):("[^"]*"|\S+)|(\S+)')
_RANGE = re.compile(r"^(>=|<=|>|<)?(.+)$")


def parse_qualifiers(q: str):
    """`q` → keep(owner, repo, issue): every qualifier must hold."""
    tests = []
    for negate, name, raw, bare in _QUALIFIER.findall(q):
        if bare:
            raise ValueError(f"free text {bare!r} is not supported by this stub")
        value = raw[1:-1] if raw.startswith('"') else raw
        if '"' in value:
            raise ValueError(f"a quote inside {raw!r}")
        test = _qualifier(name, value)
        tests.append((lambda t: lambda o, r, i: not t(o, r, i))(test) if negate else test)
    return lambda owner, repo, issue: all(t(owner, repo, issue) for t in tests)


def _qualifier(name: str, value: str):
    low = value.lower()
    if name == "repo":
        return lambda o, r, i: f"{o}/{r}".lower() == low
    if name == "is" and low in ("issue", "pr"):
        return lambda o, r, i: ("pull_request" in i) == (low == "pr")
    if name == "is" and low in ("open", "closed") or name == "state":
        if low not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {value!r}")
        return lambda o, r, i: i["state"] == low
    if name == "label":
        return lambda o, r, i: any(n["name"].lower() == low for n in i["labels"])
    if name == "author":
        return lambda o, r, i: (i["user"] or {}).get("login", "").lower() == low
    if name in ("created", "updated", "comments"):
        return _range(name, value)
    raise ValueError(f"unknown qualifier {name}:{value}")


def _range(name: str, value: str):
    def typed(text: str) -> Any:
        return int(text) if name == "comments" else _time(text)

    def get(i: dict) -> Any:
        return i["comments"] if name == "comments" else _time(i[f"{name}_at"])

    if ".." in value:
        low, high = (typed(x) for x in value.split("..", 1))
        return lambda o, r, i: low <= get(i) <= high
    op, text = _RANGE.match(value).groups()  # type: ignore[union-attr]
    bound = typed(text)
    compare = {">": lambda a: a > bound, ">=": lambda a: a >= bound, "<": lambda a: a < bound,
               "<=": lambda a: a <= bound, None: lambda a: a == bound}[op]
    return lambda o, r, i: compare(get(i))


def _invalid(field: str, value: str) -> StubReply:
    return reply({"message": "Validation Failed", "errors": [{"resource": "Issue", "field": field, "code": "invalid",
                                                               "value": value}]}, 422)
