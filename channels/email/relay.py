"""Sending a message through the configured SMTP relay with aiosmtplib.

This is the one module that crosses from Twisted to asyncio: :meth:`SmtpRelay.send` is a
Twisted-side coroutine that awaits aiosmtplib through
``Deferred.fromFuture(asyncio.ensure_future(coro))``. That bridge works only under Twisted's
asyncio reactor (the server installs it); :class:`SmtpRelay` checks the reactor when built
and raises :class:`callcenter.runtime.reactor.WrongReactor` otherwise, instead of hanging later.

Failures are sorted for the outbox: :class:`SendFailure` carries ``permanent`` (a 5xx reply
to the sender or every recipient, or to the data) or transient (4xx, connection refused or
lost, time-outs, TLS and authentication problems, which a person can fix while the outbox
keeps retrying).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any, Sequence

import aiosmtplib
from twisted.internet.defer import Deferred

from callcenter.runtime.reactor import require_asyncio_reactor


@dataclass(frozen=True)
class RelayConfig:
    """Where and how to submit mail.

    ``starttls``: upgrade a plain connection with STARTTLS (required, not opportunistic);
    ``implicit_tls``: connect with TLS from the start (port 465). ``username``/``password``:
    AUTH credentials when both are set. ``tls_context``: the TLS settings (default: the
    system's trusted roots, hostname checked). ``timeout``: seconds per network step.
    """

    host: str
    port: int
    starttls: bool = True
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None
    timeout: float = 60.0
    local_hostname: str | None = None


class SendFailure(Exception):
    """A message was not accepted by the relay. ``permanent`` says retrying is pointless;
    ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True)
class SendResult:
    """What the relay answered: its final reply, and the recipients it refused (if some
    were accepted)."""

    response: str
    refused: dict[str, str]


class SmtpRelay:
    """Submits raw messages to one relay. Built on the running asyncio reactor."""

    def __init__(self, config: RelayConfig, reactor: Any = None) -> None:
        require_asyncio_reactor(reactor)
        self.config = config

    async def send(self, raw: bytes, envelope_from: str, recipients: Sequence[str]) -> SendResult:
        """Submit ``raw`` as is from ``envelope_from`` (``""`` for the null sender) to ``recipients``.

        Returns once the relay accepted it for at least one recipient; raises
        :class:`SendFailure` otherwise.
        """
        if not recipients:
            raise SendFailure("no recipients", permanent=True)
        c = self.config
        coro = aiosmtplib.send(
            raw, sender=envelope_from, recipients=list(recipients), hostname=c.host, port=c.port,
            username=c.username if c.username and c.password else None,
            password=c.password if c.username and c.password else None,
            start_tls=True if c.starttls and not c.implicit_tls else False, use_tls=c.implicit_tls,
            tls_context=c.tls_context, timeout=c.timeout, local_hostname=c.local_hostname,
        )
        try:
            errors, response = await Deferred.fromFuture(asyncio.ensure_future(coro))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise SendFailure(f"every recipient refused: {text}", permanent=all(c >= 500 for c in codes),
                              code=codes[0] if codes else None) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendFailure(f"authentication failed: {exc.code} {exc.message}", permanent=False, code=exc.code) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailure(f"{type(exc).__name__}: {exc.code} {exc.message}", permanent=exc.code >= 500,
                              code=exc.code) from exc
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise SendFailure(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        refused = {address: f"{r.code} {r.message}" for address, r in errors.items()}
        return SendResult(response=str(response), refused=refused)
