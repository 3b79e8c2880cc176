"""The SaaS HTTP client: auth, pagination, retries, rate budget, deadlines, stats."""

from saasbridge.client.client import Page, SaasClient, WriteResult
from saasbridge.client.credentials import Credentials, credentials_from_env, credentials_from_secret
from saasbridge.client.deadline import Deadline
from saasbridge.client.http import Response, Transport
from saasbridge.client.stats import ClientStats

__all__ = [
    "ClientStats",
    "Credentials",
    "Deadline",
    "Page",
    "Response",
    "SaasClient",
    "Transport",
    "WriteResult",
    "credentials_from_env",
    "credentials_from_secret",
]
