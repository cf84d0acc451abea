"""An email interaction, once stored, handed to the routing core.

Email decides inside its one write whether a message makes a contact at all (a re-delivery,
a reply to open work, automatic mail do not), so its routing step follows the commit; the
interaction is already stored queued, with its ``queued_at`` and ``routed`` entry
(:meth:`callcenter.intake.email.MailFlow.placement`), so routing it writes no state change.
:func:`route_stored` takes the routing step the intake pipeline takes for every channel
(:func:`callcenter.intake.pipeline.hand_over`): the switchboard tracks the interaction, the
core is asked at once, in the queue the record holds and from its ``queued_at`` (where a
restart would put it back in line), and what the core said at once (``queued``,
``no_agents``) is logged before anything the switchboard does next about it (the offer's
record, the screen pop). A reopened interaction takes the same step.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from twisted.logger import Logger

from callcenter.dispatch.lifecycle import State
from callcenter.intake.pipeline import hand_over
from callcenter.records.model import Interaction

log = Logger(namespace="callcenter.intake.email")


def route_stored(board: Any, store: Any, interaction: Interaction, match: Any, facts: Mapping[str, Any]) -> None:
    """Hand the stored, queued email ``interaction`` to the routing core through ``board`` (the
    :class:`~callcenter.dispatch.switchboard.Switchboard`); ``match`` is the rule the flow
    matched on ``facts``; the core's first words are appended through ``store`` (the
    :class:`~callcenter.records.store.RecordStore`), group-committed with the other writes of
    the moment."""
    iid = interaction.id
    if interaction.queue and interaction.queue != match.queue:
        match = replace(match, queue=interaction.queue)  # the unreadable queue, a reopened case's own
    at = interaction.queued_at or board.clock_now()
    head, said = hand_over(board, iid, interaction.channel, State(interaction.state), match, facts,
                           start=at.timestamp(), at=at, customer_key=str(interaction.customer_id))
    if not said:
        head.callback(None)
        return
    written = store.append_events([(iid, kind, actor, details) for kind, actor, details in said])
    written.addErrback(lambda failure: log.failure("what the routing core said of email {iid} was not logged",
                                                   failure, iid=iid))
    # The interaction is stored: whatever became of these entries, the switchboard carries on.
    written.addBoth(lambda _: head.callback(None))
