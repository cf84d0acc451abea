"""The rebuild on start: the routing core back as the record says, before any traffic.

The record is the truth; the routing core is an in-memory index of it. :class:`Recovery` runs
once when the server starts, after the database and before every listener (a
:class:`~callcenter.runtime.services.StartGate`), while ``/health`` says ``recovering``:

- every unfinished email and form goes back in line with its original virtual start (its
  ``queued_at``), in the queue and at the priority its log says it reached (supervisor moves,
  overflows, priority changes), its tier, and the ladder step it has reached by now;
- an offer outstanding at the stop is withdrawn: the record goes back to ``queued`` (logged
  with ``why: restart``) and the core offers it again as agents come back;
- agents come back logged out, holding the work they had accepted (it counts against their
  capacity) and the wrap-ups they had not finished (each runs to the end it had: the queue's
  wrap-up after the interaction's ``ended_at``; one already over is finished at once); work
  held by an agent no longer configured goes back in line;
- a message stored without its interaction (a crash between storing and assigning) goes
  through the mail flow again, which reuses an interaction the crash left empty; an
  interaction stuck in ``new`` (created, never queued) is queued and routed;
- unfinished calls (``voice``, including those another system routes through the CTI API) are
  not reconciled here: the PBX is their truth. They are handed, as full
  :class:`~callcenter.records.model.Interaction` records with the :class:`RestoredContact` each
  (not ``new``) would come back as, to ``restore_calls``.

The log says how many contacts were restored per queue and how long it took; an audit entry
``server.recovered`` marks the end, so the next start looks for orphaned messages only among
those stored since.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Mapping, Sequence

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.dispatch.lifecycle import State, Step
from callcenter.records.model import Interaction
from callcenter.records.unfinished import (
    PlaceChange,
    StoredInbound,
    Unfinished,
    inbound_without_interaction,
    queue_changes,
    unfinished_interactions,
    unfinished_records,
)
from callcenter.dispatch.routing_rules import RuleMatch, match_rule, rule_match
from callcenter.dispatch.routing_setup import interaction_spec
from routing import InteractionSpec, Resume

log = Logger(namespace="callcenter.dispatch.recovery")

CALL_CHANNELS = ("voice",)
AUDIT_ACTION = "server.recovered"
_HELD = (State.ACCEPTED.value, State.CONNECTED.value)

RestoreCalls = Callable[[list[Interaction], Mapping[int, "RestoredContact"]], Any]
ResumeMail = Callable[[StoredInbound], Awaitable["int | None"]]


@dataclass(frozen=True)
class RestoredContact:
    """One unfinished interaction as the switchboard takes it back (:meth:`Switchboard.restore`).

    ``state`` is the record's (queued for waiting work without a ``step``); ``resume`` is set
    for waiting work, ``agent``/``accepted_at`` for held work, ``agent``/``ended_at`` for
    wrap-ups (which count from when the interaction ended, in the queue it was held from);
    ``moved_from`` names a queue no longer configured that the work left for ``queue``.
    """

    iid: int
    channel: str
    state: State
    queue: str | None
    start: float
    fallback: str | None = None
    spec: InteractionSpec | None = None
    resume: Resume | None = None
    agent: str | None = None
    accepted_at: float | None = None
    step: Step | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    moved_from: str | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class RecoveryReport:
    """What the rebuild found and did; ``seconds`` it took."""

    waiting: dict[str, int]
    held: int
    wrap_up: int
    offers_withdrawn: int
    requeued: int
    stuck_routed: int
    mail_resumed: int
    calls: int
    seconds: float


class Recovery:
    """Rebuilds ``board`` (a :class:`~callcenter.dispatch.switchboard.Switchboard`) from ``database``.

    ``store`` writes the audit entry and reads stuck interactions; ``resume_mail(stored)``
    hands an orphaned message to the mail flow (returns its interaction id); ``forms()`` are
    the configured forms and ``form_facts(form, interaction, customer)`` what the rules match
    a form's interaction on; ``restore_calls(interactions, contacts)`` receives the unfinished
    calls and their contacts by interaction id (None: they are logged and left).
    """

    def __init__(self, *, database: Any, store: Any, board: Any, clock: Clock, resume_mail: ResumeMail | None,
                 form_facts: Callable[[Any, Interaction, Any], Mapping[str, Any]],
                 restore_calls: RestoreCalls | None) -> None:
        self._db = database
        self._store = store
        self._board = board
        self._clock = clock
        self._resume_mail = resume_mail
        self._form_facts = form_facts
        self._restore_calls = restore_calls

    async def run(self) -> RecoveryReport:
        """Rebuild the core (see the module docstring); raises what the database raises."""
        began = self._clock.now()
        rows = await self._db.read(unfinished_interactions, None, CALL_CHANNELS)
        changes = await self._db.read(queue_changes)
        settings = self._board.settings
        now = self._clock.now()
        contacts, stuck, specs = [], [], _Specs(settings)
        for row in rows:
            if row.state == State.NEW.value:
                stuck.append(row)
            else:
                contacts.append(_contact(specs, settings, row, changes.get(row.id), now))
        self._board.restore(contacts)
        for c in contacts:
            if c.moved_from is not None:  # logged, so the next start finds it where it is now
                self._board.log_event(c.iid, "moved", {"queue": c.queue, "from": c.moved_from, "why": "queue_removed"})
        resumed = await self._resume_orphans()
        routed = 0
        for row in stuck:
            if row.id not in resumed:
                await self._route_stuck(settings, row)
                routed += 1
        calls = await self._db.read(unfinished_records, CALL_CHANNELS)
        # Calls come back through telephony, which knows whether the caller is still there; it
        # gets each call's contact as it would be restored (its place in line, its agent).
        call_rows = await self._db.read(unfinished_interactions, CALL_CHANNELS)
        call_contacts = {row.id: _contact(specs, settings, row, changes.get(row.id), now)
                         for row in call_rows if row.state != State.NEW.value}
        self._hand_over_calls(calls, call_contacts)
        report = _report(contacts, routed, len(resumed), len(calls), self._clock.now() - began)
        await self._store.record_audit(AUDIT_ACTION, "server", 0, details=_audit_details(report))
        log.info("restored {total} waiting contacts in {seconds:.3f} s (per queue: {waiting}); {held} held, "
                 "{wrap_up} in wrap-up, {offers_withdrawn} offers withdrawn, {stuck_routed} stuck contacts routed, "
                 "{mail_resumed} stored messages resumed, {calls} calls handed to telephony",
                 total=sum(report.waiting.values()), **_audit_details(report))
        return report

    async def _resume_orphans(self) -> set[int]:
        """Hand the messages a crash left without an interaction to the mail flow; the
        interactions they joined (a stuck one reused is routed by the flow)."""
        if self._resume_mail is None:
            return set()
        last = await self._store.recent_audit(AUDIT_ACTION, limit=1)
        orphans = await self._db.read(inbound_without_interaction, last[0].at if last else None)
        joined: set[int] = set()
        for stored in orphans:
            iid = await self._resume_mail(stored)
            if iid is not None:
                joined.add(iid)
        return joined

    async def _route_stuck(self, settings: Any, row: Unfinished) -> None:
        """Queue and route an interaction created but never queued, as its channel's flow would."""
        interaction = await self._store.get_interaction(row.id)
        if row.channel == "webform":
            customer = await self._store.get_customer(row.customer_id)
            form = settings.webform.forms.get(row.form or "")
            self._board.route_facts(interaction, self._form_facts(form, interaction, customer)
                                    if form is not None else _facts(row, interaction.subject))
            return
        facts = _facts(row, interaction.subject, interaction.payload.get("mailbox"))
        match = rule_match(settings, row.rule, row.tier or row.customer_tier) or match_rule(settings, facts)
        self._board.route_existing(interaction, match, facts)

    def _hand_over_calls(self, calls: list[Interaction], contacts: Mapping[int, RestoredContact]) -> None:
        if not calls:
            return
        if self._restore_calls is None:
            log.warn("{count} unfinished calls left as they are (no telephony reconciliation): {ids}",
                     count=len(calls), ids=[c.id for c in calls])
            return
        outcome = self._restore_calls(calls, contacts)
        if inspect.isawaitable(outcome):
            # Reconciling waits for the PBX link, which starts after this rebuild: never awaited here.
            ensureDeferred(outcome).addErrback(lambda f: log.failure("restoring {count} calls failed", f,
                                                                     count=len(calls)))


