"""Errors a caller can act on. Each carries a stable `code` that the API returns as JSON."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403


class InvalidInput(DomainError):
    code = "invalid"
    status = 400


class Conflict(DomainError):
    code = "conflict"
    status = 409


class RecipientOptedOut(DomainError):
    """The customer texted STOP on this number: nothing may be sent to it until START."""

    code = "recipient_opted_out"
    status = 409


class NoReplyChannel(DomainError):
    code = "no_reply_channel"
    status = 409


class ReplyWindowClosed(DomainError):
    """The channel takes no free-form reply now (WhatsApp: more than 24 hours since the
    customer last wrote); only an approved template can be sent."""

    code = "reply_window_closed"
    status = 409


class ProviderUnavailable(DomainError):
    """A provider we had to ask (Twilio's Content API) did not answer usefully; try again."""

    code = "provider_unavailable"
    status = 502
