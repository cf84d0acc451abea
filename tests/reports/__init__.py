"""Tests of the reports: KPIs, Erlang C, alerts, the daily summary and the report pages."""
