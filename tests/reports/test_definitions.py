"""The worked examples of docs/reports.md, from logs as the switchboard writes them, and the leg rules."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from callcenter.reports import kpi
from callcenter.reports.kpi import KpiRules, ServiceTarget, Tally, UnknownDefinition, compute_report
from callcenter.reports.legs import ABANDONED, ANSWERED, OVERFLOWED, LogEntry, legs_of
from tests.reports.helpers import T0, abandoned, answered, at, history, step

NY = ZoneInfo("America/New_York")
RULES = KpiRules(short_abandon=5.0, targets={"support": ServiceTarget(80, 20), "billing": ServiceTarget(80, 30)})


def overflowed(queued: float, after: float, then_wait: float) -> list:
    """A support call that overflows to billing after ``after`` s and is answered there ``then_wait`` s later."""
    answer = queued + after + then_wait
    return legs_of(history("support", "voice", queued,
                           LogEntry(at(queued + after), "overflowed", {"source": "support", "target": "billing"}),
                           step(answer, "connect", agent="carol"), step(answer + 60, "end"),
                           step(answer + 70, "wrap_up_end"), disposition="resolved"))


def transferred(queued: float, wait: float, talk: float) -> list:
    """A support call answered after ``wait`` s, transferred to billing after ``talk`` s, answered there 10 s later."""
    answer = queued + wait
    return legs_of(history("support", "voice", queued, step(answer, "connect", agent="bob"),
                           step(answer + talk, "transfer", queue="billing"),
                           step(answer + talk + 10, "connect", agent="carol"), step(answer + talk + 70, "end"),
                           step(answer + talk + 80, "wrap_up_end"), disposition="resolved"))


def callback(queued: float, asked_after: float, callback_wait: float) -> list:
    """A call left with a callback request, and its callback answered after ``callback_wait`` s (handle 70 s)."""
    asked = history("support", "voice", queued, step(queued + asked_after, "abandon", reason="callback_requested"))
    back_at = queued + asked_after + 1
    answer = back_at + callback_wait
    back = history("support", "voice", back_at, step(answer, "connect", agent="bob"), step(answer + 60, "end"),
                   step(answer + 70, "wrap_up_end"), direction="outbound", callback_for=asked.header.id)
    return legs_of(asked) + legs_of(back)


def worked_example() -> list:
    """The support quarter hour of docs/reports.md (the overflowed call's billing leg included)."""
    return [answered(0, 5, talk=100, wrap=20), answered(10, 15, talk=200, wrap=10), answered(20, 20, talk=60, wrap=30),
            answered(30, 35, talk=120, wrap=15), abandoned(40, 3), abandoned(50, 5), abandoned(60, 45),
            *overflowed(70, 600, 10), *transferred(80, 8, 40), *callback(90, 30, 120)]


def support_row(definition: str = "default"):
    """The support row of the worked example's quarter hour."""
    rules = KpiRules(RULES.short_abandon, RULES.targets, service_level=definition)
    rows = compute_report(worked_example(), T0, at(900), "15min", NY, rules, group_by=["queue"])
    return {r.queue: r for r in rows}["support"]


def test_the_worked_example_of_the_documentation():
    """Offered 10, answered 5 (4 within), 1 short, 2 abandoned, 1 overflowed, 1 transferred, 1 callback asked."""
    r = support_row()
    assert (r.offered, r.answered, r.answered_within, r.short_abandoned, r.abandoned) == (10, 5, 4, 1, 2)
    assert (r.overflowed_out, r.transferred_out, r.callbacks_requested) == (1, 1, 1)
    assert (r.callbacks_offered, r.callbacks_answered, r.callback_asa) == (1, 1, 120.0)
    assert r.abandon_rate == pytest.approx(2 / 8)
    assert r.service_level == pytest.approx(4 / 8)
    assert r.asa == pytest.approx(16.6)
    assert r.aht == pytest.approx(665 / 6)
    assert r.max_wait == 600.0


@pytest.mark.parametrize("definition, expected", [
    ("default", 4 / 8), ("asterisk_sl", 4 / 5), ("asterisk_sl2", 6 / 8),
])
def test_named_service_level_definitions(definition, expected):
    """The same legs under each named definition give the documented figures; the row names it."""
    r = support_row(definition)
    assert r.service_level == pytest.approx(expected) and r.definition == definition


def test_contact_level_service_level_counts_from_first_entry():
    """Contact-level: the overflowed call waited 610 s from first entry (not within); 10 contacts of
    which 6 were answered (4 within: 5, 15, 20, 8 s) and 2 abandoned after S."""
    r = support_row("contact")
    assert (r.contacts, r.contacts_answered, r.contacts_answered_within, r.contacts_abandoned) == (10, 6, 4, 2)
    assert r.service_level == pytest.approx(4 / 8)


def test_transfer_keeps_the_first_answer_and_the_agents_handling():
    """A call answered after 8 s and transferred after 40 s: leg 1 waited 8 s, handled 40 s by bob;
    leg 2 entered at the transfer and waited 10 s."""
    first, second = transferred(0, 8, 40)
    assert (first.queue, first.wait, first.agent, first.handle_time, first.transferred) == ("support", 8.0, "bob", 40.0, True)
    assert (second.queue, second.entered_at, second.wait, second.agent) == ("billing", at(48), 10.0, "carol")
    assert first.contact_wait == 8.0 and first.contact_transferred


def test_overflow_records_leaving_the_source_and_arriving_in_the_target():
    """The source leg is overflowed out after 600 s; the target leg enters at the overflow."""
    first, second = overflowed(0, 600, 10)
    assert (first.queue, first.outcome, first.wait) == ("support", OVERFLOWED, 600.0)
    assert (second.queue, second.entered_at, second.outcome, second.wait) == ("billing", at(600), ANSWERED, 10.0)


def test_a_supervisors_move_closes_a_waiting_leg():
    """A move of a waiting contact is an overflow out of its queue."""
    legs = legs_of(history("support", "voice", 0, LogEntry(at(40), "moved", {"queue": "billing"}),
                           step(50, "abandon", reason="caller_hung_up")))
    assert [(leg.queue, leg.outcome, leg.wait) for leg in legs] == [("support", OVERFLOWED, 40.0),
                                                                     ("billing", ABANDONED, 10.0)]


def test_a_reopened_email_opens_a_new_leg():
    """A reply reopening a finished email is a new leg in its queue, entered at the reopening."""
    legs = legs_of(history("support", "email", 0, step(60, "connect", agent="bob"), step(100, "end"),
                           step(110, "wrap_up_end"), step(5000, "reopen"), step(5300, "connect", agent="bob")))
    assert [(leg.index, leg.queue, leg.entered_at, leg.wait) for leg in legs] == [
        (0, "support", at(0), 60.0), (1, "support", at(5000), 300.0)]


def test_outbound_contacts_have_no_legs():
    """Click-to-dial or an outbound PBX call never waits in a queue: no leg, so no abandon."""
    assert legs_of(history("support", "voice", 0, step(25, "abandon", reason="noAnswer"), direction="outbound")) == []


def test_abandon_at_exactly_the_threshold_is_not_short():
    """Short means strictly less than the threshold: 4.9 s is short, 5 s is an abandon."""
    t = Tally.of([abandoned(0, 4.9), abandoned(10, 5.0)], RULES)
    assert (t.short_abandoned, t.abandoned) == (1, 1)


def test_email_is_judged_against_its_channels_target():
    """An email answered after an hour is within the email target (4 h); a call after 25 s is not within 20 s."""
    rows = compute_report([answered(0, 3600, channel="email"), answered(0, 25)], T0, at(900), "15min", NY, RULES,
                          group_by=["queue", "channel"])
    assert {(r.queue, r.channel): r.service_level for r in rows} == {("support", "email"): 1.0,
                                                                      ("support", "voice"): 0.0}
    assert RULES.target("support", "email").within == 4 * 3600


def test_first_contact_resolution():
    """Resolved on one leg with a resolving disposition counts; transferred or escalated does not."""
    legs = [answered(0, 5), answered(10, 5, disposition="escalated"), *transferred(20, 5, 30), abandoned(30, 40)]
    t = Tally.of(legs, RULES)
    assert (t.fcr_handled, t.fcr_resolved) == (3, 1)
    assert kpi.first_contact_resolution(t) == pytest.approx(1 / 3)


def test_an_unknown_definition_is_refused():
    """A service-level definition that is not one of the named ones raises UnknownDefinition."""
    with pytest.raises(UnknownDefinition):
        KpiRules(service_level="nice")
    with pytest.raises(UnknownDefinition):
        kpi.service_level(Tally(), "nice")
