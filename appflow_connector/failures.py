"""The failure response of each request type: the SDK response classes, so the shape is exactly the
SDK's, explicit nulls included."""

from __future__ import annotations

from custom_connector_sdk.lambda_handler import responses as r

from appflow_connector.configuration import configuration_error_response


def error_response(event_type: str | None, details: r.ErrorDetails) -> dict:
    """The failure response for `event_type`, with the keys its success response has."""
    if event_type == "DescribeConnectorConfigurationRequest":
        return configuration_error_response(details)
    builders = {
        "ValidateCredentialsRequest": lambda: r.ValidateCredentialsResponse(False, details),
        "ValidateConnectorRuntimeSettingsRequest": lambda: r.ValidateConnectorRuntimeSettingsResponse(
            False, None, details
        ),
        "ListEntitiesRequest": lambda: r.ListEntitiesResponse(False, details),
        "DescribeEntityRequest": lambda: r.DescribeEntityResponse(False, details),
        "QueryDataRequest": lambda: r.QueryDataResponse(False, details),
        "RetrieveDataRequest": lambda: r.RetrieveDataResponse(False, details),
        "WriteDataRequest": lambda: r.WriteDataResponse(False, details),
    }
    build = builders.get(event_type or "")
    if build is None:
        return {"isSuccess": False, "errorDetails": details.to_dict()}
    return build().to_dict()
