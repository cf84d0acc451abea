"""The switchboard's record keeping: each interaction's writes reach the record in decision order.

The routing core decides in order; the record must say the same. :class:`RecordKeeper` keeps a
chain of writes per interaction: each write about an interaction (a state change with its log
entry, a log entry alone, a screen pop that reads what was written) starts once the one before
it finished. The first link is the write that stores the contact
(:meth:`RecordKeeper.track`): log entries about a contact whose write is still being prepared
are collected into that write instead of being written on their own
(:meth:`RecordKeeper.collected_events`). A failed write is logged and does not stop the chain.

The keeper also knows each unfinished interaction's lifecycle state and channel, as its own
writes left them (:mod:`callcenter.dispatch.lifecycle`); an interaction is forgotten once it
ended (completed, abandoned, unhandled).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from callcenter.dispatch.lifecycle import IllegalTransition, State, Step, transition
from callcenter.runtime.clock import Clock

log = Logger(namespace="callcenter.dispatch.switchboard")

LogEntry = tuple[str, "str | None", Mapping[str, Any]]
_FINAL = (State.COMPLETED, State.ABANDONED, State.UNHANDLED)


class RecordKeeper:
    """Writes about interactions, in order per interaction (see the module docstring).

    ``store`` is the :class:`~callcenter.records.store.RecordStore`; ``clock`` stamps the state
    changes. ``states`` and ``channel_of`` map each unfinished interaction's id to its state
    and channel.
    """

    def __init__(self, store: Any, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.states: dict[int, State] = {}
        self.channel_of: dict[int, str] = {}
        self._chains: dict[int, Deferred] = {}
        self._collecting: dict[int, list[LogEntry]] = {}

    def track(self, iid: int, channel: str, state: State, lost: Callable[[int], None]) -> Deferred:
        """A contact about to be stored: every later write about it waits for that write. Fire
        the returned Deferred with the write's outcome; if it fails, ``lost(iid)`` is called and
        the keeper forgets the interaction. Log entries about it are collected (see
        :meth:`collected_events`) until they are asked for."""
        self.channel_of[iid] = channel
        self.states[iid] = state
        stored: Deferred = Deferred()
        self._collecting[iid] = []

        async def wait_for_store() -> None:
            try:
                await stored
            except Exception:
                self.forget(iid)
                lost(iid)
                raise

        self.chain(iid, wait_for_store)
        return stored

    def collected_events(self, iid: int) -> list[LogEntry]:
        """The log entries ``(kind, actor, details)`` about a tracked contact so far; later ones
        are written on their own."""
        return self._collecting.pop(iid, [])

    def forget(self, iid: int) -> None:
        """Drop what is known of ``iid``'s state and channel."""
        self.states.pop(iid, None)
        self.channel_of.pop(iid, None)

    def chain(self, iid: int, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work()`` once every write queued before about ``iid`` has finished.

        The link is in place before ``work`` starts, so writes that ``work`` itself queues
        (routing an interaction queues its offer) come after it, and :meth:`settled` waits
        for them too."""
        previous = self._chains.get(iid)
        link: Deferred = Deferred()
        self._chains[iid] = link

        async def run_after() -> None:
            if previous is not None:
                await previous
            try:
                await work()
            except Exception:  # noqa: BLE001 - one failed write must not stop the chain
                log.failure("recording interaction {iid} failed", iid=iid)

        def done(_: object) -> None:
            if self._chains.get(iid) is link:
                del self._chains[iid]
            link.callback(None)

        ensureDeferred(run_after()).addBoth(done)

    def step(self, iid: int, step: Step, details: Mapping[str, Any], **fields: Any) -> None:
        """Queue the lifecycle ``step`` of ``iid`` (its state change, stamps and log entry)."""
        self.chain(iid, lambda: self.write_step(iid, step, details=details, **fields))

    def event(self, iid: int, kind: str, actor: str | None, details: Mapping[str, Any]) -> None:
        """Queue a log entry about ``iid`` (collected into its storing write while that is prepared)."""
        collecting = self._collecting.get(iid)
        if collecting is not None:
            collecting.append((kind, actor, dict(details)))
            return
        self.chain(iid, lambda: self._store.append_event(iid, kind, actor=actor, details=details))

    async def write_step(self, iid: int, step: Step, details: Mapping[str, Any] | None = None, at: Any = None,
                         **fields: Any) -> None:
        """Write ``step`` of ``iid`` now (from within its chain): the new state, the step's stamp
        (``at``, default now), ``fields`` and the log entry."""
        state = self.states.get(iid)
        if state is None:
            state = State((await self._store.get_interaction(iid)).state)
        try:
            move = transition(state, step)
        except IllegalTransition:
            if state not in _FINAL:
                raise
            # A late report about finished work (a PBX's hang-up for a call a closed queue
            # refused, a duplicate end): the record already says how it ended.
            log.info("interaction {iid} is already {state}; {step} ignored", iid=iid, state=state.value,
                     step=step.value)
            return
        at = at if at is not None else self._clock.utcnow()
        if move.stamp is not None:
            fields[move.stamp] = at
        actor = fields.get("agent") if step in (Step.ACCEPT, Step.CONNECT) else None
        await self._store.update_interaction_state(iid, move.state.value, at=at, actor=actor,
                                                   details=dict(details or {}, step=step.value), **fields)
        self.states[iid] = move.state
        if move.state in _FINAL:
            self.forget(iid)

    async def settled(self) -> None:
        """Wait until every write queued so far (and any it queued) has finished."""
        while self._chains:
            for d in list(self._chains.values()):
                await d
