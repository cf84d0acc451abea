"""Alert thresholds against live snapshots: raised once, cleared once, never repeated."""

from __future__ import annotations

from callcenter.reports.alerts import AlertBoard, AlertThresholds, QueueSnapshot, evaluate


def snap(queue="support", waiting=0, longest=0.0, sl=None, agents=2, open_=True):
    """A queue snapshot with calm defaults."""
    return QueueSnapshot(queue, waiting, longest, sl, agents, open_)


LIMITS = {"support": AlertThresholds(service_level_below=0.8, longest_wait_above=60.0)}


def test_each_threshold_raises_its_alert():
    """Service level below target, a long wait and an open queue without agents each give one alert."""
    alerts = evaluate([snap(waiting=3, longest=61, sl=0.79, agents=0)], LIMITS)
    assert [(a.queue, a.kind) for a in alerts] == [
        ("support", "longest_wait"), ("support", "no_agent"), ("support", "service_level")]
    assert alerts[0].message == "support: longest wait 61 s is above 60 s"


def test_limits_themselves_do_not_alert():
    """A service level equal to the target, a wait equal to the limit and a closed empty queue are fine."""
    assert evaluate([snap(waiting=1, longest=60, sl=0.8), snap("sales", agents=0, open_=False)], LIMITS) == ()


def test_unknown_service_level_and_disabled_kinds_do_not_alert():
    """No service level yet today raises nothing; None thresholds and a false switch disable kinds."""
    off = {"support": AlertThresholds(None, None, False)}
    assert evaluate([snap(sl=None)], LIMITS) == ()
    assert evaluate([snap(waiting=5, longest=900, sl=0.1, agents=0)], off) == ()


def test_a_stale_longest_wait_with_nobody_waiting_does_not_alert():
    """The longest wait only matters while someone waits."""
    assert evaluate([snap(waiting=0, longest=500)], LIMITS) == ()


def test_board_raises_once_keeps_quiet_then_clears_once():
    """An alert is raised on the first bad snapshot, not repeated while it lasts, and cleared once."""
    board = AlertBoard(LIMITS)
    first = board.update([snap(waiting=1, longest=70)])
    assert [a.kind for a in first.raised] == ["longest_wait"] and first.cleared == ()
    second = board.update([snap(waiting=1, longest=95)])
    assert second.raised == () and second.cleared == ()
    assert board.active[0].value == 95  # the active alert carries the current figure
    third = board.update([snap(waiting=0)])
    assert [a.kind for a in third.cleared] == ["longest_wait"] and third.raised == () and board.active == ()
    assert board.update([snap(waiting=0)]).cleared == ()


def test_new_thresholds_apply_on_the_next_update():
    """After a reload lowers a threshold the next snapshot raises against the new value."""
    board = AlertBoard(LIMITS)
    assert board.update([snap(waiting=1, longest=30)]).raised == ()
    board.set_thresholds({"support": AlertThresholds(longest_wait_above=20.0)})
    assert [a.kind for a in board.update([snap(waiting=1, longest=30)]).raised] == ["longest_wait"]


def test_thresholds_from_the_shipped_configuration():
    """``target`` becomes each queue's own target; a per-queue entry overrides the defaults."""
    from pathlib import Path

    from callcenter.reports.alerts import thresholds_from_settings
    from callcenter.settings import load_settings

    settings = load_settings(Path(__file__).resolve().parents[2] / "config")
    limits = thresholds_from_settings(settings)
    assert limits["support"] == AlertThresholds(0.8, 120.0, True)
    assert limits["sales"] == AlertThresholds(0.9, 60.0, True)
