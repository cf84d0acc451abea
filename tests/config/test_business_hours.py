"""Business hours: weekly intervals, holidays, time zones and daylight-saving time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.dispatch.routing_rules import closed_action, queue_open
from callcenter.settings import load_settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def support():
    return load_settings(SHIPPED).queues["support"]


def at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


@pytest.mark.parametrize("instant, expected", [
    (at(2026, 11, 23, 13, 0), True),     # Monday 08:00 in New York: opening minute
    (at(2026, 11, 23, 12, 59), False),   # 07:59
    (at(2026, 11, 23, 22, 59), True),    # 17:59
    (at(2026, 11, 23, 23, 0), False),    # 18:00: the end is exclusive
    (at(2026, 11, 28, 15, 0), False),    # Saturday
])
def test_weekly_hours_are_local_to_the_schedule(support, instant, expected):
    """The office schedule opens Monday to Friday 08:00-18:00 New York time."""
    assert queue_open(support, instant) is expected


def test_holiday_closes_a_weekday(support):
    """Thanksgiving (a Thursday) is closed all day."""
    assert queue_open(support, at(2026, 11, 26, 15, 0)) is False
    assert queue_open(support, at(2026, 11, 27, 15, 0)) is True


def test_holiday_with_hours_opens_only_then(support):
    """Christmas Eve is open 08:00-12:00 only."""
    assert queue_open(support, at(2026, 12, 24, 16, 0)) is True     # 11:00 EST
    assert queue_open(support, at(2026, 12, 24, 17, 30)) is False   # 12:30 EST


def test_daylight_saving_moves_the_utc_opening(support):
    """08:00 New York is 13:00 UTC in winter and 12:00 UTC in summer."""
    assert queue_open(support, at(2026, 3, 6, 12, 30)) is False  # Friday, EST: 07:30
    assert queue_open(support, at(2026, 3, 9, 12, 30)) is True   # Monday, EDT: 08:30


def test_any_time_zone_of_the_instant_gives_the_same_answer(support):
    """The same instant written in Shanghai time is judged in New York time."""
    shanghai = at(2026, 11, 24, 2, 30, tz=ZoneInfo("Asia/Shanghai"))  # Monday 13:30 EST
    assert queue_open(support, shanghai) is True
    assert queue_open(support, shanghai.astimezone(UTC)) is True


def test_naive_datetime_is_refused(support):
    """A wall time without a zone is ambiguous and raises ValueError."""
    with pytest.raises(ValueError):
        queue_open(support, dt.datetime(2026, 11, 23, 13, 0))


def test_queue_without_hours_is_always_open(settings_of):
    """A queue that names no schedule never closes."""
    settings = settings_of({})
    assert queue_open(settings.queues["support"], at(2026, 12, 25, 3, 0)) is True


def test_full_day_ranges_and_closed_days(settings_of):
    """00:00-24:00 covers the last minute of the day; `closed` and ranges of days are read."""
    settings = settings_of({
        "hours.yaml": """
            schedules:
              always:
                timezone: Asia/Shanghai
                weekly: {mon-sat: ["00:00-24:00"], sun: closed}
            """,
        "queues.yaml": """
            queues:
              support: {members: {skills: {technical: 1}}, hours: always}
              billing: {members: {agents: [alice]}}
            """})
    support = settings.queues["support"]
    shanghai = ZoneInfo("Asia/Shanghai")
    assert queue_open(support, at(2026, 11, 28, 23, 59, tz=shanghai)) is True   # Saturday
    assert queue_open(support, at(2026, 11, 29, 12, 0, tz=shanghai)) is False   # Sunday


def test_bad_hours_are_reported_in_place(errors_of):
    """Overnight intervals, overlaps, a day given twice and a bad date are each reported."""
    errors = errors_of({"hours.yaml": """
        schedules:
          office:
            timezone: Europe/Paris
            weekly:
              mon-fri: ["09:00-17:00", "16:00-18:00"]
              fri: ["22:00-02:00"]
            holidays: [2026-13-01]
        """})
    assert errors == [
        "cfg/hours.yaml:5:7 schedules.office.weekly.mon-fri: opening hours overlap",
        "cfg/hours.yaml:6:7 schedules.office.weekly.fri: fri is already given by mon-fri",
        "cfg/hours.yaml:6:13 schedules.office.weekly.fri[0]: must end after it starts "
        "(split hours past midnight over two days)",
        "cfg/hours.yaml:7:16 schedules.office.holidays[0]: must be a date like 2026-12-25",
    ]


def test_closed_actions_per_channel(support):
    """Calls get the dialplan variable and announcement; email and forms are queued with a template."""
    voice = closed_action(support, "voice")
    assert (voice.queue, voice.variable, voice.value, voice.announcement) == (
        False, "CC_QUEUE_CLOSED", "1", "custom/closed")
    assert (closed_action(support, "email").queue, closed_action(support, "email").template) == (True, "closed_hours")
    assert closed_action(support, "webform").template == "form_confirmation"
    with pytest.raises(ValueError):
        closed_action(support, "fax")
