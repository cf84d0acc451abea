"""supervision.yaml: defaults, per-queue overrides and located errors."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest

from callcenter.settings import ConfigErrors, load_settings
from callcenter.settings.model import QueueAlertSettings, SupervisionSettings
from callcenter.settings.supervision import alert_settings_of

MINIMAL = Path(__file__).resolve().parents[1] / "config" / "data" / "minimal"


@pytest.fixture
def load(tmp_path, monkeypatch):
    """Load the minimal tree with the given supervision.yaml (None: no file); returns settings or errors."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(MINIMAL, tmp_path / "cfg")

    def run(text):
        if text is not None:
            (tmp_path / "cfg" / "supervision.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
        try:
            return load_settings(Path("cfg"))
        except ConfigErrors as exc:
            return [str(e) for e in exc.errors]

    return run


def test_without_the_file_every_default_applies(load):
    """No supervision.yaml: 5 s short abandons, alerts on target/2 min/no agent, no summary."""
    assert load(None).supervision == SupervisionSettings()
    assert SupervisionSettings().alert_defaults == QueueAlertSettings("target", 120.0, True)


def test_overrides_per_queue_keep_the_other_defaults(load):
    """A queue entry overrides only the keys it gives; the rest come from the defaults section."""
    s = load("""
        supervision:
          short_abandon: 3s
          alerts:
            defaults: {service_level_below: 75, longest_wait_above: off}
            queues:
              billing: {longest_wait_above: 45s, no_agent_logged_in: false}
          daily_summary: {enabled: true, recipients: [a@example.com, b@example.com], send_at: "06:30"}
        """).supervision
    assert s.short_abandon == 3.0
    assert alert_settings_of(s, "support") == QueueAlertSettings(75.0, None, True)
    assert alert_settings_of(s, "billing") == QueueAlertSettings(75.0, 45.0, False)
    assert (s.summary_enabled, s.summary_recipients, s.summary_send_at) == (
        True, ("a@example.com", "b@example.com"), dt.time(6, 30))


def test_errors_name_file_line_and_key(load):
    """Unknown queues, bad values and an enabled summary without recipients are all reported with places."""
    errors = load("""
        supervision:
          short_abandon: soon
          alerts:
            queues:
              nope: {service_level_below: 120}
          daily_summary: {enabled: true, send_at: "7am"}
        """)
    assert errors == [
        "cfg/supervision.yaml:2:3 supervision.short_abandon: must be a duration like 30s",
        "cfg/supervision.yaml:5:7 supervision.alerts.queues.nope: unknown queue 'nope' (not in queues.yaml)",
        "cfg/supervision.yaml:5:14 supervision.alerts.queues.nope.service_level_below: "
        "must be a number from 0 to 100",
        "cfg/supervision.yaml:6:3 supervision.daily_summary: an enabled daily summary needs recipients",
        "cfg/supervision.yaml:6:34 supervision.daily_summary.send_at: must be a local time like 07:00 (24-hour, quoted)",
    ]


def test_reload_summary_names_supervision_changes(load):
    """A reload that changes supervision.yaml says what changed, per key and per queue."""
    from callcenter.settings import diff_settings

    before = load(None)
    after = load("""
        supervision:
          short_abandon: 3s
          alerts:
            queues:
              billing: {longest_wait_above: 45s}
        """)
    assert diff_settings(before, after) == [
        "supervision.short_abandon: 5.0 -> 3.0", "supervision.alert_queues: added billing"]


def test_figures_and_metrics_keys(load):
    """Service-level definition, channel targets, resolved dispositions and /metrics access are read."""
    s = load("""
        supervision:
          service_level: asterisk_sl2
          channel_targets:
            email: {percent: 90, within: 2h}
          resolved_dispositions: [resolved, sale]
          metrics: {token: abcdefghijklmnopqrstuvwx, allow: [127.0.0.1, "10.0.0.0/8", "::1"]}
        """).supervision
    assert s.service_level == "asterisk_sl2" and s.resolved_dispositions == ("resolved", "sale")
    assert (s.channel_targets["email"].percent, s.channel_targets["email"].within) == (90.0, 7200.0)
    assert s.channel_targets["webform"].within == 4 * 3600
    assert s.metrics_allow == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert "abcdefghijklmnop" not in repr(s)  # the token stays out of logs and diffs


def test_bad_figures_and_metrics_keys_are_located_together(load):
    """An unknown definition or channel, a short token and a bad address are each reported with its key."""
    errors = load("""
        supervision:
          service_level: best
          channel_targets:
            fax: {percent: 80, within: 1h}
          metrics: {token: short, allow: [127.0.0.1, somewhere]}
        """)
    text = "\n".join(errors)
    assert "supervision.service_level" in text and "supervision.channel_targets.fax" in text
    assert "supervision.metrics.token" in text and "'somewhere' is not an IP address" in text
    assert len(errors) == 4
