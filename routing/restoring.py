"""Putting the core back as the record says it was: waiting work in line, work held by agents,
agents' wrap-ups.

:class:`Restoring` is the part of :class:`routing.router.Router` a restart uses. The core is an
index of the record; after a stop the application reads every unfinished interaction and hands
it back here. Nothing is decided while restoring (no offers, no overflow for want of agents,
no ``queued`` decisions to log 100,000 times): work keeps its original virtual start, its
current queue and priority, and the ladder step it has reached by ``now``; agents' held work
counts against their capacity again, and their wrap-ups run again until the end they had. Deadlines
already passed (an overflow, a ladder step) are due at the next :meth:`~routing.router.Router.tick`,
so the core catches up as of ``now``; a wrap-up already over ends at once instead (its
``wrap_up_ended`` decision is what closes it in the record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from routing.decisions import Decision, WrapUpEnded
from routing.errors import RoutingError, check_time
from routing.model import InteractionSpec, LadderStep
from routing.state import AgentState, HeldItem, WaitingItem


@dataclass(frozen=True)
class Resume:
    """A waiting interaction to put back in line.

    ``spec`` carries its current queue and priority and its original ``virtual_start``;
    ``queued_since`` is when it entered that queue (overflow counts from there) and
    ``ladder_since`` when its requirement ladder started (its first submission).
    """

    spec: InteractionSpec
    queued_since: float
    ladder_since: float


def ladder_position(ladder: tuple[LadderStep, ...], since: float, now: float) -> tuple[int, float]:
    """``(step, step_since)`` of a ladder started at ``since``, as of ``now``.

    Each timed step ends ``duration`` after the previous one ended, as the core's ticks relax
    it; ``-1`` means no ladder and ``len(ladder)`` fully relaxed (any queue member qualifies).
    """
    if not ladder:
        return -1, since
    step = 0
    while step < len(ladder) and ladder[step].duration is not None and since + ladder[step].duration <= now:
        since += ladder[step].duration
        step += 1
    return step, since


class Restoring:
    """Restart commands (a mixin of the router); they decide nothing, see the module docstring."""

    _agents: dict[str, AgentState]
    _waiting: dict[int, WaitingItem]
    _held: dict[int, HeldItem]
    _preferring: dict[str, set[int]]
    _free: set[str]
    _lines: Any
    _deadlines: Any
    config: Any

    def restore_waiting(self, resumes: Iterable[Resume], now: float) -> list[Decision]:
        """Put waiting work back in line (see the module docstring); returns agents' state changes.

        Raises :class:`RoutingError` for an unknown queue or an id already routed (listed
        twice, or already in the core), before anything changes.
        """
        check_time(now)
        resumes = list(resumes)
        seen: set[int] = set()
        for r in resumes:
            iid = r.spec.id
            for value, what in ((r.spec.virtual_start, "virtual_start"), (r.queued_since, "queued_since"),
                                (r.ladder_since, "ladder_since")):
                check_time(value, f"interaction {iid}: {what}")
            if r.spec.queue not in self.config.queues:
                raise RoutingError(f"interaction {iid}: unknown queue {r.spec.queue!r}")
            if iid in seen or iid in self._waiting or iid in self._held:
                raise RoutingError(f"interaction {iid} is already routed")
            seen.add(iid)
        self._now = now
        items = []
        for r in resumes:
            spec = r.spec
            step, step_since = ladder_position(spec.ladder, r.ladder_since, now)
            items.append(WaitingItem(spec, spec.queue, spec.virtual_start, spec.priority,
                                     self._key(spec, spec.priority, spec.virtual_start), step, step_since,
                                     r.queued_since))
        # One sort and one bulk insert per line instead of an insertion per item.
        self._lines.add_many((item.queue, item.key, item.spec.channel) for item in items)
        for item in items:
            self._waiting[item.spec.id] = item
            self._file_final(item, True)
            for agent, _ in item.spec.preferred:
                self._preferring.setdefault(agent, set()).add(item.spec.id)
            self._arm_item(item)
        # agent by agent, not as one moment (Matching._settle): here thousands of free agents
        # may want the same work, and one walk of the lines per agent keeps this cheap
        out: list[Decision] = []
        for agent_id in sorted(self._free):
            out += self._fill_agent(agent_id, now)
        return out + self._states(now)

    def restore_held(self, spec: InteractionSpec, agent: str, accepted_at: float, now: float) -> list[Decision]:
        """``agent`` holds ``spec`` (accepted at ``accepted_at``, from ``spec.queue``) again.

        The agent's used capacity counts it whatever their state (a logged-out agent logs
        back in holding it). Raises :class:`UnknownAgent`, or :class:`RoutingError` for an id
        already routed.
        """
        check_time(now)
        check_time(accepted_at, f"interaction {spec.id}: accepted_at")
        a = self._agent(agent)
        if spec.id in self._waiting or spec.id in self._held:
            raise RoutingError(f"interaction {spec.id} is already routed")
        a.work[spec.id] = spec.channel
        a.used += a.cfg.cost(spec.channel)
        self._held[spec.id] = HeldItem(spec, agent, spec.queue, accepted_at)
        return self._after_agent(agent, now, fill=False)

    def restore_wrap_up(self, agent: str, channel: str, until: float, now: float) -> list[Decision]:
        """``agent``'s wrap-up of ``channel`` runs again until ``until`` (when the interaction
        ended plus its queue's wrap-up for the channel).

        It is the wrap-up :meth:`~routing.router.Router.complete` starts: no new work of
        ``channel`` (nor of a blocking channel: a call) is offered to the agent before ``until``,
        other channels go on; a second one of the same channel extends it to the later end; it
        ends at ``until`` (a tick's ``wrap_up_ended`` decision) or earlier by
        :meth:`~routing.router.Router.end_wrap_up`. Unlike ``complete``, which starts none for an
        agent logged out, it holds whatever the agent's state: after a restart every agent is
        logged out, and the wrap-up they were in should neither be cut short nor start over
        because the server stopped. An agent who signs in before ``until`` is in wrap-up for
        what is left of it; one who does not still has it end at ``until``. Like any wrap-up, it
        ends at a logout (:meth:`~routing.router.Router.agent_logout`), with its decision.

        A wrap-up whose end is not after ``now`` ends at once: its ``wrap_up_ended`` decision is
        returned, unless a running wrap-up of the channel covers it (that one ends at its own
        time). Otherwise returns the agent's state change, if any. Raises
        :class:`UnknownAgent`, or :class:`InvalidTime` for ``now`` or ``until``, before any change.
        """
        check_time(now)
        check_time(until, f"agent {agent!r}: wrap-up of {channel!r} until")
        a = self._agent(agent)
        self._now = now
        running = a.wraps.get(channel)
        if until <= now:
            return [] if running is not None else [WrapUpEnded(now, agent, channel)]
        if running is None or running < until:
            a.wraps[channel] = until
            self._deadlines.push(until, "wrap", (agent, channel))
        return self._after_agent(agent, now, fill=False)
