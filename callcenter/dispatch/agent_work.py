"""What agents do, and what becomes of the work they hold: the switchboard's agent side.

:class:`AgentWork` is the part of :class:`~callcenter.dispatch.switchboard.Switchboard` that
agents' desktops and their phones drive: signing in and out, the agent state with its reason
codes, accepting or rejecting an offer, the call connected on their phone, finishing the work
and its wrap-up, and click-to-dial calls they place. Each command goes to the routing core
(``_run``) and the record (``_after``) through the switchboard's own machinery, and the checks
here (:class:`NotYours`, :class:`UnknownAgent`, :class:`InvalidState`) keep an agent to their
own work.
"""

from __future__ import annotations

from typing import Any

from callcenter.dispatch.lifecycle import State, Step
from routing import InteractionSpec


class NotYours(Exception):
    """The agent asked to act on an interaction that is not offered to or held by them."""


class UnknownAgent(Exception):
    """No configured agent has this login."""


class InvalidState(ValueError):
    """An agent state change names an unknown state or reason; ``field`` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class AgentWork:
    """Agents' commands and their work's end (see the module docstring); mixed into the
    switchboard, whose state (``router``, ``settings``, ``offers``, ``holding``, ``wrapping``,
    ``logged_in``) and record keeping (``_run``, ``_after``, ``_count``) it uses."""

    # Provided by the Switchboard this is mixed into.
    router: Any
    settings: Any
    offers: dict[int, dict[str, Any]]
    holding: dict[int, str]
    wrapping: dict[int, str]
    logged_in: set[str]
    channel_of: dict[int, str]
    _states: dict[int, State]
    _clock: Any

    def login(self, agent: str) -> None:
        """The agent logs in (not ready until they say available)."""
        self._agent(agent)
        self._run(lambda now: self.router.agent_login(agent, now))
        self.logged_in.add(agent)

    def ensure_logged_in(self, agent: str) -> None:
        """Log the agent in unless they are."""
        if agent not in self.logged_in:
            self.login(agent)

    def logout(self, agent: str) -> None:
        """The agent logs out: the wrap-ups they are in end (recorded ``by: logout``, from the
        core's decisions). Raises what the routing core raises (work in hand)."""
        self._run(lambda now: self.router.agent_logout(agent, now))
        self.logged_in.discard(agent)

    def change_state(self, agent: str, state: Any, reason: Any = None) -> None:
        """Set the agent available, not ready with a configured reason code, or logged out.

        Raises :class:`InvalidState` naming ``state`` or ``reason`` for a value not allowed."""
        if reason is not None and not isinstance(reason, str):  # also keeps lists out of the lookup below
            raise InvalidState("reason", "reason must be a reason code (a string) or null")
        if state == "available":
            self.ensure_logged_in(agent)
            self.set_available(agent)
        elif state == "not_ready":
            if reason not in self.settings.reason_codes:
                raise InvalidState("reason", "reason must be one of the configured reason codes")
            self.ensure_logged_in(agent)
            self.set_not_ready(agent, reason)
        elif state == "logged_out":
            self.logout(agent)
        else:
            raise InvalidState("state", "state must be available, not_ready or logged_out")

    def set_available(self, agent: str) -> None:
        """The agent is ready for offers."""
        self._run(lambda now: self.router.set_available(agent, now))

    def set_not_ready(self, agent: str, reason: str) -> None:
        """The agent pauses with a configured reason code (ValueError for an unknown one)."""
        if reason not in self.settings.reason_codes:
            raise ValueError(f"unknown reason code {reason!r}")
        self._run(lambda now: self.router.set_not_ready(agent, reason, now))

    def set_phone_registered(self, agent: str, registered: bool) -> None:
        """The agent's phone registered or went away (AMI device state)."""
        self._run(lambda now: self.router.set_phone_registered(agent, registered, now))

    def accept(self, agent: str, iid: int) -> None:
        """The agent accepts the offer of ``iid``; :class:`NotYours` if it is not offered to them."""
        self._own_offer(agent, iid)
        self._run(lambda now: self.router.accept(iid, agent, now))
        self.offers.pop(iid, None)
        self.holding[iid] = agent
        self._count(iid, "answered")
        self._after(iid, Step.ACCEPT, {"agent": agent}, agent=agent)
        if self.channel_of.get(iid) != "voice":
            self._after(iid, Step.CONNECT, {"agent": agent})

    def reject(self, agent: str, iid: int) -> None:
        """The agent turns the offer down; it goes back in line (not to this agent for a while)."""
        self._own_offer(agent, iid)
        # The core's offer_withdrawn decision removes the offer (and logs the return); popping it
        # afterwards would drop the offer the core may have made at once to the next agent.
        self._run(lambda now: self.router.reject(iid, agent, now))

    def is_offered(self, iid: int, agent: str) -> bool:
        """True while ``iid`` is offered to ``agent``."""
        return self.offers.get(iid, {}).get("agent") == agent

    def connected(self, iid: int, agent: str) -> None:
        """The customer and the agent are connected (a call was answered on the agent's phone)."""
        self.offers.pop(iid, None)
        self._run(lambda now: self.router.accept(iid, agent, now))
        self.holding[iid] = agent
        self._count(iid, "answered")
        self._after(iid, Step.ACCEPT, {"agent": agent}, agent=agent)
        self._after(iid, Step.CONNECT, {"agent": agent})

    def complete(self, iid: int, agent: str | None = None, disposition: str | None = None,
                 notes: str | None = None) -> None:
        """The customer part is over: the agent goes to the queue's wrap-up."""
        fields = {k: v for k, v in (("disposition", disposition), ("notes", notes)) if v is not None}
        self._run(lambda now: self.router.complete(iid, now))
        self._count(iid, "completed")
        holder = self.holding.pop(iid, None) or agent
        self._after(iid, Step.END, {"agent": holder}, **fields)
        if holder is not None and holder in self.settings.agents and \
                self.channel_of.get(iid) not in dict(self.router.agent_view(holder).wrap_ups):
            # No wrap-up (the queue has none, or the agent logged out): finished at once, since
            # no wrap_up_ended decision will ever come for it.
            self._after(iid, Step.WRAP_UP_END, {"agent": holder, "by": "no_wrap_up"})
        elif holder is not None:
            self.wrapping[iid] = holder

    def end_wrap_up(self, agent: str, iid: int | None = None, disposition: str | None = None,
                    notes: str | None = None) -> None:
        """The agent finished the after-work of ``iid`` (with the disposition and notes) before
        the timer ran out; recorded ``by: agent``. ``iid`` None finishes all of theirs.

        The core's wrap-up is per channel, shared by the interactions of that channel the agent
        wraps up: it ends with the last of them, so finishing one interaction leaves the others
        (of its channel or another) in wrap-up until their timer or their own end. Nothing
        happens for an ``iid`` the agent is not wrapping up. ValueError for an unknown disposition.
        """
        if disposition is not None and disposition not in self.settings.dispositions:
            raise ValueError(f"unknown disposition {disposition!r}")
        fields = {k: v for k, v in (("disposition", disposition), ("notes", notes)) if v is not None}
        done = [i for i, a in self.wrapping.items() if a == agent and (iid is None or i == iid)]
        # Read before the write is queued: the record keeper forgets a finished one's channel.
        channel = self.channel_of.get(iid) if iid is not None else None
        # Recorded before the core runs: its wrap_up_ended decision ends only what is left.
        for i in done:
            del self.wrapping[i]
            self._after(i, Step.WRAP_UP_END, {"agent": agent, "by": "agent"}, **(fields if i == iid else {}))
        if iid is None:
            self._run(lambda now: self.router.end_wrap_up(agent, now))
        elif done and channel is not None and \
                not any(a == agent and self.channel_of.get(i) == channel for i, a in self.wrapping.items()):
            self._run(lambda now: self.router.end_wrap_up(agent, now, channel))

    def start_outbound(self, iid: int, agent: str) -> None:
        """``agent`` is placing the outbound call ``iid`` (click-to-dial, logged ``accepted``): the
        core counts it as their work, so no other call is offered to them meanwhile. It ends
        with :meth:`complete` (wrap-up of the agent's first queue) or :meth:`outbound_failed`."""
        queues = sorted(q for q, cfg in self.settings.queues.items()
                        if any(m.agent == agent for m in cfg.members)) or sorted(self.settings.queues)
        spec = InteractionSpec(id=iid, channel="voice", queue=queues[0], virtual_start=self._clock.now())
        self.channel_of[iid] = "voice"
        self._states[iid] = State.ACCEPTED
        self.holding[iid] = agent
        self._run(lambda now: self.router.restore_held(spec, agent, now, now))

    def outbound_connected(self, iid: int, agent: str) -> None:
        """The agent's phone answered the outbound call; the customer is being dialled."""
        self._after(iid, Step.CONNECT, {"agent": agent})

    def outbound_failed(self, iid: int, agent: str, reason: str) -> None:
        """The outbound call never got going (the agent's phone did not answer): it ends, with
        no wrap-up, and the agent is free again (the wrap-ups they were in run on)."""
        self.holding.pop(iid, None)
        self._run(lambda now: self.router.complete(iid, now, wrap_up=False))
        self._after(iid, Step.END, {"agent": agent, "reason": reason})
        self._after(iid, Step.WRAP_UP_END, {"agent": agent, "reason": reason})

    def _agent(self, agent: str) -> Any:
        try:
            return self.settings.agents[agent]
        except KeyError:
            raise UnknownAgent(agent) from None

    def _own_offer(self, agent: str, iid: int) -> None:
        offer = self.offers.get(iid)
        if offer is None or offer["agent"] != agent:
            raise NotYours(f"interaction {iid} is not offered to {agent}")

    def require_holder(self, agent: str, iid: int, wrap_up: bool = False, offered: bool = False) -> None:
        """:class:`NotYours` unless ``agent`` holds ``iid`` (or wraps it up / is offered it, if allowed)."""
        if self.holding.get(iid) == agent:
            return
        if wrap_up and self.wrapping.get(iid) == agent:
            return
        if offered and self.offers.get(iid, {}).get("agent") == agent:
            return
        raise NotYours(f"interaction {iid} is not held by {agent}")
