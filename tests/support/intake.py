"""A real intake pipeline for tests of one channel: a Switchboard and routing core on given settings.

``RecordingIntake(store, settings, clock)`` builds the pieces the server builds (Switchboard,
Router on the settings' routing configuration, IntakePipeline) and keeps every admission in
:attr:`admitted` as ``(contact, admission)``, so a channel's test sees what it handed in and
where the pipeline routed it.
"""

from __future__ import annotations

from typing import Any

from callcenter.intake.contact import Contact
from callcenter.intake.pipeline import Admission, IntakePipeline
from callcenter.dispatch.routing_setup import interaction_spec, routing_config
from callcenter.dispatch.switchboard import Switchboard
from routing import Router


class RecordingIntake:
    """The intake pipeline over a real switchboard; :meth:`admit` has the pipeline's signature."""

    def __init__(self, store: Any, settings: Any, clock: Any) -> None:
        self.switchboard = Switchboard(settings=settings, clock=clock, store=store,
                                       router=Router(routing_config(settings)), spec_builder=interaction_spec)
        self.pipeline = IntakePipeline(store=store, switchboard=self.switchboard, clock=clock)
        self.admitted: list[tuple[Contact, Admission]] = []

    async def admit(self, contact: Contact, **options: Any) -> Admission:
        """:meth:`IntakePipeline.admit`, remembering the contact and its admission."""
        admission = await self.pipeline.admit(contact, **options)
        self.admitted.append((contact, admission))
        return admission
