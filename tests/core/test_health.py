"""The health report's overall status rules."""

from __future__ import annotations

import pytest
from twisted.internet.defer import ensureDeferred

from callcenter.runtime.health import ChannelStatus, HealthCheck


def run(coro):
    """Run a coroutine that never waits on the reactor and return its result."""
    results = []
    ensureDeferred(coro).addBoth(results.append)
    return results[0]


async def db_up() -> bool:
    return True


async def db_raises() -> bool:
    raise ConnectionError("refused")


def test_all_up_is_ok():
    """Database up and every channel up or disabled: ok."""
    h = HealthCheck(db_up)
    h.add_channel("email", lambda: ChannelStatus("disabled"))
    h.add_channel("telephony", lambda: ChannelStatus("up"))
    status, report = run(h.report())
    assert status == "ok"
    assert report["channels"] == {"email": {"state": "disabled", "detail": ""}, "telephony": {"state": "up", "detail": ""}}


def test_channel_down_is_degraded():
    """A channel down with the database up: degraded, with the channel's detail."""
    h = HealthCheck(db_up)
    h.add_channel("telephony", lambda: ChannelStatus("down", "connection refused"))
    status, report = run(h.report())
    assert status == "degraded"
    assert report["channels"]["telephony"]["detail"] == "connection refused"


def test_database_probe_failure_is_down():
    """A probe that raises makes the server down and reports the error."""
    status, report = run(HealthCheck(db_raises).report())
    assert status == "down"
    assert report["database"] == {"ok": False, "detail": "ConnectionError: refused"}


def test_unknown_channel_state_rejected():
    """A channel state outside the documented set is a programming error."""
    with pytest.raises(ValueError):
        ChannelStatus("sleepy")
