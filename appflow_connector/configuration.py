"""DescribeConnectorConfiguration, ValidateCredentials, ValidateConnectorRuntimeSettings."""

from __future__ import annotations

from urllib.parse import urljoin

import urllib3
from custom_connector_sdk.connector import auth as sdk_auth
from custom_connector_sdk.connector import configuration as sdk_conf
from custom_connector_sdk.connector import settings as sdk_settings
from custom_connector_sdk.connector.fields import WriteOperationType
from custom_connector_sdk.lambda_handler import requests as rq
from custom_connector_sdk.lambda_handler import responses as r
from custom_connector_sdk.lambda_handler.handlers import ConfigurationHandler

from appflow_connector import session
from appflow_connector.errors import error_details
from saasbridge.catalog.model import Catalog
from saasbridge.version import __version__

CONNECTOR_OWNER = "saasbridge"
_FILTER_OPERATORS = ("PROJECTION", "LESS_THAN", "GREATER_THAN", "BETWEEN", "LESS_THAN_OR_EQUAL_TO",
                     "GREATER_THAN_OR_EQUAL_TO", "EQUAL_TO", "CONTAINS", "NOT_EQUAL_TO", "NO_OP")  # fmt: skip
# Applied by AppFlow itself to mapped fields; the connector never sees them.
_APPFLOW_SIDE_OPERATORS = ("MASK_ALL", "MASK_FIRST_N", "MASK_LAST_N", "VALIDATE_NON_NULL", "VALIDATE_NON_ZERO",
                           "VALIDATE_NON_NEGATIVE", "VALIDATE_NUMERIC")  # fmt: skip
WRITE_OPS = {"insert": "INSERT", "update": "UPDATE", "upsert": "UPSERT", "delete": "DELETE"}
PROBE_TIMEOUT = 4.0  # seconds; AppFlow allows 10 s for a validation call


def write_operations(cat: Catalog) -> list[str]:
    ops = {w.op for e in cat.entities for w in e.writes}
    return [name for op, name in WRITE_OPS.items() if op in ops]


def _authentication(cat: Catalog) -> tuple[sdk_auth.AuthenticationConfig, dict | None]:
    """The SDK AuthenticationConfig and, for OAuth2, the oAuth2Defaults dict in the Java spelling
    (SDK 1.0.5 mis-serializes some OAuth2 fields, so that part is built by hand)."""
    a = cat.auth
    if a.type == "basic":
        return sdk_auth.AuthenticationConfig(is_basic_auth_supported=True), None
    if a.type in ("api_key", "bearer"):
        return sdk_auth.AuthenticationConfig(is_api_key_auth_supported=True), None
    if a.type in ("oauth2_client_credentials", "oauth2_authorization_code"):
        token_url = urljoin(cat.base_url.rstrip("/") + "/", (a.token_url or "/oauth/token").lstrip("/"))
        code = a.type == "oauth2_authorization_code"  # AppFlow runs the consent, stores and refreshes tokens
        defaults = {
            "oAuthScopes": list(a.scopes),
            "tokenURL": [token_url],
            "authURL": [a.auth_url] if code else [],
            "oAuth2GrantTypesSupported": ["AUTHORIZATION_CODE" if code else "CLIENT_CREDENTIALS"],
            "oAuth2ContentType": "URL_ENCODED",
            "oAuth2MethodType": "HTTP_POST",
            "addBasicAuthHeader": False,
            "oauth2CustomProperties": None,
        }
        return sdk_auth.AuthenticationConfig(is_oauth_2_supported=True), defaults
    # "none": AppFlow still needs a profile; a custom scheme with no required parameter.
    custom = sdk_auth.CustomAuthConfig(
        "none", [sdk_auth.AuthParameter("note", False, "Note", "This API needs no credentials", False, None)]
    )
    return sdk_auth.AuthenticationConfig(is_custom_auth_supported=True, custom_auth_config=[custom]), None


def _runtime_settings(cat: Catalog) -> list[sdk_settings.ConnectorRuntimeSetting]:
    S = sdk_settings
    return [
        S.ConnectorRuntimeSetting(
            session.INSTANCE_URL, S.ConnectorRuntimeSettingDataType.String, False, "API base URL",
            f"Base URL of the {cat.title or cat.name} API; default {cat.base_url}",
            S.ConnectorRuntimeSettingScope.CONNECTOR_PROFILE,
        ),
        S.ConnectorRuntimeSetting(
            session.PAGE_SIZE, S.ConnectorRuntimeSettingDataType.Integer, False, "Page size",
            "Records per API request (default: the API's default page size)",
            S.ConnectorRuntimeSettingScope.SOURCE_AND_DESTINATION,
        ),
    ]  # fmt: skip


