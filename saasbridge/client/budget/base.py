"""The interface every rate-budget backend offers the client's RateLimiter."""

from __future__ import annotations

from collections.abc import Mapping


class Budget:
    """Hands out request tokens. The in-process bucket implements only the token methods; a shared
    backend also keeps request quotas and per-query accounting (the defaults here do nothing)."""

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Take a token; return the seconds to wait before using it. With `max_wait`, take
        nothing and return None when the wait would be longer."""
        raise NotImplementedError

    def cap(self, tokens: float) -> None:
        """Hold at most `tokens` now (the API says this is all that is left)."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """No token before `seconds` from now (the API asked us to wait)."""
        raise NotImplementedError

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the API's own quota headers from a response."""

    def admit_scan(self) -> None:
        """Raise QuotaExhaustedError when a new scan must not start (its quota is nearly spent)."""

    def record_usage(self, kind: str, run_id: str, counts: Mapping[str, int | float]) -> None:
        """Add one invocation's requests, retries and 429s to the record of a query or flow run."""

    def close(self) -> None:
        """Give back what this process holds and has not used."""
