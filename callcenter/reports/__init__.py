"""Figures for supervisors, computed from the interaction log.

- :mod:`callcenter.reports.intervals`: report intervals (15 min, hour, day) in the site time zone;
- :mod:`callcenter.reports.legs`: a contact's queue legs, derived from its log;
- :mod:`callcenter.reports.kpi`: every figure, defined once over legs and agents' states;
- :mod:`callcenter.reports.export` and :mod:`callcenter.reports.charts`: CSV and SVG of report rows;
- :mod:`callcenter.reports.erlang`: Erlang C staffing;
- :mod:`callcenter.reports.alerts`: live thresholds with raise/clear transitions;
- :mod:`callcenter.reports.summary`: the daily summary email.

Everything here except :mod:`~callcenter.reports.summary` (which renders Jinja2 templates and
awaits an injected sender) is pure: no I/O, no clock, no database; time comes in as values.
The formulas are documented in ``docs/reports.md``.
"""
