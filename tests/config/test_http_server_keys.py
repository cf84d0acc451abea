"""server.trusted_proxies and server.http_limits: read, defaulted, and refused with their key path."""

from __future__ import annotations

from callcenter.settings import load_settings
from callcenter.settings.model import HttpLimits
from tests.config.conftest import write


def test_limits_and_proxies_are_read_and_the_rest_defaulted(config_dir):
    """Given keys are taken (durations in seconds), missing ones keep the documented defaults."""
    write(config_dir, {"server.yaml": """
        server:
          trusted_proxies: [127.0.0.1, 10.0.0.0/8, "2001:db8::/32"]
          http_limits:
            header_timeout: 5s
            max_connections_per_address: 1000
        """})
    server = load_settings(config_dir).server
    assert server.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "2001:db8::/32")
    assert server.http_limits == HttpLimits(header_timeout=5.0, max_connections_per_address=1000)
    assert HttpLimits().header_timeout == 10.0 and HttpLimits().max_body_bytes == 1024 * 1024


def test_without_the_keys_nothing_is_trusted_and_the_defaults_hold(config_dir):
    """No trusted proxy and the default limits when server.yaml says nothing about them."""
    server = load_settings(config_dir).server
    assert server.trusted_proxies == () and server.http_limits == HttpLimits()


def test_bad_values_are_reported_at_their_keys(errors_of):
    """A host name among the proxies, a duration without a unit, a zero and an unknown key are each named."""
    errors = errors_of({"server.yaml": """
        server:
          trusted_proxies: [proxy.example.com]
          http_limits:
            header_timeout: 10
            max_connections: 0
            max_sockets: 5
        """})
    assert any("server.trusted_proxies[0]" in e and "not an IP address or network" in e for e in errors)
    assert any("server.http_limits.header_timeout" in e and "duration" in e for e in errors)
    assert any("server.http_limits.max_connections" in e for e in errors)
    assert any("max_sockets" in e for e in errors)
