"""AWS sessions as SaaS platforms configure them, for the SageMaker side (model log, inference).

One entry point: `aws_session(AwsAccess(...))` returns a `boto3.Session`. The options, all optional:

- nothing: boto3's default chain (environment, shared config, container or instance role);
- `access_key_id` + `secret_access_key` (+ `session_token`): static keys;
- `role_arn` + `web_identity_token_file`: AssumeRoleWithWebIdentity with the token file (the EKS
  service-account pattern); the token is re-read on every refresh;
- `role_arn` alone: AssumeRole from the base credentials (static keys or the default chain), with
  `external_id` when the customer's trust policy asks for one (cross-account);
- `group` + `group_roles`: the role is the one mapped to the SaaS user group, so each model owner
  works with the access level of their group; an unmapped group is an error, never a fallback;
- `region`.

Assumed-role credentials refresh themselves before they expire. `AwsAccess.from_env` reads the
same options from `SAASBRIDGE_AWS_*` variables (and the standard `AWS_ROLE_ARN` /
`AWS_WEB_IDENTITY_TOKEN_FILE`). Secrets (secret key, session token, the token file's content,
the external id) are never in a repr, a log line or an error message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saasbridge.errors import ConfigError

DEFAULT_SESSION_NAME = "saasbridge"


@dataclass(frozen=True)
class AwsAccess:
    """How to reach the customer's AWS account. Secret fields are left out of the repr."""

    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    web_identity_token_file: str | None = None
    external_id: str | None = field(default=None, repr=False)
    session_name: str = DEFAULT_SESSION_NAME
    group: str | None = None
    group_roles: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> AwsAccess:
        """Options from the environment; keyword arguments that are not None take precedence.

        `SAASBRIDGE_AWS_REGION` (else `AWS_REGION`/`AWS_DEFAULT_REGION`), `SAASBRIDGE_AWS_ACCESS_KEY_ID`,
        `SAASBRIDGE_AWS_SECRET_ACCESS_KEY`, `SAASBRIDGE_AWS_SESSION_TOKEN`, `SAASBRIDGE_AWS_ROLE_ARN`
        (else `AWS_ROLE_ARN`), `SAASBRIDGE_AWS_WEB_IDENTITY_TOKEN_FILE` (else
        `AWS_WEB_IDENTITY_TOKEN_FILE`), `SAASBRIDGE_AWS_EXTERNAL_ID`, `SAASBRIDGE_AWS_GROUP`,
        `SAASBRIDGE_AWS_GROUP_ROLES` (a JSON object: group → role ARN), `AWS_PROFILE`."""

        def pick(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        values: dict[str, Any] = {
            "region": pick("SAASBRIDGE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
            "access_key_id": pick("SAASBRIDGE_AWS_ACCESS_KEY_ID"),
            "secret_access_key": pick("SAASBRIDGE_AWS_SECRET_ACCESS_KEY"),
            "session_token": pick("SAASBRIDGE_AWS_SESSION_TOKEN"),
            "role_arn": pick("SAASBRIDGE_AWS_ROLE_ARN", "AWS_ROLE_ARN"),
            "web_identity_token_file": pick("SAASBRIDGE_AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE"),
            "external_id": pick("SAASBRIDGE_AWS_EXTERNAL_ID"),
            "group": pick("SAASBRIDGE_AWS_GROUP"),
            "group_roles": parse_group_roles(pick("SAASBRIDGE_AWS_GROUP_ROLES")),
            "profile": pick("AWS_PROFILE"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def effective_role(self) -> str | None:
        """The role to assume: the group's mapped role when a group is given, else `role_arn`."""
        if self.group is None:
            return self.role_arn
        role = self.group_roles.get(self.group)
        if role is None:
            known = ", ".join(sorted(self.group_roles)) or "none"
            raise ConfigError(
                f"SaaS group {self.group!r} has no AWS role mapped; mapped groups: {known} "
                "(set SAASBRIDGE_AWS_GROUP_ROLES or --group-roles)"
            )
        return role

    def describe(self) -> str:
        """How the session gets its credentials, without any secret (for logs and errors)."""
        role = self.effective_role()
        if role and self.web_identity_token_file:
            how = f"web identity token file {self.web_identity_token_file} → role {role}"
        elif role:
            how = f"assume role {role}" + (" with external id" if self.external_id else "")
        elif self.access_key_id:
            how = f"static key {self.access_key_id[:4]}…"
        else:
            how = "the default AWS credential chain"
        return how + (f", region {self.region}" if self.region else "")


_PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
_ROLE_PATH_AND_NAME = re.compile(r"role/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}")
ROLE_ARN_FORM = "arn:aws:iam::123456789012:role/NAME"


def check_role_arn(arn: str, what: str = "--role-arn") -> str:
    """`arn` when it is an IAM role ARN; else ConfigError naming the part that is wrong."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ConfigError(f"{what} {arn!r}: not an ARN; expected {ROLE_ARN_FORM}")
    _, partition, service, region, account, resource = parts
    problem = (
        f"the partition {partition!r} is not an AWS partition ({', '.join(_PARTITIONS[:3])}, …)"
        if partition not in _PARTITIONS
        else f"the service is {service!r}, a role ARN's is 'iam'" if service != "iam"
        else f"the region part must be empty for IAM (found {region!r})" if region
        else f"the account {account!r} is not 12 digits" if not re.fullmatch(r"\d{12}", account)
        else f"the resource {resource!r} is not role/NAME (a role name: letters, digits and +=,.@_-, at most 64)"
        if not _ROLE_PATH_AND_NAME.fullmatch(resource)
        else None
    )  # fmt: skip
    if problem:
        raise ConfigError(f"{what} {arn!r}: {problem}; expected {ROLE_ARN_FORM}")
    return arn


def parse_group_roles(text: str | None) -> dict[str, str]:
    """`{"group": "arn:aws:iam::…:role/…"}` (JSON) or `group=arn,group=arn` into a mapping."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"group roles: invalid JSON ({exc.msg}); expected {{\"group\": \"role ARN\"}}") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError('group roles: expected a JSON object {"group": "role ARN"}')
        return {str(k): v for k, v in value.items()}
    pairs = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        group, sep, role = item.partition("=")
        if not sep or not group or not role:
            raise ConfigError(f"group roles: {item!r} is not GROUP=ROLE_ARN")
        pairs[group.strip()] = role.strip()
    return pairs


def aws_session(access: AwsAccess | None = None) -> Any:
    """A `boto3.Session` for `access` (the default chain when None)."""
    import boto3
    import botocore.session

    access = access or AwsAccess()
    if access.access_key_id and not access.secret_access_key:
        raise ConfigError("an AWS access key id needs its secret access key (SAASBRIDGE_AWS_SECRET_ACCESS_KEY)")
    base = botocore.session.Session(profile=access.profile)
    if access.profile and access.profile not in base.available_profiles:
        raise ConfigError(f"AWS profile {access.profile!r} is not in the shared AWS config files "
                          f"(profiles: {', '.join(sorted(base.available_profiles)) or 'none'}); check --profile/AWS_PROFILE")
    if access.region:
        base.set_config_variable("region", access.region)
    if access.access_key_id:
        base.set_credentials(access.access_key_id, access.secret_access_key, access.session_token)
    role = access.effective_role()
    if role is None:
        return boto3.Session(botocore_session=base)
    check_role_arn(role, "--role-arn" if role == access.role_arn else f"the role of group {access.group!r}")

    assumed = botocore.session.Session(profile=access.profile)
    if access.region:
        assumed.set_config_variable("region", access.region)
    credentials = _assumed_role_credentials(base, access, role)
    assumed.register_component("credential_provider", _Fixed(credentials))
    return boto3.Session(botocore_session=assumed)


def _assumed_role_credentials(base: Any, access: AwsAccess, role: str) -> Any:
    """Refreshable credentials for `role`, fetched (and re-fetched) with botocore's own fetchers."""
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        AssumeRoleWithWebIdentityCredentialFetcher,
        DeferredRefreshableCredentials,
    )
    from botocore.utils import FileWebIdentityTokenLoader

    extra: dict[str, Any] = {"RoleSessionName": access.session_name}
    if access.web_identity_token_file:
        fetcher: Any = AssumeRoleWithWebIdentityCredentialFetcher(
            base.create_client,
            FileWebIdentityTokenLoader(access.web_identity_token_file),
            role,
            extra_args=extra,
        )
        method = "assume-role-with-web-identity"
    else:
        if access.external_id:
            extra["ExternalId"] = access.external_id
        source = base.get_credentials()
        if source is None:
            raise ConfigError(f"no AWS credentials to assume {role} from; {_CHAIN_HINT}")
        fetcher = AssumeRoleCredentialFetcher(base.create_client, source, role, extra_args=extra)
        method = "assume-role"
    return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method=method)


_CHAIN_HINT = "set static keys, a web identity token file or the standard AWS variables"


class _Fixed:
    """A credential resolver that always answers with the given (refreshable) credentials."""

    def __init__(self, credentials: Any):
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials
