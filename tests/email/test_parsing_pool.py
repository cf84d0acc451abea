"""ParsePool: parses run off the reactor (worker processes or threads), never more than the bound at once."""

from __future__ import annotations

import os
import threading

import pytest
from twisted.internet import reactor, task
from twisted.internet.defer import ensureDeferred, gatherResults

from channels.email.parsepool import ParsePool
from channels.email.parsing import ParseLimits, ParsedMessage, parse_message

MESSAGE = b"From: A <a@example.com>\r\nSubject: hi\r\n\r\nbody\r\n"


class GatedParser:
    """parse_message behind a gate, recording how many run at once and on which thread."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.started = 0
        self.threads: set[int] = set()

    def __call__(self, raw: bytes, limits: ParseLimits, envelope_sender: str | None) -> ParsedMessage:
        """Count, wait for the gate, then parse for real."""
        with self.lock:
            self.active += 1
            self.started += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.get_ident())
        self.gate.wait(10)
        try:
            return parse_message(raw, limits, envelope_sender)
        finally:
            with self.lock:
                self.active -= 1


def test_parser_signature_matches_parse_message():
    """The test parser takes what parse_message takes, so it can stand in for it."""
    import inspect

    assert list(inspect.signature(GatedParser.__call__).parameters)[1:] == list(
        inspect.signature(parse_message).parameters)


def test_at_most_the_bound_run_at_once_and_the_reactor_keeps_running(run):
    """Five parses with a bound of 2: two run, three wait; the reactor runs timers meanwhile."""
    parser = GatedParser()
    pool = ParsePool(reactor, max_concurrent=2, parser=parser, mode="thread")
    pool.start()

    async def scenario():
        pending = [pool.parse(MESSAGE + b"%d\r\n" % i, ParseLimits(), "env@example.com") for i in range(5)]
        results = gatherResults([ensureDeferred(p) for p in pending])
        ticks = 0
        while parser.started < 2 and ticks < 500:
            await task.deferLater(reactor, 0.01, lambda: None)
            ticks += 1
        # The reactor thread is free: this timer fires while both workers are blocked.
        await task.deferLater(reactor, 0.05, lambda: None)
        snapshot = (parser.started, pool.running, pool.waiting)
        parser.gate.set()
        return snapshot, await results

    try:
        snapshot, parsed = run(scenario())
    finally:
        pool.stop()
    assert snapshot == (2, 2, 3)
    assert parser.peak == 2 and threading.get_ident() not in parser.threads
    assert [p.text for p in parsed] == [f"body\n{i}" for i in range(5)]
    assert {p.sender_source for p in parsed} == {"from"}


def test_parse_before_start_is_an_error(run):
    """Using the pool before start() raises a clear RuntimeError."""
    pool = ParsePool(reactor)
    with pytest.raises(RuntimeError, match="not started"):
        run(pool.parse(MESSAGE))


def test_bound_must_be_positive():
    """A bound below 1 is refused."""
    with pytest.raises(ValueError):
        ParsePool(reactor, max_concurrent=0)


def dying_parser(raw: bytes, limits: ParseLimits, envelope_sender: str | None) -> ParsedMessage:
    """A parser whose worker process dies on a message that says so (as one out of memory would)."""
    if b"die" in raw:
        os._exit(3)
    return parse_message(raw, limits, envelope_sender)


def test_process_mode_gives_what_parse_message_gives(run):
    """In worker processes the parse is the same as parse_message's, raw bytes included."""
    pool = ParsePool(reactor, max_concurrent=2)
    pool.start()
    raw = "From: 张三 <z@example.cn>\r\nSubject: 订单\r\n\r\n您好\r\n".encode()
    try:
        parsed = run(pool.parse(raw, ParseLimits(), "env@example.com"))
    finally:
        pool.stop()
    assert parsed == parse_message(raw, ParseLimits(), "env@example.com")


def test_a_dying_worker_costs_only_its_message(run):
    """A worker process that dies makes that message unparseable (kept raw); the next parse works."""
    pool = ParsePool(reactor, max_concurrent=1, parser=dying_parser)
    pool.start()
    try:
        died = run(pool.parse(MESSAGE + b"die\r\n"))
        after = run(pool.parse(MESSAGE))
    finally:
        pool.stop()
    assert died.unparseable and died.raw == MESSAGE + b"die\r\n" and "worker process died" in died.reason
    assert (after.unparseable, after.text, pool.worker_failures) == (False, "body", 1)


def test_unknown_mode_is_refused():
    """Only the process and thread modes exist."""
    with pytest.raises(ValueError):
        ParsePool(reactor, mode="fiber")
