"""The connector profile's credentials: AppFlow keeps them in a Secrets Manager secret and sends
only its ARN. Locally the runner plays that part: it creates (or updates) the secret from the
`SAASBRIDGE_*` credential variables on whatever Secrets Manager boto3 reaches (the moto server via
`AWS_ENDPOINT_URL`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from saasbridge.errors import ConfigError, aws_error_code

DEFAULT_PROFILE = "local"
# AppFlow's secret naming: appflow!<account>-<connector label>-<profile>.
SECRET_NAME = "appflow!000000000000-saasbridge-{profile}"


def authentication_type(configuration: Mapping) -> str:
    """The event spelling of the first authentication scheme the connector configuration supports."""
    auth = configuration.get("authenticationConfig") or {}
    for key, name in (
        ("isApiKeyAuthSupported", "ApiKey"),
        ("isBasicAuthSupported", "BasicAuth"),
        ("isOAuth2Supported", "OAuth2"),
        ("isCustomAuthSupported", "CustomAuth"),
    ):
        if auth.get(key):
            return name
    raise ConfigError("the connector configuration supports no authentication scheme")


def secret_values(auth_type: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The SecretString keys AppFlow stores for `auth_type`, from the local environment."""
    from saasbridge.client.credentials import credentials_from_env

    creds = dict(credentials_from_env(os.environ if env is None else env))
    if auth_type == "CustomAuth":
        return {"customAuthenticationType": "none", **creds}
    if not creds:
        raise ConfigError(
            "no API credentials: set SAASBRIDGE_API_KEY (or SAASBRIDGE_USERNAME/SAASBRIDGE_PASSWORD, "
            "SAASBRIDGE_CLIENT_ID/SAASBRIDGE_CLIENT_SECRET), or pass --secret-arn"
        )
    return creds


def ensure_secret(name: str, values: Mapping[str, str], *, client=None) -> tuple[str, bool]:
    """Create or update the secret `name`; returns (ARN, whether it was created or changed)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    text = json.dumps(dict(values), sort_keys=True)
    try:
        client = client or boto3.client("secretsmanager")
        try:
            current = client.get_secret_value(SecretId=name)
        except client.exceptions.ResourceNotFoundException:
            try:
                return client.create_secret(Name=name, SecretString=text)["ARN"], True
            except client.exceptions.ResourceExistsException:
                # Another run created it between our read and our create: update it like any other.
                current = client.get_secret_value(SecretId=name)
        if current.get("SecretString") == text:
            return current["ARN"], False
        client.put_secret_value(SecretId=name, SecretString=text)
        return current["ARN"], True
    except (ClientError, BotoCoreError) as exc:
        code = aws_error_code(exc)
        raise ConfigError(
            f"cannot create or update secret {name!r} ({code}); check AWS credentials/region or "
            "AWS_ENDPOINT_URL (the moto server locally), or pass --secret-arn"
        ) from None
