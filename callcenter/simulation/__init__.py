"""Simulation of the routing core, off line: ``callcenter simulate``.

A scenario (:mod:`~callcenter.simulation.scenario`, read and checked by
:mod:`~callcenter.simulation.scenario_file`) is run on simulated time through the same
:class:`routing.Router` the server uses, event by event (:mod:`~callcenter.simulation.simulator`)
or as generated traffic over many seeded runs, a what-if (:mod:`~callcenter.simulation.whatif`).
Nothing here touches the record, the network or the wall clock; it imports the routing core and
the configuration checker only.
"""
