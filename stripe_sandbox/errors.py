"""Stripe's error JSON and the status codes the SDK maps to its exceptions."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answered as `{"error": {...}}`; `commit` keeps the changes made before it."""

    status = 400
    type = "invalid_request_error"
    commit = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        self.extra = extra

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """Return the JSON body Stripe sends for this error."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


class InvalidRequest(StripeError):
    """400 (or 404) invalid_request_error: the SDK raises InvalidRequestError."""


class NotFound(InvalidRequest):
    """404 resource_missing for the object named in the URL."""

    status = 404

    def __init__(self, kind: str, object_id: str, param: str = "id") -> None:
        super().__init__(f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


class Missing(InvalidRequest):
    """400 resource_missing for an object named in a parameter."""

    def __init__(self, kind: str, object_id: str, param: str) -> None:
        super().__init__(f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


class AuthenticationFailed(StripeError):
    """401: the SDK raises AuthenticationError."""

    status = 401


class IdempotencyConflict(StripeError):
    """400 idempotency_error: the SDK raises IdempotencyError."""

    type = "idempotency_error"


class CardDeclined(StripeError):
    """402 card_error: the SDK raises CardError; the failed attempt itself is kept."""

    status = 402
    type = "card_error"
    commit = True
