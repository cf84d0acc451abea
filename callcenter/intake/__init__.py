"""The intake pipeline: where a contact from any channel becomes a routed interaction.

Every channel hands its contact (:class:`~callcenter.intake.contact.Contact`) to
:class:`~callcenter.intake.pipeline.IntakePipeline`, which runs the same steps in the same
order for all of them: the pure steps first (normalize the contact points, match the routing
rules), then the customer from memory or one shared read, then the routing core (through the
switchboard) and, in the same moment, the one write that stores the contact, group-committed
with the others arriving together. ``docs/architecture.md`` draws the path.

The modules beside it turn one channel's input into a contact and carry the channel's side
of the conversation: :mod:`.voice_calls` (calls on FastAGI), :mod:`.pbx_events` (what the PBX
reports over AMI and the CTI API), :mod:`.webform` (form submissions).
"""