def mail_resumer(accept_mail: Callable[[bytes, Any], Awaitable[Any]]) -> ResumeMail:
    """A ``resume_mail`` that hands a stored message to ``accept_mail`` (the mail flow's sink) again,
    with the envelope its details kept. A bounce is skipped: it routes nothing, and the flow
    already counted it against the addresses when it stored it."""
    from channels.email.bounces import looks_like_bounce
    from channels.email.parsing import parse_message
    from channels.email.sink import MailEnvelope

    async def resume(stored: StoredInbound) -> int | None:
        if looks_like_bounce(parse_message(stored.raw)):
            return None
        d = stored.details
        envelope = MailEnvelope(mailbox=stored.mailbox or "", source=d.get("source") or "smtp",
                                received_at=stored.received_at, mail_from=d.get("mail_from"),
                                recipients=tuple(d.get("recipients") or ()), peer=d.get("peer"))
        receipt = await accept_mail(stored.raw, envelope)
        return receipt.interaction_id

    return resume


class _Specs:
    """Routing specs for many rows: what a rule, queue, priority and tier give is worked out once
    (:func:`~callcenter.dispatch.routing_setup.interaction_spec`), each row adds only its own fields."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._matches: dict[tuple, RuleMatch | None] = {}
        self._templates: dict[tuple, InteractionSpec] = {}

    def match(self, row: Unfinished, change: PlaceChange | None) -> RuleMatch:
        """The rule that routed the row (named in its payload or its log), else the rules' verdict now."""
        key = (row.rule or (change.rule if change is not None else None), row.tier or row.customer_tier)
        if key not in self._matches:
            self._matches[key] = rule_match(self._settings, *key)
        found = self._matches[key]
        return found if found is not None else match_rule(self._settings, _facts(row, None))

    def spec(self, row: Unfinished, match: RuleMatch, queue: str, priority: int, start: float) -> InteractionSpec:
        """The row's spec in ``queue`` at ``priority``, waiting since ``start``."""
        tier = row.tier or row.customer_tier
        key = (match, queue, priority, tier, row.channel)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = interaction_spec(
                self._settings, replace(match, queue=queue, priority=priority), iid=0, channel=row.channel, tier=tier,
                virtual_start=0.0)
        attributes = _attributes(row.customer_attributes)
        return InteractionSpec(row.id, row.channel, queue, start, priority, tier, template.tier_bonus, template.ladder,
                               (), str(row.customer_id), row.language,
                               {str(k): str(v) for k, v in attributes.items()} if attributes else {})


