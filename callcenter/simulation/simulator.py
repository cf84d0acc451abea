"""``callcenter simulate SCENARIO``: run the routing core on simulated time.

A scenario (YAML or JSON) names agents (each may have a ``start``: state, since, work held),
queues, an optional policy and timed events::

    agents:
      alice: {skills: {billing: 5}, languages: [en]}
    queues:
      billing: {members: [alice, {agent: bob, priority: 1, delay: 15}], selection: longest_idle,
                offer_timeout: 20, wrap_up: 30, overflow: {after: 600, to: support}}
    policy: {aging_rate: 1, max_bonus: 600}
    events:
      - {at: 0, agent: alice, do: available}
      - {at: 5, interaction: 1, do: arrive, queue: billing, channel: voice, priority: 0,
         tier_bonus: 0, ladder: [{require: "billing >= 4", for: 30}]}
      - {at: 9, interaction: 1, do: accept}            # by whoever it is offered to
      - {at: 120, interaction: 1, do: complete}
      - {at: 12, interaction: 2, do: hangup}           # abandons
      - {at: 40, agent: alice, do: not_ready, reason: break}

``do`` is one of arrive, accept, reject, no_answer, complete, hangup, transfer, move,
priority (interaction events), login, available, not_ready, logout, end_wrap_up, phone
(agent events). Accept/reject/no_answer act on the current offer of the interaction (a
``skipped`` line when there is none, or when it is not with the ``agent`` the event names).
The scenario is checked first, completely (:mod:`callcenter.simulation.scenario_file`): an
unknown key, a misspelled name or an interaction that never arrives is an error with its file,
line, column and key path, and nothing runs. ``until`` is an absolute time: deadlines up to it run
after the last event (a warning when it is before the last event). The format is documented
in ``docs/simulator.md``. Each decision is printed as one JSON line (``t``, ``kind``,
``interaction``, ``agent``, ``trace``), or as a table row (time, event, interaction, agent,
queue, why) with ``--format table``, then the summary: service level (answered within
``service_level_seconds``, default 20), average and maximum wait, abandons, and occupancy
per agent (time busy or in wrap-up / time logged in). A scenario with a ``traffic`` section
is a what-if instead (:mod:`callcenter.simulation.whatif`). Errors and warnings go to standard error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TextIO

from callcenter.simulation.scenario import AgentStart, Event, Scenario
from callcenter.simulation.scenario_file import load_scenario
from callcenter.settings.errors import ConfigErrors
from routing import Router, RoutingError

OCCUPIED = ("busy", "wrap_up")  # on offer, handling, or in after-call work


@dataclass
class RunStats:
    """One run's bookkeeping: per interaction its arrival queue and times, per agent the time
    occupied (on offer, handling or wrapping up) and logged in. Shared with :mod:`callcenter.simulation.whatif`."""

    queue_of: dict[int, str] = field(default_factory=dict)
    arrived: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    abandoned: dict[int, float] = field(default_factory=dict)
    busy_since: dict[str, float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    logged_since: dict[str, float] = field(default_factory=dict)
    logged: dict[str, float] = field(default_factory=dict)

    def state(self, agent: str, state: str, at: float) -> None:
        """Account an agent's state change."""
        if agent in self.busy_since and state not in OCCUPIED:
            self.busy[agent] = self.busy.get(agent, 0.0) + at - self.busy_since.pop(agent)
        if state in OCCUPIED:
            self.busy_since.setdefault(agent, at)
        if state == "logged_out" and agent in self.logged_since:
            self.logged[agent] = self.logged.get(agent, 0.0) + at - self.logged_since.pop(agent)
        elif state != "logged_out":
            self.logged_since.setdefault(agent, at)

    def close(self, end: float) -> None:
        """Count every agent's open stretches up to ``end``."""
        for agent in list(self.busy_since):
            self.state(agent, "available", end)
        for agent, since in list(self.logged_since.items()):
            self.logged[agent] = self.logged.get(agent, 0.0) + end - since
        self.logged_since.clear()


def simulate(scenario: Scenario, out: TextIO, fmt: str = "json") -> dict[str, Any]:
    """Run the scenario, print each decision (a JSON line, or a table row with ``fmt="table"``),
    then the summary; returns the summary."""
    router = Router(scenario.config)
    events = sorted(scenario.events, key=lambda e: (e.at, e.index))
    stats, now = RunStats(), 0.0
    emit = _Printer(out, fmt, stats)
    for start in scenario.starts:
        emit(start_agent(router, start, events[0].at if events else 0.0))
    for event in events:
        while (deadline := router.next_deadline()) is not None and deadline <= event.at:
            now = deadline
            emit(router.tick(now))
        now = event.at
        try:
            emit(apply_event(router, event, stats))
        except (RoutingError, ValueError) as exc:
            emit.skipped(event, str(exc))
    horizon = now if scenario.until is None else scenario.until
    while (deadline := router.next_deadline()) is not None and deadline <= horizon:
        now = deadline
        emit(router.tick(now))
    summary = _summary(stats, max(now, horizon), scenario.service_level_seconds)
    emit.summary(summary)
    return summary


