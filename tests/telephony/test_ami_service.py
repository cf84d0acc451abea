"""AmiService reconnect timing on a fake clock, and its link-down behaviour."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import Clock
from zope.interface import implementer

from channels.telephony.ami_client import AmiConnectionLost
from channels.telephony.ami_service import AmiCredentials, AmiService, Backoff
from channels.telephony.originate import ClickToDial


@implementer(IStreamClientEndpoint)
class RefusingEndpoint:
    """An endpoint whose every connect is refused; remembers when each attempt happened."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.attempts: list[float] = []

    def connect(self, factory: object) -> Deferred:
        """Record the attempt time and refuse."""
        self.attempts.append(self.clock.seconds())
        return fail(ConnectionRefusedError())


def _service(clock: Clock, endpoint: RefusingEndpoint, jitter: list[float]) -> AmiService:
    values = iter(jitter)
    return AmiService(
        endpoint, AmiCredentials("u", "s"), clock, lambda e: None, iter(["a"]).__next__, lambda: next(values, 0.0),
        backoff=Backoff(initial=1.0, maximum=8.0, factor=2.0),
    )


def test_reconnect_delays_grow_exponentially_with_jitter_and_cap():
    """Refused connects are retried after 1, 2, 4, 8, 8 s (cap) plus the injected jitter each time."""
    clock = Clock()
    endpoint = RefusingEndpoint(clock)
    jitter = [0.1, 0.2, 0.3, 0.4, 0.5]
    service = _service(clock, endpoint, jitter)
    service.startService()
    for _ in range(5):
        (retry,) = clock.getDelayedCalls()
        clock.advance(retry.getTime() - clock.seconds())
    gaps = [round(b - a, 2) for a, b in zip(endpoint.attempts, endpoint.attempts[1:])]
    assert gaps[:5] == [1.1, 2.2, 4.3, 8.4, 8.5]


def test_stop_cancels_the_pending_retry():
    """Stopping while waiting to reconnect cancels the timer and makes no further attempt."""
    clock = Clock()
    endpoint = RefusingEndpoint(clock)
    service = _service(clock, endpoint, [0.0] * 3)
    service.startService()
    done: list = []
    service.stopService().addBoth(done.append)
    clock.advance(100)
    assert done == [None] and endpoint.attempts == [0.0] and clock.getDelayedCalls() == []


def test_click_to_dial_while_link_down_raises():
    """An Originate while the link is down fails at once with AmiConnectionLost."""
    clock = Clock()
    service = _service(clock, RefusingEndpoint(clock), [0.0])
    failures: list = []
    Deferred.fromCoroutine(service.click_to_dial(ClickToDial("PJSIP/1001", "+4930123"))).addErrback(failures.append)
    assert failures[0].check(AmiConnectionLost)
