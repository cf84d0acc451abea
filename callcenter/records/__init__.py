"""The unified customer record: tables, identity resolution, interaction log, migrations.

Entry points for the rest of the server:

- :class:`callcenter.records.database.Database`: engine + bounded thread pools; units of
  work with post-commit event publication; ``ping()`` for ``/health``.
- :class:`callcenter.records.store.RecordStore`: the async API (customers, contact points,
  merge, timeline, interactions, event log) returning the frozen dataclasses of
  :mod:`callcenter.records.model`.
- :mod:`callcenter.records.migrate`: ``upgrade(url)`` and ``schema_state(url)``.
- :mod:`callcenter.records.errors`: NotFound, InvalidInput, InvalidContact, Conflict.
- :mod:`callcenter.records.normalize`: E.164 phones and normalized emails.

The sync units of work live in :mod:`~callcenter.records.customers` and
:mod:`~callcenter.records.interactions`; group commit and lookup coalescing in
:mod:`~callcenter.records.batching` and :mod:`~callcenter.records.group_commit`.
"""
