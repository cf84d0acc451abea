"""The shipped config/ directory is a working example center."""

from __future__ import annotations

import io
from pathlib import Path

from callcenter.settings import check_config_main, load_settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"


def test_shipped_config_passes_check_config():
    """`check-config` on the shipped directory exits 0 and prints the OK summary."""
    out = io.StringIO()
    assert check_config_main(SHIPPED, out) == 0
    assert out.getvalue().startswith("configuration OK:")


def test_shipped_config_runs_on_one_machine():
    """The shipped defaults listen on loopback and keep outside-server channels disabled."""
    settings = load_settings(SHIPPED)
    server = settings.server
    assert (server.http_host, server.http_port) == ("127.0.0.1", 8080)
    assert (server.fastagi_host, server.fastagi_port) == ("127.0.0.1", 4573)
    assert (server.smtp_host, server.smtp_port) == ("127.0.0.1", 2525)
    assert server.database_url is None and server.data_dir == Path("var")
    assert {"en", "zh"} <= set(server.languages)
    assert not settings.telephony.ami.enabled
    assert not settings.email.relay.enabled
    assert all(box.imap is None or not box.imap.enabled for box in settings.email.mailboxes.values())


def test_shipped_config_has_the_example_center():
    """Three queues, a contact form, and every template in English and Chinese."""
    settings = load_settings(SHIPPED)
    assert set(settings.queues) == {"support", "billing", "sales"}
    assert "contact" in settings.webform.forms
    assert settings.rules[-1].conditions is None
    for name in ("email_auto_ack", "closed_hours", "email_reply", "form_confirmation"):
        for language in ("en", "zh"):
            assert settings.templates.has(name, language), (name, language)


def test_overrides_replace_server_keys():
    """CLI overrides win over server.yaml for the four overridable keys."""
    settings = load_settings(SHIPPED, {"http_port": 9090, "data_dir": "/tmp/x",
                                       "database_url": "sqlite://", "http_host": "0.0.0.0"})
    assert settings.server.http_port == 9090
    assert settings.server.data_dir == Path("/tmp/x")
    assert settings.server.database_url == "sqlite://"
    assert settings.server.http_host == "0.0.0.0"