def start_agent(router: Router, start: AgentStart, first: float) -> list:
    """Put an agent where the scenario says it stands (at ``since``, else at ``first``), with the work it holds."""
    at = first if start.since is None else start.since
    out: list = []
    if start.state != "logged_out":
        out += router.agent_login(start.agent, at)
    for spec in start.holds:
        out += router.restore_held(spec, start.agent, at, at)
    if start.state == "available":
        out += router.set_available(start.agent, at)
    elif start.state == "not_ready":
        out += router.set_not_ready(start.agent, start.reason or "break", at)
    return out


def apply_event(router: Router, e: Event, stats: RunStats | None = None) -> list:
    """Carry out one scenario event; ``stats`` (if given) records arrivals, answers and abandons.

    Raises :class:`RoutingError` or :class:`ValueError` (no offer to act on, or not with the
    agent the event names) for an event the run has made impossible.
    """
    stats = RunStats() if stats is None else stats
    at, do, iid = e.at, e.do, e.interaction
    if do == "arrive":
        assert e.spec is not None
        stats.arrived[e.spec.id], stats.queue_of[e.spec.id] = at, e.spec.queue
        return router.submit(e.spec, at)
    if iid is not None:
        return _apply_to_interaction(router, e, iid, stats)
    agent = e.agent or ""
    if do == "login":
        return router.agent_login(agent, at)
    if do == "available":
        return router.set_available(agent, at)
    if do == "not_ready":
        return router.set_not_ready(agent, e.reason or "break", at)
    if do == "logout":
        return router.agent_logout(agent, at)
    if do == "phone":
        return router.set_phone_registered(agent, e.registered, at)
    return router.end_wrap_up(agent, at)


def _apply_to_interaction(router: Router, e: Event, iid: int, stats: RunStats) -> list:
    at, do = e.at, e.do
    if do in ("accept", "reject", "no_answer"):
        offered = router.offered_to(iid)
        if offered is None:
            raise ValueError(f"interaction {iid} is not on offer")
        if e.agent is not None and offered != e.agent:
            raise ValueError(f"interaction {iid} is offered to {offered!r}, not {e.agent!r}")
        if do == "accept":
            stats.answered[iid] = at
            return router.accept(iid, offered, at)
        if do == "reject":
            return router.reject(iid, offered, at)
        return router.offer_failed(iid, offered, e.reason or "no_answer", at)
    if do == "complete":
        return router.complete(iid, at)
    if do == "hangup":
        decisions = router.cancel(iid, "abandoned", at)
        stats.abandoned[iid] = at
        return decisions
    if do == "transfer":
        return router.transfer(iid, e.queue or "", at)
    if do == "move":
        return router.move(iid, e.queue or "", at)
    return router.set_priority(iid, e.priority or 0, at)


TABLE_COLUMNS = (("time", 9), ("event", 15), ("interaction", 11), ("agent", 10), ("queue", 10), ("why", 0))


class _Printer:
    """Prints decisions as JSON lines or as table rows, and feeds agents' states to the stats."""

    def __init__(self, out: TextIO, fmt: str, stats: RunStats) -> None:
        self.out, self.table, self.stats = out, fmt == "table", stats
        if self.table:
            self.row(*(name for name, _ in TABLE_COLUMNS))

    def __call__(self, decisions: list) -> None:
        for d in decisions:
            if d.kind == "agent_state":
                self.stats.state(d.agent, d.state, d.at)
            if self.table:
                self.row(f"{d.at:g}", d.kind, _text(getattr(d, "interaction", None)), _text(getattr(d, "agent", None)),
                         _queue(d), why(d))
                continue
            record = d.to_dict()
            line = {"t": record.pop("at"), "kind": record.pop("kind"), "interaction": record.pop("interaction", None),
                    "agent": record.pop("agent", None), **record}
            self.out.write(json.dumps(line, sort_keys=True) + "\n")

    def skipped(self, event: Event, why_text: str) -> None:
        """An event the run made impossible (see :func:`apply_event`)."""
        if self.table:
            self.row(f"{event.at:g}", "skipped", _text(event.interaction), _text(event.agent), "",
                     f"events[{event.index}] {event.do}: {why_text}")
        else:
            self.out.write(json.dumps({"t": event.at, "kind": "skipped", "event": event.index, "why": why_text}) + "\n")

    def summary(self, summary: dict[str, Any]) -> None:
        """The closing summary: a JSON line, or a few readable lines."""
        if not self.table:
            self.out.write(json.dumps({"kind": "summary", **summary}, sort_keys=True) + "\n")
            return
        pct = (lambda v: "-" if v is None else f"{v:.1%}")
        secs = (lambda v: "-" if v is None else f"{v:g} s")
        self.out.write(f"\n{summary['interactions']} interactions: {summary['answered']} answered, "
                       f"{summary['abandoned']} abandoned; service level {pct(summary['service_level'])} "
                       f"within {summary['service_level_seconds']:g} s; wait average {secs(summary['average_wait'])}, "
                       f"max {secs(summary['max_wait'])}\n")
        if summary["occupancy"]:
            self.out.write("occupancy: " + ", ".join(f"{a} {pct(v)}" for a, v in summary["occupancy"].items()) + "\n")

    def row(self, *cells: str) -> None:
        """One table row, columns padded to their width (the last, ``why``, runs on)."""
        text = "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, TABLE_COLUMNS))
        self.out.write(text.rstrip() + "\n")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _queue(d: Any) -> str:
    if d.kind == "overflowed":
        return d.target
    return _text(getattr(d, "queue", None))


