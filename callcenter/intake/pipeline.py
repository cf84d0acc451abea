"""One pipeline for every channel: a contact becomes a stored, routed interaction.

:meth:`IntakePipeline.admit` takes a :class:`~callcenter.intake.contact.Contact` through these
steps, each once and in this order:

1. **contact points** (pure): each given phone or email normalized once (E.164, lower-cased
   address). An unusable one makes the contact anonymous (a withheld or garbled caller id is
   still a caller to serve) or, with ``strict=True`` (a web form the customer can correct),
   raises :class:`~callcenter.records.errors.InvalidContact`;
2. **customer**: the owner of the first point somebody owns, from memory when the customer
   was seen recently, else from one read shared with the contacts arriving together; nobody
   (a new or anonymous customer) gets a reserved id;
3. **rules** (pure): the routing rules matched on the contact and the customer; the queue's
   hours decide whether it is open;
4. **routing and storing, together**: the interaction's id is reserved, the switchboard hands
   the contact to the routing core at once, and the one write that stores it (customer,
   contact points, interaction, its ``created`` and ``routed`` log, the channel's own rows)
   joins the group commit of this moment. Everything the switchboard does later about this
   interaction (the offer's record, the screen pop) waits for that write, so nothing reaches
   a browser before the contact is stored.

A caller is never kept waiting on disk: the decision that sends the call to an agent can be
taken before the commit. A channel that promises something to the outside once the contact
is stored (SMTP ``250``, a form's success page, a CTI ``200``) awaits
:attr:`Admission.stored`, which ``admit(..., wait=True)`` (the default) does for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.intake.contact import Contact
from callcenter.dispatch.lifecycle import State, Step, transition
from callcenter.dispatch.record_keeping import LogEntry
from callcenter.records.admissions import Admitted, ContactWrite, Extra
from callcenter.records.errors import InvalidContact
from callcenter.records.model import Customer
from callcenter.dispatch.routing_rules import ClosedAction, RuleMatch, closed_action, match_rule, queue_open

log = Logger(namespace="callcenter.intake")


@dataclass(frozen=True)
class Admission:
    """What became of a contact.

    ``interaction_id`` is its interaction (reserved, stored once :attr:`stored` fires);
    ``customer`` the customer it was routed for (for a new one, as it will be stored);
    ``match`` the rule that matched on ``facts`` (what the rules saw); ``closed`` the configured closed-hours action when its
    queue is closed now; ``stored`` fires with the
    :class:`~callcenter.records.admissions.Admitted` record once the write committed, or
    fails with the record's error; ``admitted`` is that record when the caller waited.
    """

    interaction_id: int
    customer: Customer
    match: RuleMatch
    closed: ClosedAction | None
    stored: Deferred
    facts: Mapping[str, Any]
    admitted: Admitted | None = None

    @property
    def interaction(self) -> Any:
        """The stored interaction (only when :meth:`IntakePipeline.admit` waited for it)."""
        if self.admitted is None:
            raise RuntimeError("the contact's write was not awaited")
        return self.admitted.interaction


class IntakePipeline:
    """Carries contacts from the channels to the record and the routing core (see the module docstring).

    ``store`` is the :class:`~callcenter.records.store.RecordStore`; ``switchboard`` the
    :class:`~callcenter.dispatch.switchboard.Switchboard` (whose ``settings`` are the running
    configuration); ``clock`` gives the time.
    """

    def __init__(self, *, store: Any, switchboard: Any, clock: Clock) -> None:
        self._store = store
        self._board = switchboard
        self._clock = clock
        # Contact points of new customers whose write has not committed yet: a second contact
        # from the same new number in the same moment belongs to the same new customer.
        self._unborn: dict[tuple[str, str], Customer] = {}

    async def admit(self, contact: Contact, *, route: bool = True, strict: bool = False, wait: bool = True,
                    extra: Extra | None = None) -> Admission:
        """Store and route ``contact``; see the module docstring for the steps.

        ``route=False`` stores a contact another system routes (a PBX speaking the CTI API):
        it is queued in the record but never offered by the core. ``extra(conn, uow,
        interaction)`` writes the channel's own rows in the same transaction. Raises
        :class:`InvalidContact` (``strict``) and, when waiting, the record's error for a
        contact it refused (then nothing of it is stored).
        """
        settings = self._board.settings
        points = self._points(contact, strict)
        customer, known = await self._customer(points)
        now = self._clock.utcnow()
        facts = {"channel": contact.channel, "to": contact.to, "digits": contact.digits,
                 "variables": dict(contact.variables), "tier": customer.tier if customer else self._store.tiers[0],
                 "attributes": {**(customer.attributes if customer else {}), **contact.attributes},
                 "language": contact.language or (customer.language if customer else None),
                 "subject": contact.subject, "body": contact.body}
        match = match_rule(settings, facts)
        if contact.queue_hint in settings.queues and match.rule == settings.rules[-1].id:
            match = replace(match, queue=contact.queue_hint)
        closed = None if queue_open(settings.queues[match.queue], now) else closed_action(settings.queues[match.queue],
                                                                                          contact.channel)
        refused = closed is not None and not closed.queue
        placed = placement(match, now, refused=refused)
        iid = (await self._store.ids.take("interactions"))[0]
        if customer is None:
            customer = await self._newborn(points, contact, now)
        payload = {**contact.payload, "routing": {"rule": match.rule, "priority": match.priority, "tier": match.tier}}
        fields = {"channel": contact.channel, "direction": contact.direction, "queue": match.queue,
                  "subject": contact.subject, "payload": payload, **placed.fields}
        # What the routing core says of it at once ("queued", "no agents") is logged in the same write.
        head, said = hand_over(self._board, iid, contact.channel, placed.state, match, facts, refused=refused,
                               route=route, start=contact.virtual_start or now.timestamp(), at=now,
                               customer_key=str(customer.id))
        events = [*placed.events, *said]
        # A known customer's blanks are filled from the contact; one with a name and a language
        # needs nothing of it, and its write then reads nothing to find out.
        name = contact.contact_name or ("" if points else "Anonymous")
        language = contact.language
        if known:
            name = None if customer.display_name else name
            language = None if customer.language else language
        write = ContactWrite(interaction_id=iid, new_customer_id=customer.id, fields=fields, now=now, points=tuple(points),
                             customer_id=customer.id if known else None, tier=customer.tier, display_name=name,
                             language=language, provisional=True, events=tuple(events), extra=extra)
        stored = ensureDeferred(self._store.admit_contact(write))
        stored.addBoth(self._born, points)
        _shared(stored).chainDeferred(head)
        admission = Admission(iid, customer, match, closed, _shared(stored), facts)
        stored.addErrback(lambda _: None)  # delivered to the copies above
        if wait:
            admission = replace(admission, admitted=await admission.stored)
        return admission

    def _points(self, contact: Contact, strict: bool) -> list[tuple[str, str]]:
        points: list[tuple[str, str]] = []
        for kind, raw in contact.points():
            try:
                point = self._store.normalize_point(kind, raw, kind)
            except InvalidContact as error:
                if strict:
                    raise
                log.info("unusable {kind} {contact!r} ({why}); serving as anonymous", kind=kind, contact=raw,
                         why=error.message)
                continue
            if point not in points:
                points.append(point)
        return points

    async def _customer(self, points: list[tuple[str, str]]) -> tuple[Customer | None, bool]:
        """The owner of the first owned point and True if it is stored already; (None, False) if nobody."""
        for point in points:
            if point in self._unborn:
                return self._unborn[point], False
            found = await self._store.find_customer(point)
            if found is not None:
                return found, True
        return None, False

    async def _newborn(self, points: list[tuple[str, str]], contact: Contact, now: datetime) -> Customer:
        """A customer to be created with the contact: reserved id, the defaults a new one gets."""
        for point in points:  # another contact of this moment may have reserved it meanwhile
            if point in self._unborn:
                return self._unborn[point]
        cid = (await self._store.ids.take("customers"))[0]
        for point in points:
            if point in self._unborn:
                return self._unborn[point]
        customer = Customer(id=cid, display_name=contact.contact_name or ("" if points else "Anonymous"),
                            tier=self._store.tiers[0], language=contact.language, attributes={}, external_ids={},
                            provisional=True, created_at=now, updated_at=now, contact_points=())
        for point in points:
            self._unborn[point] = customer
        return customer

    def _born(self, outcome: Any, points: list[tuple[str, str]]) -> Any:
        for point in points:
            self._unborn.pop(point, None)
        return outcome


@dataclass(frozen=True)
class Placement:
    """Where a new contact stands in the record once the rules matched, before the routing core
    sees it: ``state`` (``queued``, or ``new`` for one refused), the interaction's ``fields``
    that follow (``state``, ``queued_at``) and the log ``events`` after ``created`` (``routed``
    with the queue, the rule and the rules skipped)."""

    state: State
    fields: Mapping[str, Any]
    events: tuple[LogEntry, ...]


def placement(match: RuleMatch, now: datetime, *, refused: bool = False, queue: str | None = None) -> Placement:
    """The :class:`Placement` of a contact ``match`` sends to ``queue`` (default its own) at ``now``
    (pure). A contact that will be queued is stored queued, with its ``routed`` entry: one
    write, and the routing step writes nothing more."""
    if refused:
        return Placement(State.NEW, {"state": State.NEW.value}, ())
    state = transition(State.NEW, Step.QUEUE).state
    routed = ("routed", None, {"queue": queue or match.queue, "rule": match.rule,
                               "skipped": [list(s) for s in match.skipped]})
    return Placement(state, {"state": state.value, "queued_at": now}, (routed,))


def hand_over(board: Any, iid: int, channel: str, state: State, match: RuleMatch, facts: Mapping[str, Any], *,
              refused: bool = False, route: bool = True, start: float, at: datetime,
              customer_key: str) -> tuple[Deferred, list[LogEntry]]:
    """The routing step of a contact being stored as ``state``: the switchboard tracks it, and it
    is refused (its queue is closed and does not queue), routed elsewhere (``route=False``) or
    submitted to the routing core at once (``start``: its place in line; ``at``: its
    ``queued_at``).

    Returns ``(head, said)``: fire ``head`` with the outcome of the write that stores the contact
    (every later write about it waits for it; a failure withdraws it from routing), and log
    ``said``, the entries of what the core said at once, in that write or before firing ``head``.
    """
    head = board.track_new(iid, channel, state)
    try:
        if refused:
            board.refuse(iid, match.queue)
        elif route:
            board.route(iid, match, facts, start=start, at=at, customer_key=customer_key)
        else:
            board.route_elsewhere(iid)
    except Exception:
        # The write is kept: a restart's rebuild puts the contact in line.
        log.failure("{channel} contact {iid} stored but not handed to routing", channel=channel, iid=iid)
    finally:
        said = board.collected_events(iid)
    return head, said


def _shared(d: Deferred) -> Deferred:
    """A Deferred with ``d``'s outcome that does not consume it (several parties wait on one write)."""
    out: Deferred = Deferred()

    def relay(outcome: Any) -> Any:
        out.callback(outcome) if not hasattr(outcome, "raiseException") else out.errback(outcome)
        return outcome

    d.addBoth(relay)
    return out
