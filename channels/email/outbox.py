"""The outbox sender: a Twisted service that sends due outbox items through the relay.

It owns no storage. The application gives it three coroutines over the durable outbox
(``claim_due() -> items``, ``mark_sent(id)``, ``mark_failed(id, error, permanent)``) and
a sending coroutine (:meth:`channels.email.relay.SmtpRelay.send`). Every ``interval``
seconds, and at once after :meth:`OutboxSenderService.wake`, it claims the due items and
sends them one by one, recording each outcome. Items are leased by the claim, so an item
whose outcome was never recorded (a crash mid-send) is claimed again after the lease: a
message is never lost, at worst sent twice.

Stopping cancels the timer and waits for the round in progress to finish.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from channels.email.relay import SendFailure

log = Logger(namespace="channels.email.outbox")


class OutgoingMail(Protocol):
    """What the sender reads from a claimed outbox item."""

    id: int
    raw: bytes
    envelope_from: str
    recipients: Sequence[str]


Send = Callable[[bytes, str, Sequence[str]], Awaitable[Any]]


class OutboxSenderService(Service):
    """Sends the outbox through ``send`` every ``interval`` seconds (see the module docstring)."""

    def __init__(self, clock: Clock, claim_due: Callable[[], Awaitable[Sequence[OutgoingMail]]],
                 mark_sent: Callable[[int], Awaitable[Any]],
                 mark_failed: Callable[[int, str, bool], Awaitable[Any]], send: Send,
                 interval: float = 30.0) -> None:
        self.setName("email-outbox")
        self._clock = clock
        self._claim_due = claim_due
        self._mark_sent = mark_sent
        self._mark_failed = mark_failed
        self._send = send
        self.interval = interval
        self._timer: Any = None
        self._round: Deferred | None = None
        self._again = False
        self.sent = 0
        self.failed = 0
        # What the last attempt said about the relay: "up" (it answered, even with a refusal),
        # "down" (no SMTP reply at all: unreachable, TLS or connection failure), or "starting".
        self.relay_state = "starting"
        self.relay_detail = ""

    def startService(self) -> None:
        """Start sending: a first round at once, then every ``interval``."""
        super().startService()
        self.wake()

    def stopService(self) -> Deferred:
        """Stop the timer and wait for the round in progress."""
        super().stopService()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        return ensureDeferred(self._wait_round())

    async def _wait_round(self) -> None:
        while self._round is not None:
            waiter: Deferred = Deferred()
            self._round.addBoth(lambda result: (waiter.callback(None), result)[1])
            await waiter

    def wake(self) -> None:
        """Send what is due now (after the current round, if one is running)."""
        if not self.running:
            return
        if self._round is not None:
            self._again = True
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._round = ensureDeferred(self.send_due())
        self._round.addBoth(self._round_done)

    def _round_done(self, result: Any) -> None:
        self._round = None
        if hasattr(result, "getErrorMessage"):
            log.failure("outbox round failed; retrying at the next interval", result)
        if not self.running:
            return
        if self._again:
            self._again = False
            self.wake()
        else:
            self._timer = self._clock.call_later(self.interval, self.wake)

    async def send_due(self) -> int:
        """Claim and send every due item until none is left; returns how many were sent."""
        sent = 0
        while self.running or self._round is None:
            items = await self._claim_due()
            if not items:
                break
            for item in items:
                sent += await self._send_one(item)
            if not self.running:
                break
        return sent

    async def _send_one(self, item: OutgoingMail) -> int:
        try:
            await self._send(item.raw, item.envelope_from, tuple(item.recipients))
        except SendFailure as failure:
            self.failed += 1
            reached = failure.permanent or failure.code is not None
            self.relay_state, self.relay_detail = ("up", "") if reached else ("down", str(failure)[:300])
            await self._mark_failed(item.id, str(failure), failure.permanent)
            return 0
        except Exception as exc:  # an unexpected error must not stop the outbox; retried later
            self.failed += 1
            self.relay_state, self.relay_detail = "down", f"{type(exc).__name__}: {exc}"[:300]
            log.failure("sending outbox item {id} failed unexpectedly", id=item.id)
            await self._mark_failed(item.id, f"{type(exc).__name__}: {exc}", False)
            return 0
        self.sent += 1
        self.relay_state, self.relay_detail = "up", ""
        await self._mark_sent(item.id)
        return 1
