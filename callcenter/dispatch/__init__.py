"""Carrying the routing core's decisions out, and everything around that.

:mod:`.switchboard` submits contacts to the routing core and carries its decisions out (the
record, pushes to browsers, the channel); :mod:`.lifecycle` is an interaction's state machine;
:mod:`.routing_rules` matches a contact to its queue; :mod:`.routing_setup` turns the settings
into the core's configuration; :mod:`.recovery` rebuilds the core from the record on start;
:mod:`.dryrun` answers "where would this go" without routing anything.
"""
