"""Typed errors. Each carries a one-line message meant for a person: what is wrong and
what to do. Nothing here ever needs a traceback to be understood."""

from __future__ import annotations


class SignalDeskError(Exception):
    """Base class: ``str(err)`` is the one line shown to a user."""


class ConfigError(SignalDeskError):
    """A setting is missing or invalid."""


class FetchError(SignalDeskError):
    """A feed or page could not be fetched.

    ``status`` is the HTTP status when there was one; ``retry_after`` the seconds a
    server asked us to wait (429/503)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class BlockedAddressError(FetchError):
    """The URL points at an address we refuse (private, loopback, …) or a bad scheme."""


class TooLargeError(FetchError):
    """The response exceeded the size cap."""


class ParseError(SignalDeskError):
    """The bytes are not a feed we can read."""


class ExtractError(SignalDeskError):
    """No article text could be extracted."""


class QueryError(SignalDeskError):
    """A full-text query is not valid."""


class StorageError(SignalDeskError):
    """The database cannot be opened or written (locked, read-only, full, corrupt)."""


class DeliveryError(SignalDeskError):
    """A platform refused a post. ``retryable`` says whether to try again later;
    ``retry_after`` is the platform's own hint in seconds; ``maybe_sent`` that the
    answer was lost (timeout, dropped connection, 5xx), so the message may have landed
    all the same: the outbox looks it up before sending it again."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class CannotPost(DeliveryError):
    """The bot cannot post in this channel until someone there acts: it is not a
    member, lacks a permission, the channel is archived or gone, or the install was
    revoked. Not retried on a timer: the channel's deliveries are held (paused) with
    ``reason`` shown to its admins, and resumed, held posts and all, once the bot can
    post again. ``reason`` is one line saying what is wrong and what to do."""

    def __init__(self, reason: str, *, code: str | None = None):
        super().__init__(reason, retryable=False)
        self.reason = reason
        self.code = code
