"""The audit trail of the record."""

from __future__ import annotations

import pytest

from callcenter.records.errors import InvalidInput


def test_audit_entries_come_back_newest_first_and_filtered(run, store):
    """Recorded entries are read back newest first, optionally by action prefix."""
    run(store.record_audit("config.reload", "config", actor="it-admin", details={"changes": ["queues: added x"]}))
    run(store.record_audit("agent.state", "agent", 7, actor="sup1", details={"state": "not_ready"}))
    entries = run(store.recent_audit())
    assert [e.action for e in entries] == ["agent.state", "config.reload"]
    assert entries[1].details == {"changes": ["queues: added x"]} and entries[1].actor == "it-admin"
    only = run(store.recent_audit("config."))
    assert [(e.action, e.subject_kind, e.subject_id) for e in only] == [("config.reload", "config", 0)]


def test_audit_rejects_a_bad_action_name_and_stores_nothing(run, store):
    """An action that is not an identifier is InvalidInput naming it; nothing is written."""
    with pytest.raises(InvalidInput) as info:
        run(store.record_audit("Bad Action!", "config"))
    assert info.value.field == "action"
    assert run(store.recent_audit()) == []
