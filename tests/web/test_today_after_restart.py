"""Today's figures survive a restart: a second server on the same record shows the same numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from twisted.internet import reactor as global_reactor

from callcenter.intake.contact import Contact
from tests.support.http import http_request
from tests.support.steppedtime import SteppedTimeReactor

PASSWORD = "supervise all the things"
# 12:00 in New York (the shipped config's time zone): the whole day stays on one local date.
NOON = dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.timezone.utc).timestamp()
TODAY_FAMILIES = ("callcenter_legs_offered_total", "callcenter_legs_answered_total",
                  "callcenter_legs_abandoned_total", "callcenter_legs_short_abandoned_total")


def _contact(run: Any, app: Any, n: int, form: str = "contact") -> int:
    """A web form contact (``contact`` goes to support, ``quote`` to sales), its offer (if any)
    written as a person would find it; its interaction id."""
    intake = Contact(channel="webform", contact_kind="email", contact=f"customer{n}@example.com", to=form)
    iid = run(app.intake.admit(intake)).interaction_id
    run(app.switchboard.settled())
    return iid


def _offered_to(app: Any, iid: int) -> str:
    return app.switchboard.offers[iid]["agent"]


def _drive_a_day(run: Any, app: Any, time: SteppedTimeReactor) -> dict[str, int]:
    """Support and sales work: one contact offered to three agents, answered late and finished;
    one answered at once whose wrap-up times out; a long and a short abandon; one still waiting;
    one still being worked on. Returns how many each agent answered."""
    board = app.switchboard
    for agent in ("alice", "bob", "erin"):
        board.login(agent)
    board.set_available("bob")
    run(board.settled())
    first = _contact(run, app, 1)
    assert _offered_to(app, first) == "bob"
    time.advance(5)
    board.reject("bob", first)
    run(board.settled())
    time.advance(10)
    board.set_available("alice")
    run(board.settled())
    assert _offered_to(app, first) == "alice"
    time.advance(5)
    board.reject("alice", first)
    run(board.settled())
    board.set_available("erin")
    run(board.settled())
    assert _offered_to(app, first) == "erin"
    time.advance(5)
    board.accept("erin", first)                   # waited 25 s: outside support's 20 s
    run(board.settled())
    time.advance(120)
    board.complete(first, "erin")
    run(board.settled())
    time.advance(10)
    board.end_wrap_up("erin", first, disposition="resolved")
    run(board.settled())

    quick = _contact(run, app, 2)
    agent = _offered_to(app, quick)
    time.advance(3)
    board.accept(agent, quick)
    run(board.settled())
    time.advance(60)
    board.complete(quick, agent)                  # the queue's 30 s wrap-up starts
    run(board.settled())

    for name in ("alice", "bob", "erin"):
        board.set_not_ready(name, "break")
    late, short, waiting = _contact(run, app, 3), _contact(run, app, 4, "quote"), _contact(run, app, 5)
    time.advance(2)
    board.customer_left(short)
    run(board.settled())
    time.advance(38)
    board.customer_left(late)
    run(board.settled())
    board.set_available("bob")
    run(board.settled())
    assert _offered_to(app, waiting) == "bob"
    board.accept("bob", waiting)                  # still being worked on at the restart
    run(board.settled())
    board.set_not_ready("bob", "lunch")
    _contact(run, app, 6)                         # still waiting at the restart
    run(board.settled())
    answered = {name: 0 for name in app.settings.agents}
    for name in ("erin", agent, "bob"):
        answered[name] += 1
    return answered


def _supervisor_view(run: Any, app: Any) -> tuple[dict, dict, list[str]]:
    """(today's figures per queue, handled today per agent, today's /metrics lines), over HTTP."""
    host, port = app.http.address
    base = f"http://{host}:{port}"
    login = run(http_request(global_reactor, "POST", base + "/login",
                             json_body={"login": "sam", "password": PASSWORD}))
    headers = {"cookie": login.headers["set-cookie"].split(";")[0]}
    snap = run(http_request(global_reactor, "GET", base + "/api/supervisor/snapshot", headers=headers)).json()
    metrics = run(http_request(global_reactor, "GET", base + "/metrics")).body.decode()
    queues = {name: q["today"] for name, q in snap["queues"].items()}
    agents = {a["agent"]: a["today"]["handled"] for a in snap["agents"]}
    return queues, agents, [line for line in metrics.splitlines() if line.startswith(TODAY_FAMILIES)]


def test_a_restart_changes_no_figure_of_today(run, make_app, migrated_database_url):
    """A day of answered, abandoned, finished and waiting contacts shows the same queue figures,
    agents' handled counts and /metrics counters after the server restarts on the same record."""
    time = SteppedTimeReactor(global_reactor, NOON)
    first = make_app(migrated_database_url, reactor=time)
    run(first.users.create("sam", "supervisor", "Sam", password=PASSWORD))
    answered = _drive_a_day(run, first, time)
    before = _supervisor_view(run, first)
    run(first.service.stopService())

    time.advance(30)
    second = make_app(migrated_database_url, reactor=time)
    run(second.switchboard.stats.recomputed())
    after = _supervisor_view(run, second)

    assert after == before
    support = before[0]["support"]
    # Five support contacts, the first offered three times: offered counts legs, not offers. The
    # sales quote arrives while every sales member pauses: it overflows at once to support (a
    # sales leg overflowed out, a sixth support leg), where its caller leaves after 2 s.
    assert (support["offered"], support["handled"], support["abandoned"], support["short_abandoned"]) == (6, 3, 1, 1)
    assert (before[0]["sales"]["offered"], before[0]["sales"]["overflowed_out"]) == (1, 1)
    # Web forms are judged on the web form channel's target (80 % within 4 h): the three
    # answers are within it, the 40 s abandon counts against: 3 / (3 + 1).
    assert support["service_level"] == 0.75 and support["abandon_rate"] == 0.2
    # Two finished handles: 120 s talk + 10 s wrap-up, and 60 s talk + 40 s of the queue's 30 s
    # wrap-up, which the core ends at its first command past the deadline (the stepped clock
    # does not fire the real timer earlier).
    assert support["aht"] == 115.0
    assert before[1] == answered
    assert 'callcenter_legs_offered_total{queue="support",channel="webform"} 6' in before[2]
