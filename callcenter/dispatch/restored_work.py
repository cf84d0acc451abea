"""Taking back the record's unfinished work after a restart: the switchboard's restart side.

:class:`RestoredWork` is the part of :class:`~callcenter.dispatch.switchboard.Switchboard` that
:mod:`callcenter.dispatch.recovery` drives before any traffic: contacts waiting in line, work
held by an agent and wrap-ups go back into the routing core where the record has them, and a
contact that never went back in line is abandoned from where it stood.
"""

from __future__ import annotations

from typing import Any

from callcenter.dispatch.lifecycle import State, Step


class RestoredWork:
    """The record's unfinished work back in the core (see the module docstring); mixed into
    the switchboard, whose state (``router``, ``channel_of``, ``holding``, ``wrapping``,
    ``_states``, ``_meta``) and record keeping (``_run``, ``_after``) it uses."""

    def restore(self, contacts: Any) -> None:
        """Take back the unfinished work the record holds, before any traffic (see :mod:`callcenter.dispatch.recovery`).

        Each contact (a :class:`callcenter.dispatch.recovery.RestoredContact`) waits in line (``resume``),
        is held by ``agent``, or is in ``agent``'s wrap-up; its ``step`` (an offer withdrawn, work
        an unknown agent held) is logged first. A wrap-up runs in the core until its queue's
        wrap-up for the channel after ``ended_at`` (:meth:`_restore_wrap_ups`), so its timer and
        the agent's :meth:`end_wrap_up` finish it as any other. Raises what the routing core raises.
        """
        waiting, wraps = [], []
        for c in contacts:
            self.channel_of[c.iid] = c.channel
            self._states[c.iid] = c.state
            if c.state is State.WRAP_UP:
                self.wrapping[c.iid] = c.agent
                wraps.append(c)
                continue
            self._meta[c.iid] = {"queue": c.queue, "start": c.start, "fallback": c.fallback}
            if c.step is not None:
                self._after(c.iid, c.step, c.details)
            if c.resume is not None:
                waiting.append(c.resume)
                continue
            self.holding[c.iid] = c.agent
            self._meta[c.iid]["accepted"] = c.accepted_at
            self._run(lambda now, c=c: self.router.restore_held(c.spec, c.agent, c.accepted_at, now))
        # Before the waiting work: an agent in wrap-up must not be offered it meanwhile.
        self._restore_wrap_ups(wraps)
        self._run(lambda now: self.router.restore_waiting(waiting, now))

    def _restore_wrap_ups(self, contacts: list[Any]) -> None:
        """Put the restored wrap-ups back in the core, one per agent and channel.

        Several interactions of one channel in an agent's wrap-up share it, as when a second
        one ended during it (:meth:`routing.Router.complete`): it ends at the latest of their
        ends, and its ``wrap_up_ended`` finishes them all. One restored per contact could end a
        past one at once and finish the others with it. A wrap-up of an agent no longer
        configured (or of none) is finished at once: nobody could ever end it.
        """
        ends: dict[tuple[str, str], float] = {}
        for c in contacts:
            if c.agent not in self.router.config.agents:
                del self.wrapping[c.iid]
                self._after(c.iid, Step.WRAP_UP_END, {"agent": c.agent, "by": "agent_not_configured"})
                continue
            queue = self.router.config.queues.get(c.queue)
            until = c.ended_at + (queue.wrap_up_for(c.channel) if queue is not None else 0.0)
            ends[(c.agent, c.channel)] = max(ends.get((c.agent, c.channel), until), until)
        for (agent, channel), until in sorted(ends.items()):
            self._run(lambda now, a=agent, ch=channel, u=until: self.router.restore_wrap_up(a, ch, u, now))

    def abandon_unrouted(self, contact: Any, reason: str) -> None:
        """A restored contact that never went back in line (a call whose caller left while the
        server was down) is abandoned from where the record has it (queued or offered)."""
        self.channel_of[contact.iid] = contact.channel
        self._states[contact.iid] = contact.state
        self._after(contact.iid, Step.ABANDON, {"reason": reason})