def configuration_response(cat: Catalog, details: r.ErrorDetails | None = None) -> dict:
    auth_config, oauth_defaults = _authentication(cat)
    writes = write_operations(cat)
    modes = [sdk_conf.ConnectorModes.SOURCE] + ([sdk_conf.ConnectorModes.DESTINATION] if writes else [])
    response = r.DescribeConnectorConfigurationResponse(
        connector_owner=CONNECTOR_OWNER,
        connector_name=cat.name,
        connector_version=__version__,
        connector_modes=modes,
        supported_api_versions=list(cat.api_versions),
        is_success=details is None,
        operators_supported=[
            sdk_conf.ConnectorOperator[o] for o in _FILTER_OPERATORS + _APPFLOW_SIDE_OPERATORS
        ],
        supported_write_operations=[WriteOperationType[w] for w in writes],
        authentication_config=auth_config,
        connector_runtime_setting=_runtime_settings(cat),
        error_details=details,
    )
    out = response.to_dict()
    if oauth_defaults is not None:
        out["authenticationConfig"]["oAuth2Defaults"] = oauth_defaults
    return out


def configuration_error_response(details: r.ErrorDetails) -> dict:
    """The failure shape of DescribeConnectorConfiguration, even when the catalog cannot be loaded."""
    try:
        return configuration_response(session.catalog(), details)
    except Exception:
        return r.DescribeConnectorConfigurationResponse(
            CONNECTOR_OWNER, "saasbridge", __version__, [sdk_conf.ConnectorModes.SOURCE], [], False,
            supported_write_operations=[], authentication_config=sdk_auth.AuthenticationConfig(),
            error_details=details,
        ).to_dict()  # fmt: skip


def probe_api(cat: Catalog, settings: dict | None, secret_arn: str | None) -> None:
    """One cheap authenticated request (first page of one record of the first entity)."""
    session.client_for(cat, secret_arn).probe()


class SaasBridgeConfigurationHandler(ConfigurationHandler):
    def describe_connector_configuration(self, request: rq.DescribeConnectorConfigurationRequest):
        return _Dict(configuration_response(session.catalog()))

    def validate_credentials(self, request: rq.ValidateCredentialsRequest):
        try:
            cat = session.catalog_for(request.connector_runtime_settings)
            probe_api(
                cat,
                request.connector_runtime_settings,
                request.credentials and request.credentials.secret_arn,
            )
        except Exception as exc:
            return r.ValidateCredentialsResponse(False, error_details(exc))
        return r.ValidateCredentialsResponse(True)

    def validate_connector_runtime_settings(self, request: rq.ValidateConnectorRuntimeSettingsRequest):
        settings = request.connector_runtime_settings or {}
        cat = session.catalog()
        errors: dict[str, str] = {}
        url = settings.get(session.INSTANCE_URL)
        if url:
            problem = session.check_base_url(url)
            if problem is None:
                problem = _reachability(url, cat)
            if problem:
                errors[session.INSTANCE_URL] = problem
        if settings.get(session.PAGE_SIZE) not in (None, ""):
            maximum = max(cat.pagination_for(e).max_page_size for e in cat.entities)
            problem = session.check_page_size(settings[session.PAGE_SIZE], maximum)
            if problem:
                errors[session.PAGE_SIZE] = problem
        if errors:
            details = r.ErrorDetails(
                r.ErrorCode.InvalidArgument, f"{len(errors)} runtime setting(s) are invalid"
            )
            return r.ValidateConnectorRuntimeSettingsResponse(False, errors, details)
        return r.ValidateConnectorRuntimeSettingsResponse(True)


def _reachability(url: str, cat: Catalog) -> str | None:
    """Whether an HTTP server answers at the base URL (any status counts: credentials come later)."""
    from saasbridge.client.client import probe_entity, probe_request

    path, params = probe_request(cat, probe_entity(cat))
    try:
        urllib3.request("GET", url.rstrip("/") + path, fields=params, timeout=PROBE_TIMEOUT, retries=False,
                        redirect=False)
    except urllib3.exceptions.HTTPError as exc:
        return f"no API answers at {url} ({type(exc).__name__}); check the URL and network access"
    return None


class _Dict(dict):
    """A ready response dict that the SDK dispatcher can still call `.to_dict()` on."""

    def to_dict(self) -> dict:
        return dict(self)
