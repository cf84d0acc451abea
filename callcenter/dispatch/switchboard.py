"""The switchboard: channels -> records -> routing -> push, and back.

The intake pipeline (:mod:`callcenter.intake.pipeline`) hands in each new contact it is
storing (:meth:`Switchboard.track_new`, then :meth:`Switchboard.route`); the switchboard
submits it to the routing core. The core's decisions come back as data and are carried out here: the interaction's state and
timestamps are written to the record (in decision order, per interaction), the agent's
browser gets the offer with its screen pop, and the channel is told to deliver (a caller is
sent to the agent's phone by :mod:`callcenter.intake.voice_calls`). Channels', supervisors' and
agents' commands come in through the same object; the agents' side (their state, offers they
take or turn down, finishing work) is :mod:`callcenter.dispatch.agent_work`, taking back the
record's unfinished work after a restart :mod:`callcenter.dispatch.restored_work`.

The routing core is pure and synchronous; everything asynchronous (database, push) happens
after a command returned its decisions. Time for the core is ``clock.now()`` (epoch seconds);
its next deadline is armed on the clock after every command.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from callcenter.runtime.clock import Clock
from callcenter.dispatch.agent_work import AgentWork
from callcenter.dispatch.lifecycle import State, Step
from callcenter.dispatch.record_keeping import LogEntry, RecordKeeper
from callcenter.dispatch.restored_work import RestoredWork
from callcenter.dispatch.routing_rules import RuleMatch, match_rule
from callcenter.dispatch.screen_pops import ContentFor, ScreenPops
from callcenter.web.serialize import to_json
from routing import UnknownInteraction

log = Logger(namespace="callcenter.dispatch.switchboard")

Publish = Callable[[str, str, Mapping[str, Any]], None]


class Switchboard(AgentWork, RestoredWork):
    """The application service tying channels, records, routing and push together."""

    def __init__(self, *, settings: Any, clock: Clock, store: Any, router: Any,
                 spec_builder: Callable[..., Any], publish: Publish | None = None, stats: Any = None,
                 content_for: ContentFor | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self.router = router
        self._spec = spec_builder
        self._publish = publish or (lambda topic, kind, data: None)
        self._timer: Any = None
        # Writes about each interaction, in decision order; its state and channel meanwhile.
        self._records = RecordKeeper(store, clock)
        self._states = self._records.states
        self.channel_of = self._records.channel_of
        # content_for(interaction) -> channel content for the screen pop (the email thread...)
        self._pops = ScreenPops(store, content_for)
        self.offers: dict[int, dict[str, Any]] = {}      # interaction id -> offer payload
        self.holding: dict[int, str] = {}                # interaction id -> agent working on it
        self.wrapping: dict[int, str] = {}               # interaction id -> agent in its wrap-up
        self.logged_in: set[str] = set()
        self.external: set[int] = set()                  # routed by another system (CTI)
        self.stats = stats
        self._meta: dict[int, dict[str, Any]] = {}         # interaction id -> queue, start, accepted
        self._offer_listeners: list[Callable[[Any], None]] = []
        self._failed: dict[int, str] = {}                  # interaction id -> why delivery failed
        self._end_listeners: list[Callable[[int, str], None]] = []
        self._stopped = False

    # --- intake ---

    def track_new(self, iid: int, channel: str, state: State) -> Deferred:
        """A contact the intake pipeline is about to store: every later write about it waits
        for that one. Fire the returned Deferred with the write's outcome. Until
        :meth:`collected_events` is called, log entries about it are collected for that write
        instead of being written on their own. If the write fails, the contact is withdrawn
        from routing: nothing may be carried out for an interaction that is not stored."""
        return self._records.track(iid, channel, state, self._lost)

    def collected_events(self, iid: int) -> list[LogEntry]:
        """The log entries ``(kind, actor, details)`` about a tracked contact so far; later ones
        are written on their own."""
        return self._records.collected_events(iid)

    def _lost(self, iid: int) -> None:
        log.error("interaction {iid} could not be stored; withdrawn from routing", iid=iid)
        self._meta.pop(iid, None)
        self.external.discard(iid)
        try:
            self._run(lambda now: self.router.cancel(iid, "not_stored", now))
        except UnknownInteraction:  # never submitted (refused, routed elsewhere) or already gone
            pass

    def route(self, iid: int, match: RuleMatch, facts: Mapping[str, Any], *, start: float, at: Any,
              customer_key: str) -> None:
        """Submit a tracked contact to the routing core in the queue ``match`` chose.

        ``facts`` are what the rules matched on (language, attributes); ``start`` is its
        place in line (seconds; a restart puts it back there); ``at`` its ``queued_at``.
        """
        spec = self._spec(self.settings, match, iid=iid, channel=self.channel_of[iid], tier=match.tier,
                          virtual_start=start, language=facts.get("language"),
                          attributes=dict(facts.get("attributes") or {}), customer_key=customer_key)
        self._meta[iid] = {"queue": match.queue, "start": spec.virtual_start, "fallback": match.fallback}
        self._run(lambda now: self.router.submit(spec, now))

    def refuse(self, iid: int, queue: str) -> None:
        """A tracked contact whose queue is closed and does not queue: refused, in the record."""
        self._after(iid, Step.REFUSE, {"reason": "queue_closed", "queue": queue})

    def route_elsewhere(self, iid: int) -> None:
        """A tracked contact that another system routes (CTI): queued in the record, never offered."""
        self.external.add(iid)

    def route_facts(self, interaction: Any, facts: Mapping[str, Any]) -> None:
        """Route an interaction a channel flow logged, matching the rules on ``facts``."""
        self.route_existing(interaction, match_rule(self.settings, facts), facts)

    def route_existing(self, interaction: Any, match: RuleMatch, facts: Mapping[str, Any]) -> None:
        """Route an interaction a channel flow already logged (an email, possibly reopened)."""
        iid = interaction.id
        self._states[iid] = State(interaction.state)
        self.channel_of[iid] = interaction.channel
        start = self._clock.utcnow()

        async def queue_then_submit() -> None:
            if self._states.get(iid) is State.NEW:
                # Stamped with the spec's start: queued_at is where a restart puts it back in line.
                await self._records.write_step(iid, Step.QUEUE, details={"queue": match.queue, "rule": match.rule},
                                               at=start)
            self.route(iid, match, facts, start=start.timestamp(), at=start, customer_key=str(interaction.customer_id))

        self._chain(iid, queue_then_submit)

    # --- channels' and supervisors' commands (agents': callcenter.dispatch.agent_work) ---

    def clock_now(self) -> Any:
        """The current instant (aware UTC datetime), for records the channels write themselves."""
        return self._clock.utcnow()

    def offer_failed(self, iid: int, agent: str, reason: str) -> None:
        """Delivery failed (phone busy, no answer): the routing core re-offers; the log says why."""
        self._failed[iid] = reason
        self._run(lambda now: self.router.offer_failed(iid, agent, reason, now))

    def customer_replied(self, iid: int) -> None:
        """A customer wrote again on an open interaction: its holder (if any) is told."""
        agent = self.holding.get(iid) or self.offers.get(iid, {}).get("agent")
        if agent is not None:
            self._publish(f"agent:{agent}", "work", {"interaction": iid, "customer_replied": True})
        self._publish("supervisors", "customer_replied", {"interaction": iid})

    def external_answered(self, iid: int, agent: str) -> None:
        """Another system's call was answered by ``agent``: log it and pop the screen."""
        self.holding[iid] = agent
        self._after(iid, Step.OFFER, {"agent": agent, "routed_by": "pbx"}, agent=agent)
        self._after(iid, Step.ACCEPT, {"agent": agent}, agent=agent)
        self._after(iid, Step.CONNECT, {"agent": agent})
        self._chain(iid, lambda: self._push_pop(iid, agent, "work", {}))

    def external_ended(self, iid: int, reason: str) -> None:
        """Another system's call ended: completed if it was answered, else abandoned."""
        self.external.discard(iid)
        agent = self.holding.pop(iid, None)
        if agent is None:
            self._after(iid, Step.ABANDON, {"reason": reason})
            return
        self._after(iid, Step.END, {"agent": agent, "reason": reason})
        self._after(iid, Step.WRAP_UP_END, {"agent": agent})
        self._publish(f"agent:{agent}", "work", {"interaction": iid, "ended": True})

    def customer_left(self, iid: int, reason: str = "caller_hung_up") -> None:
        """The customer gave up while waiting: abandoned, with the wait time in the log."""
        self.offers.pop(iid, None)
        self._run(lambda now: self.router.cancel(iid, reason, now))
        self._count(iid, "abandoned")
        self._after(iid, Step.ABANDON, {"reason": reason})

    def transfer(self, iid: int, queue: str, actor: str) -> None:
        """Hand the interaction to another queue, keeping its place in line."""
        self._queue_known(queue)
        self._run(lambda now: self.router.transfer(iid, queue, now))
        self.holding.pop(iid, None)
        self._after(iid, Step.TRANSFER, {"queue": queue, "by": actor}, queue=queue)

    def move(self, iid: int, queue: str, actor: str) -> None:
        """Supervisor: move a waiting interaction to another queue."""
        self._queue_known(queue)
        self._run(lambda now: self.router.move(iid, queue, now))
        self._event(iid, "moved", actor, {"queue": queue})

    def set_priority(self, iid: int, priority: int, actor: str) -> None:
        """Supervisor: raise (or lower) a waiting interaction's priority."""
        self._run(lambda now: self.router.set_priority(iid, priority, now))
        self._event(iid, "priority_changed", actor, {"priority": priority})

    def reconfigure(self, settings: Any, config: Any) -> None:
        """Install a validated configuration: the routing core keeps every waiting interaction
        and every agent's state; work of a removed queue moves to the default rule's queue."""
        fallback = settings.rules[-1].queue
        for waiting in self.router.waiting():
            if waiting.queue in settings.queues:
                continue
            # Work of a removed queue goes to its rule's fallback when that queue exists on both
            # sides of the reload; the rest goes to the default rule's queue below.
            own = self._meta.get(waiting.interaction, {}).get("fallback")
            if own in settings.queues and own in self.settings.queues:
                self._run(lambda now, i=waiting.interaction, q=own: self.router.move(i, q, now))
        # The core checks everything before it changes anything; the settings follow only once
        # it has accepted the new configuration.
        self._run(lambda now: self.router.reconfigure(config, now, fallback=fallback))
        self.settings = settings

    def waiting_by_queue(self, now: float) -> dict[str, list[Any]]:
        """Every configured queue's waiting work in order (the core's views), read once."""
        grouped: dict[str, list[Any]] = {name: [] for name in sorted(self.settings.queues)}
        for view in self.router.waiting(now=now):
            grouped.setdefault(view.queue, []).append(view)
        return grouped

    def waiting_view(self, iid: int) -> Any | None:
        """The core's view of one waiting interaction (its place, score, estimated wait), or None."""
        queue = self._meta.get(iid, {}).get("queue")
        views = self.router.waiting(queue) if queue in self.settings.queues else self.router.waiting()
        return next((v for v in views if v.interaction == iid), None)

    def log_event(self, iid: int, kind: str, details: Mapping[str, Any], actor: str | None = None) -> None:
        """Append to the interaction's log, in order with its other writes."""
        self._event(iid, kind, actor, details)

    def is_waiting(self, iid: int) -> bool:
        """True while the interaction waits for an agent (queued or offered)."""
        return self._states.get(iid) in (State.NEW, State.QUEUED, State.OFFERED)

    def on_offer(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(decision)`` for every offer (channels that deliver offers subscribe)."""
        self._offer_listeners.append(listener)

    def on_withdraw(self, listener: Callable[[int, str], None]) -> None:
        """Call ``listener(iid, agent)`` when an offer expires or is withdrawn."""
        self._end_listeners.append(listener)

    # --- running the core ---

    def _run(self, command: Callable[[float], list]) -> list:
        decisions = command(self._clock.now())
        for decision in decisions:
            self._carry_out(decision)
        self._rearm()
        return decisions

    def _rearm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._stopped:
            return  # commands still running while the service stops arm nothing
        deadline = self.router.next_deadline()
        if deadline is not None:
            self._timer = self._clock.call_later(max(0.0, deadline - self._clock.now()), self.tick)

    def tick(self) -> None:
        """Let time-driven decisions happen (offer expiry, ladder steps, overflow, wrap-up end).

        Called by the armed timer, or directly (a test that moved time on): a timer still armed
        is then cancelled by the re-arming, never left behind."""
        if self._timer is not None and not self._timer.active():
            self._timer = None  # it is this call: nothing to cancel
        self._run(self.router.tick)

    async def settled(self) -> None:
        """Wait until every record write queued so far (and any it queued) has finished."""
        await self._records.settled()

    def stop(self) -> None:
        """Cancel the timer and arm none again (service stop)."""
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _count(self, iid: int, event: str) -> None:
        # Today's figures follow the record (callcenter.reports.livestats observes every committed
        # write, counting contacts rather than offers); here finished work's routing data goes.
        if event in ("abandoned", "completed"):
            self._meta.pop(iid, None)

    def _carry_out(self, decision: Any) -> None:
        kind = decision.kind
        iid = getattr(decision, "interaction", None)
        if kind in ("overflowed",) and iid in self._meta:
            self._meta[iid]["queue"] = decision.target
        if kind == "offer":
            self._count(iid, "offered")
            agent = decision.agent
            self.offers[iid] = {"agent": agent, "queue": decision.queue, "expires_at": decision.expires_at}
            self._after(iid, Step.OFFER, {"agent": agent, "queue": decision.queue,
                                          "trace": to_json(getattr(decision, "trace", None))},
                        agent=agent)
            self._chain(iid, lambda: self._push_offer(iid, agent, decision))
            self._publish("supervisors", "offer", {"interaction": iid, "agent": agent, "queue": decision.queue})
            for listener in self._offer_listeners:
                listener(decision)
        elif kind in ("offer_expired", "offer_withdrawn"):
            offer = self.offers.pop(iid, None)
            why = self._failed.pop(iid, None) or kind
            if offer is not None:
                # Decided when the chain gets there: the offer's own write may still be queued.
                self._chain(iid, lambda: self._return_offer(iid, decision.agent, why))
            self._publish(f"agent:{decision.agent}", "offer_withdrawn", {"interaction": iid, "why": kind})
            for listener in self._end_listeners:
                listener(iid, decision.agent)
        elif kind == "agent_state":
            if self.stats is not None:
                self.stats.agent_state(decision.agent, decision.state, self._clock.now())
            data = to_json(decision)
            self._publish(f"agent:{decision.agent}", "state", data)
            self._publish("supervisors", "agent_state", data)
        elif kind in ("step_relaxed", "overflowed", "queued", "no_agents"):
            data = to_json(decision)
            if iid is not None:
                self._event(iid, kind, None, data)
            self._publish("supervisors", kind, data)
        elif kind == "wrap_up_ended":
            # The channel's wrap-up ended (its timer ran out, the agent logged out...): the
            # interactions of it still in wrap-up are finished, the record saying what ended them.
            for done in [i for i, a in self.wrapping.items()
                         if a == decision.agent and decision.channel in (None, self.channel_of.get(i))]:
                del self.wrapping[done]
                self._after(done, Step.WRAP_UP_END, {"agent": decision.agent, "by": decision.why})
            self._publish(f"agent:{decision.agent}", "wrap_up_ended", to_json(decision))
        else:
            self._publish("supervisors", kind, to_json(decision))

    # --- record keeping, in decision order per interaction (callcenter.dispatch.record_keeping) ---

    def _chain(self, iid: int, work: Callable[[], Awaitable[Any]]) -> None:
        self._records.chain(iid, work)

    async def _return_offer(self, iid: int, agent: str, why: str) -> None:
        if self._states.get(iid) in (State.OFFERED, None):
            await self._records.write_step(iid, Step.RETURN, details={"agent": agent, "why": why})

    def _after(self, iid: int, step: Step, details: Mapping[str, Any], **fields: Any) -> None:
        self._records.step(iid, step, details, **fields)

    def _event(self, iid: int, kind: str, actor: str | None, details: Mapping[str, Any]) -> None:
        self._records.event(iid, kind, actor, details)

    async def _push_offer(self, iid: int, agent: str, decision: Any) -> None:
        await self._push_pop(iid, agent, "offer", {"expires_at": decision.expires_at, "queue": decision.queue})

    async def _push_pop(self, iid: int, agent: str, kind: str, extra: Mapping[str, Any]) -> None:
        pop = await self.screen_pop(iid)
        pop.update(extra)
        self._publish(f"agent:{agent}", kind, pop)

    async def agent_snapshot(self, agent: str) -> dict[str, Any]:
        """Everything the agent's desktop shows, for a page load or a push resynchronisation."""
        view = self.router.agent_view(agent) if agent in self.logged_in else None
        return await self._pops.desktop(agent, view, offers=self.offers, holding=self.holding,
                                        wrapping=self.wrapping, now=self._clock.now())

    async def screen_pop(self, iid: int) -> dict[str, Any]:
        """What the agent's browser shows for ``iid`` (see :mod:`callcenter.dispatch.screen_pops`)."""
        return await self._pops.pop(iid)

    # --- checks ---

    def _queue_known(self, queue: str) -> None:
        if queue not in self.settings.queues:
            raise ValueError(f"unknown queue {queue!r}")

