"""Config reload tells apart what it put in force and what waits for a restart (secrets included)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callcenter.runtime.reload import ConfigReloader, needs_restart
from callcenter.settings import load_settings
from tests.telephony.logcapture import captured_log

SHIPPED = Path(__file__).resolve().parents[2] / "config"
NEW_SECRETS = ("new-cti-token-0123456789", "new-imap-password", "new-relay-password")


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A scratch copy of the shipped configuration."""
    shutil.copytree(SHIPPED, tmp_path / "cfg")
    return tmp_path / "cfg"


def test_changed_secrets_are_reported_as_needing_a_restart_and_never_shown(run, shipped_copy):
    """A new CTI token, IMAP password and relay password are listed in needs_restart (outcome, JSON,
    log and audit) without their values; a queue change in the same reload is applied live."""
    current = load_settings(shipped_copy, {})
    applied, audited = [], []

    async def audit(action, details, actor):
        audited.append((action, details, actor))

    reloader = ConfigReloader(shipped_copy, {}, current, lambda old, new: applied.append(new), audit)
    channels = shipped_copy / "channels.yaml"
    text = channels.read_text().replace("token: null", f"token: {NEW_SECRETS[0]}")
    text = text.replace("        password: CHANGE-ME", f"        password: {NEW_SECRETS[1]}")
    text = text.replace("    password: CHANGE-ME\n    from:", f"    password: {NEW_SECRETS[2]}\n    from:")
    channels.write_text(text)
    queues = shipped_copy / "queues.yaml"
    queues.write_text(queues.read_text().replace("offer_timeout: 20s", "offer_timeout: 25s", 1))
    with captured_log("callcenter.runtime.reload") as lines:
        outcome = run(reloader.reload("it-admin"))
    assert outcome.applied and len(applied) == 1
    assert outcome.changes == ("queues.support: changed offer_timeout", "telephony.cti_token: changed",
                               "email.mailboxes.support: changed imap", "email.relay.password: changed")
    assert outcome.needs_restart == outcome.changes[1:]
    as_json = outcome.to_json()
    assert as_json["needs_restart"] == list(outcome.needs_restart)
    (action, details, actor), = audited
    assert details["needs_restart"] == list(outcome.needs_restart) and actor == "it-admin"
    assert any("take effect only after a restart" in line for line in lines)
    everything = repr((as_json, audited, lines))
    assert not any(secret in everything for secret in NEW_SECRETS)


@pytest.mark.parametrize("change,restart", [
    ("server.http_port: 8080 -> 8081", True),
    ("telephony.cti_token: changed", True),
    ("email.relay.password: changed", True),
    ("email.mailboxes.support: changed imap", True),
    ("email.reply_template: a -> b", True),
    ("queues.billing: changed offer_timeout", False),
    ("queues: added sales", False),
    ("rules: order changed", False),
    ("supervision.alert_queues: added sales", False),
    ("templates: changed email.reply.en", False),
    ("queuesx.odd: changed", True),
])
def test_needs_restart_by_section(change, restart):
    """Only the sections apply() puts in force count as live; anything else, unknown ones too, needs a restart."""
    assert needs_restart(change) is restart
