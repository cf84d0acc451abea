"""Screen pops: what an agent's browser shows of an interaction, read from the record.

A pop holds the interaction, its customer's card and the customer's latest timeline
(:data:`TIMELINE_IN_POP` entries), all from one read of the record
(:meth:`~callcenter.records.store.RecordStore.interaction_view`), plus the channel's own
content when the channel gives any (an email's thread). The switchboard pushes a pop with an
offer; an agent's whole desktop (:meth:`ScreenPops.desktop`) is a pop for each offer, each
held interaction and each one in wrap-up.

The routing core may offer a contact before the write that stores it has committed (a caller
is not kept waiting on the disk). A desktop read in that moment (the agent's state change is
pushed at once and the page reads its desktop again) leaves that offer out; the offer's own
push, sent once the contact is stored, brings it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from callcenter.records.errors import NotFound
from callcenter.web.serialize import to_json

TIMELINE_IN_POP = 20

ContentFor = Callable[[Any], Awaitable[dict[str, Any]]]


class ScreenPops:
    """Builds screen pops from ``store`` (see the module docstring); ``content_for(interaction)``
    gives a channel's content for the pop (None: no channel adds any)."""

    def __init__(self, store: Any, content_for: ContentFor | None = None) -> None:
        self._store = store
        self._content_for = content_for

    async def pop(self, iid: int) -> dict[str, Any]:
        """What the agent's browser shows for ``iid``: customer card, timeline, the interaction."""
        interaction, customer, page = await self._store.interaction_view(iid, TIMELINE_IN_POP)
        pop = {"interaction": to_json(interaction), "customer": to_json(customer), "timeline": to_json(page.items)}
        if self._content_for is not None:
            pop["content"] = await self._content_for(interaction)
        return pop

    async def _stored_pop(self, iid: int) -> dict[str, Any] | None:
        """The pop of ``iid``, or None while the write that stores it has not committed."""
        try:
            return await self.pop(iid)
        except NotFound:
            return None

    async def desktop(self, agent: str, view: Any, *, offers: Mapping[int, Mapping[str, Any]],
                      holding: Mapping[int, str], wrapping: Mapping[int, str], now: float) -> dict[str, Any]:
        """Everything ``agent``'s desktop shows: ``view`` is the routing core's view of the
        agent (None when logged out); ``offers`` (id -> offer with ``agent``, ``queue``,
        ``expires_at``), ``holding`` and ``wrapping`` (id -> agent) the floor's work."""
        pops = []
        for iid, offer in sorted(offers.items()):
            if offer["agent"] == agent:
                pop = await self._stored_pop(iid)
                if pop is not None:
                    pop.update(expires_at=offer["expires_at"], queue=offer["queue"])
                    pops.append(pop)
        work = [p for p in [await self._stored_pop(i) for i, a in sorted(holding.items()) if a == agent] if p]
        wrap = [p for p in [await self._stored_pop(i) for i, a in sorted(wrapping.items()) if a == agent] if p]
        return {"agent": agent, "logged_in": view is not None,
                "state": to_json(view) if view is not None else {"state": "logged_out"},
                "offers": pops, "work": work, "wrap_up": wrap, "now": now}