def why(d: Any) -> str:
    """A decision's reason in a few words, for the table: an offer's choice from its trace."""
    if d.kind == "offer":
        t = d.trace
        if t.get("mode") == "agent_free":
            text = f"agent freed: its best work (member priority {t.get('member_priority')})"
        else:
            count = t.get("candidate_count", 0)
            text = f"{t.get('policy')} among {count}{'+' if count >= 10 else ''} eligible ({t.get('tie_break')})"
        text += f"; score {t.get('score')}"
        if t.get("requirement"):
            text += f"; needs {t['requirement']}"
        if t.get("same_instant"):
            text += f"; chosen over {len(t['same_instant'])} pair(s) due at the same instant"
        return text
    if d.kind in ("offer_expired", "offer_withdrawn", "removed"):
        return d.why
    if d.kind == "queued":
        return f"position {d.position}" + (" (called back: keeps its place)" if d.resumed else "")
    if d.kind == "step_relaxed":
        return f"step {d.step}: " + (d.requirement or "any member")
    if d.kind == "overflowed":
        return f"from {d.source}: {d.why}"
    if d.kind == "no_agents":
        return "no member logged in and ready can take it"
    if d.kind == "agent_state":
        return d.state + (f" ({d.reason})" if d.reason else "")
    if d.kind == "wrap_up_ended":
        return f"{d.channel} wrap-up over" if d.channel else "wrap-up over"
    return ""


def _summary(stats: RunStats, end: float, sl_seconds: float) -> dict[str, Any]:
    stats.close(end)
    waits = [stats.answered[i] - stats.arrived[i] for i in stats.answered if i in stats.arrived]
    answered_in = sum(1 for w in waits if w <= sl_seconds)
    abandoned_late = sum(1 for i, t in stats.abandoned.items() if t - stats.arrived.get(i, t) > sl_seconds)
    denominator = len(waits) + abandoned_late
    return {
        "interactions": len(stats.arrived), "answered": len(waits), "abandoned": len(stats.abandoned),
        "service_level": round(answered_in / denominator, 4) if denominator else None,
        "service_level_seconds": sl_seconds,
        "average_wait": round(sum(waits) / len(waits), 3) if waits else None,
        "max_wait": round(max(waits), 3) if waits else None,
        "occupancy": {a: round(stats.busy.get(a, 0.0) / t, 4) for a, t in sorted(stats.logged.items()) if t > 0},
    }


def simulate_main(path: Path, out: TextIO, err: TextIO | None = None, fmt: str = "json",
                  runs: int | None = None, seed: int | None = None, clones: Sequence[str] = ()) -> int:
    """The command: exit 0 after printing on ``out``; exit 1 when the scenario is unreadable or
    invalid (or an option does not fit it), every error on ``err`` (standard error).

    A scenario with a ``traffic`` section is a what-if: ``runs`` runs from ``seed`` (defaults:
    the scenario's) and a summary per queue (:mod:`callcenter.simulation.whatif`). Otherwise each decision
    is printed, then the summary. ``fmt`` is ``json`` (lines) or ``table`` (for a person);
    ``clones`` are ``AGENT=N``: N more agents like AGENT.
    """
    from callcenter.simulation.whatif import CloneError, clone_agents, format_table, run_traffic

    err = sys.stderr if err is None else err
    try:
        scenario = load_scenario(path)
    except ConfigErrors as exc:
        err.write(f"{exc}\n")
        return 1
    problems = []
    for text in clones:
        agent, _, count = text.partition("=")
        try:
            scenario = clone_agents(scenario, agent, int(count) if count.strip().isdigit() else 1 if not count else -1)
        except CloneError as exc:
            problems.append(str(exc) if count == "" or count.strip().isdigit() else
                            f"--clone {text!r}: expected AGENT=N (N more agents like AGENT)")
    if scenario.traffic is None and (runs is not None or seed is not None):
        problems.append("--runs and --seed need a scenario with a 'traffic' section (see docs/simulator.md)")
    if runs is not None and runs < 1:
        problems.append("--runs must be 1 or more")
    if problems:
        err.write("".join(f"{p}\n" for p in problems))
        return 1
    for warning in scenario.warnings:
        err.write(f"warning: {warning}\n")
    if scenario.traffic is None:
        simulate(scenario, out, fmt)
        return 0
    summary = run_traffic(scenario, runs, seed)
    if fmt == "table":
        out.write(format_table(summary, scenario.service_level_seconds))
    else:
        for queue, metrics in summary["queues"].items():
            out.write(json.dumps({"kind": "what_if", "queue": queue, "runs": summary["runs"], "seed": summary["seed"],
                                  "duration": summary["duration"], **metrics}, sort_keys=True) + "\n")
    return 0
