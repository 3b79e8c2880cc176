"""The one-line API error: the message in each vendor's error body (shapes from their public API
docs), through a real client and loopback server, and any JSON body at all without a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.client import Credentials, SaasClient
from saasbridge.client.api_errors import error_message
from saasbridge.errors import ApiError, AuthenticationError, BadRequestError, NotFoundError
from saasbridge.local.httpstub import StubServer, reply, scripted, stub_catalog

SHAPES = [
    ("jira", {"errorMessages": ["The value 'XYZ' does not exist for the field 'project'."],
              "errors": {"summary": "You must specify a summary of the issue."}},
     "The value 'XYZ' does not exist for the field 'project'.; summary: You must specify a summary of the issue."),
    ("jira, field errors only", {"errorMessages": [], "errors": {"customfield_10016": "Number value expected."}},
     "customfield_10016: Number value expected."),
    ("stripe", {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "id",
                          "message": "No such customer: 'cus_123'"}}, "No such customer: 'cus_123'"),
    ("stripe, code only", {"error": {"type": "api_error", "code": "lock_timeout"}}, "lock_timeout"),
    ("hubspot", {"status": "error", "message": "Property values were not valid", "correlationId": "aeb5f871",
                 "category": "VALIDATION_ERROR"}, "VALIDATION_ERROR: Property values were not valid"),
    ("zendesk", {"error": "RecordInvalid", "description": "Record validation errors",
                 "details": {"email": [{"description": "Email is invalid"}]}}, "RecordInvalid: Record validation errors"),
    ("zendesk, error alone", {"error": "Couldn't authenticate you"}, "Couldn't authenticate you"),
    ("oauth2 token endpoint", {"error": "invalid_grant", "error_description": "Refresh token expired"},
     "invalid_grant: Refresh token expired"),
    ("github", {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
                "errors": [{"resource": "Search", "field": "q", "code": "invalid"}]}, "Validation Failed; q invalid"),
    ("salesforce", [{"message": "No such column 'Nmae' on entity 'Account'.", "errorCode": "INVALID_FIELD"}],
     "INVALID_FIELD: No such column 'Nmae' on entity 'Account'."),
    ("problem details", {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "limit must be ≤ 100"},
     "Bad Request; limit must be ≤ 100"),
    ("the reference API", {"error": {"code": "bad_request", "message": "unknown filter 'colour'"}},
     "unknown filter 'colour'"),
    ("a message over lines", {"message": "first line\n  second line"}, "first line second line"),
    ("nothing usable", {"status": 500, "ok": False}, None),
    ("not an object", 42, None),
]


@pytest.mark.parametrize(("body", "expected"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_each_vendors_error_body_reads_as_one_line(body, expected):
    assert error_message(body) == expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["error", "errors", "errorMessages", "message", "category", "description", "detail",
                         "error_description", "title", "code", "errorCode", "field", "x"]), inner, max_size=5),
    max_leaves=20,
)


@given(JSON)
def test_any_json_body_gives_one_line_or_none(body):
    text = error_message(body)
    assert text is None or (text and "\n" not in text and text == text.strip())


@pytest.mark.parametrize(("status", "error", "body", "words"), [
    (400, BadRequestError, {"errorMessages": ["Field 'prio' does not exist"], "errors": {}},
     "was rejected (HTTP 400): Field 'prio' does not exist"),
    (401, AuthenticationError, {"status": "error", "message": "Authentication credentials not found",
                                "category": "INVALID_AUTHENTICATION"},
     "was refused (HTTP 401): INVALID_AUTHENTICATION: Authentication credentials not found; check the credentials"),
    (404, NotFoundError, {"error": "RecordNotFound", "description": "Not found"},
     "was not found (HTTP 404): RecordNotFound: Not found"),
    (422, ApiError, {"message": "Validation Failed", "errors": [{"field": "q", "code": "invalid"}]},
     "failed (HTTP 422): Validation Failed; q invalid"),
])
def test_the_client_raises_the_apis_words_in_one_line(status, error, body, words):
    with StubServer(scripted([reply(body, status)])) as server:
        client = SaasClient(stub_catalog(server.url), Credentials({"apiKey": "sk_secret_value_123"}))
        with pytest.raises(error) as caught:
            client.request("GET", "/v1/things")
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_a_secret_the_api_echoes_in_its_error_is_redacted():
    secret = "sk_secret_value_123"
    body = {"errorMessages": [f"token {secret} is not valid here"]}
    with StubServer(scripted([reply(body, 400)])) as server:
        client = SaasClient(stub_catalog(server.url), Credentials({"apiKey": secret}))
        with pytest.raises(BadRequestError) as caught:
            client.request("GET", "/v1/things")
    assert secret not in str(caught.value) and "is not valid here" in str(caught.value)
