"""The sealed scoring API as a scorer: HTTPS POST of each batch to
`<url>/endpoints/<name>/invocations`, with an API key (`x-api-key`) or signed with AWS credentials
(SigV4, IAM auth); 429 and 5xx retried with backoff (urllib3's Retry)."""

from __future__ import annotations

from typing import Any

from saasbridge.sagemaker.inference.base import BatchFailed, Scorer
from saasbridge.sagemaker.inference.payload import CSV, Batch, Prediction

MAX_ATTEMPTS = 8


class ScoringApiScorer(Scorer):
    mode = "scoring-api"

    def __init__(
        self, url: str, *, endpoint: str, model: str | None = None, session: Any = None,
        api_key: str | None = None, content_type: str | None = None, concurrency: int = 4,
    ):  # fmt: skip
        super().__init__()
        import urllib3

        self.endpoint, self.model = endpoint, model or endpoint
        self.content_type = content_type or CSV
        self.concurrency = concurrency
        self._url = f"{url.rstrip('/')}/endpoints/{endpoint}/invocations"
        self._api_key, self._session = api_key, session
        retry = urllib3.Retry(total=MAX_ATTEMPTS - 1, status_forcelist=(429, 500, 502, 503, 504),
                              allowed_methods=None, backoff_factor=0.2, raise_on_status=False)  # fmt: skip
        self._http = urllib3.PoolManager(maxsize=max(1, concurrency), retries=retry, timeout=70.0)

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": self.content_type, "Accept": self.accept_type}
        if self._api_key:
            return {**headers, "x-api-key": self._api_key}
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._session.get_credentials() if self._session else None
        if credentials is None:
            raise BatchFailed("the scoring API needs an API key or AWS credentials to sign with")
        request = AWSRequest("POST", self._url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self._session.region_name or "us-east-1").add_auth(request)
        return dict(request.headers.items())

    def score(self, batch: Batch) -> list[Prediction]:
        import urllib3

        try:
            response = self._http.request("POST", self._url, body=batch.body, headers=self._headers(batch.body))
        except urllib3.exceptions.HTTPError as exc:
            raise BatchFailed(f"the scoring API could not be reached: {type(exc).__name__}") from None
        history = response.retries.history if response.retries else ()
        self.count_retries(len(history))
        if response.status != 200:
            raise BatchFailed(f"the scoring API answered HTTP {response.status}: {_message(response.data)}")
        return self.parse(response.data, response.headers.get("Content-Type"), batch)


def _message(body: bytes) -> str:
    import json

    try:
        value = json.loads(body)
        return f"{value.get('error')}: {value.get('message')}"[:300]
    except (ValueError, AttributeError):
        return " ".join(body.decode(errors="replace").split())[:300]
