"""Errors of the simulated fleet; :class:`ApiError` renders as a Kubernetes ``Status``."""

from __future__ import annotations

from typing import Any

from shared.errors import ExternalError, InvalidInput, RippleError


class FleetError(RippleError):
    """The simulated fleet failed to start, stop or change."""


class FleetConfigError(InvalidInput):
    """A fleet definition (cluster list, fleet.yaml) is not acceptable."""


class FleetUnavailable(ExternalError):
    """A fleet subprocess did not become ready, or its hooks did not answer."""


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """A request failure with the code, reason and message the real API server uses."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = _REASONS.get(code, "Unknown") if reason is None else reason
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # omitted when unknown, as the real Status
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    # -- constructors named after the Kubernetes reasons ---------------------------------
    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, message, "BadRequest")

    @classmethod
    def not_found(cls, resource: str, name: str, group: str = "") -> ApiError:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource.split(".", 1)[0]
        return cls(404, f'{resource} "{name}" not found', "NotFound", details)

    @classmethod
    def no_route(cls) -> ApiError:
        return cls(404, "the server could not find the requested resource", "NotFound", {})

    @classmethod
    def already_exists(cls, resource: str, name: str, group: str = "") -> ApiError:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource.split(".", 1)[0]
        return cls(409, f'{resource} "{name}" already exists', "AlreadyExists", details)

    @classmethod
    def conflict(cls, resource: str, name: str, group: str = "") -> ApiError:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = resource.split(".", 1)[0]
        return cls(
            409,
            f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again",
            "Conflict",
            details,
        )

    @classmethod
    def invalid(
        cls,
        kind: str,
        name: str,
        field: str,
        why: str,
        cause: str = "FieldValueInvalid",
        group: str = "",
    ) -> ApiError:
        details: dict[str, Any] = {"name": name}
        if group:
            details["group"] = group
        details["kind"] = kind
        details["causes"] = [{"reason": cause, "message": why, "field": field}]
        return cls(422, f'{kind} "{name}" is invalid: {field}: {why}', "Invalid", details)

    @classmethod
    def unsupported_media(cls, accepted: str) -> ApiError:
        return cls(
            415,
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {accepted}",
            "UnsupportedMediaType",
        )

    @classmethod
    def unsupported_protobuf(cls, api_version: str, kind: str) -> ApiError:
        """A protobuf body of a kind the fleet has no protobuf schema for."""
        group = api_version.rpartition("/")[0]
        what = f"{kind or 'an object without a kind'} ({api_version or 'no apiVersion'})"
        return cls(
            415,
            f"the fleet cannot decode {what} from protobuf: it reads Secret, ConfigMap and "
            "DeleteOptions in application/vnd.kubernetes.protobuf; send this kind as "
            "application/json",
            "UnsupportedMediaType",
            {"group": group, "kind": kind} if group else {"kind": kind},
        )

    @classmethod
    def method_not_allowed(cls, method: str, resource: str) -> ApiError:
        return cls(
            405,
            "the server does not allow this method on the requested resource",
            "MethodNotAllowed",
            {},
        )
