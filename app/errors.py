"""Domain errors raised by services; one handler maps each to an HTTP status and code."""

from __future__ import annotations


class DomainError(Exception):
    """A failure a caller can act on, with an API error code and HTTP status."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    code, status = "validation_error", 422


class NotFound(DomainError):
    code, status = "not_found", 404


class UnknownPackage(DomainError):
    code, status = "unknown_package", 404


class Forbidden(DomainError):
    code, status = "forbidden", 403


class Unauthenticated(DomainError):
    code, status = "unauthenticated", 401


class LedgerConflict(DomainError):
    code, status = "conflict", 409


class InsufficientCredits(DomainError):
    code, status = "insufficient_credits", 402


class StripeUnavailable(DomainError):
    code, status = "stripe_unavailable", 502


class SignatureInvalid(DomainError):
    code, status = "bad_request", 400


class IllegalTransition(DomainError):
    """A status change the purchase state machine does not allow; nothing is written."""

    code, status = "conflict", 409


class StripeRefused(DomainError):
    """Stripe answered that the request cannot be done (a refund of more than is left)."""

    code, status = "conflict", 409


class Retryable(StripeUnavailable):
    """A transient failure: the same work is expected to succeed when tried again."""