def _contact(specs: _Specs, settings: Any, row: Unfinished, change: PlaceChange | None,
             now: float) -> RestoredContact:
    """How one unfinished (not ``new``) interaction comes back."""
    start = row.queued_at if row.queued_at is not None else row.created_at
    match = specs.match(row, change)
    queue, moved_from = (change.queue if change and change.queue else None) or row.queue or match.queue, None
    if row.state == State.WRAP_UP.value:
        # The queue it was held from sets the wrap-up's length, even one no longer configured (none).
        return RestoredContact(row.id, row.channel, State.WRAP_UP, queue, start, agent=row.agent,
                               ended_at=row.ended_at if row.ended_at is not None else now)
    if queue not in settings.queues:
        fallback = match.fallback if match.fallback in settings.queues else settings.rules[-1].queue
        log.warn("interaction {iid}: queue {queue} is no longer configured; it goes to {fallback}", iid=row.id,
                 queue=queue, fallback=fallback)
        queue, moved_from = fallback, queue
    priority = change.priority if change is not None and change.priority is not None else \
        row.priority if row.priority is not None else match.priority
    spec = specs.spec(row, match, queue, priority, start)
    if row.state in _HELD and row.agent in settings.agents:
        return RestoredContact(row.id, row.channel, State(row.state), queue, start, match.fallback, spec, agent=row.agent,
                               accepted_at=row.accepted_at if row.accepted_at is not None else now,
                               moved_from=moved_from)
    step: Step | None = None
    details: dict[str, Any] = {}
    if row.state in _HELD:
        log.warn("interaction {iid} was held by {agent}, who is no longer configured; it goes back in line",
                 iid=row.id, agent=row.agent)
        step, details = Step.TRANSFER, {"why": "agent_not_configured", "agent": row.agent}
    elif row.state == State.OFFERED.value:
        step, details = Step.RETURN, {"why": "restart", "agent": row.agent}
    since = change.since if change is not None and change.since is not None else start
    # With a step, the record's state now; the step logged first takes it back to queued.
    state = State(row.state) if step is not None else State.QUEUED
    return RestoredContact(row.id, row.channel, state, queue, start, match.fallback, spec,
                           Resume(spec, since, start), step=step, details=details, moved_from=moved_from)


def _facts(row: Unfinished, subject: str | None, to: str | None = None) -> dict[str, Any]:
    """What the rules can still be matched on from the row alone."""
    return {"channel": row.channel, "to": to or row.form, "tier": row.tier or row.customer_tier,
            "attributes": _attributes(row.customer_attributes), "language": row.language, "subject": subject}


def _attributes(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return json.loads(value) if value not in ("{}", "") else {}
    return dict(value or {})


def _report(contacts: Sequence[RestoredContact], routed: int, resumed: int, calls: int,
            seconds: float) -> RecoveryReport:
    waiting: dict[str, int] = {}
    counts = {"held": 0, "wrap_up": 0, "withdrawn": 0, "requeued": 0}
    for c in contacts:
        if c.resume is not None:
            waiting[c.queue] = waiting.get(c.queue, 0) + 1
        elif c.state is State.WRAP_UP:
            counts["wrap_up"] += 1
        else:
            counts["held"] += 1
        counts["withdrawn"] += c.step is Step.RETURN
        counts["requeued"] += c.step is Step.TRANSFER
    return RecoveryReport(dict(sorted(waiting.items())), counts["held"], counts["wrap_up"], counts["withdrawn"],
                          counts["requeued"], routed, resumed, calls, round(seconds, 3))


def _audit_details(report: RecoveryReport) -> dict[str, Any]:
    return {"waiting": report.waiting, "held": report.held, "wrap_up": report.wrap_up,
            "offers_withdrawn": report.offers_withdrawn, "requeued": report.requeued,
            "stuck_routed": report.stuck_routed, "mail_resumed": report.mail_resumed, "calls": report.calls,
            "seconds": report.seconds}
