"""``wrap_up`` in queues.yaml: one duration, or one per channel, checked and handed to the routing core."""

from __future__ import annotations

from callcenter.dispatch.routing_setup import routing_config


def queues_with(wrap_up: str) -> dict[str, str]:
    """The minimal tree's queues, billing with ``wrap_up: <wrap_up>``."""
    return {"queues.yaml": f"""
        queues:
          support:
            members: {{skills: {{technical: 1}}}}
          billing:
            members: {{agents: [alice, bob]}}
            wrap_up: {wrap_up}
        """}


def test_a_wrap_up_per_channel_reaches_the_routing_core(settings_of):
    """``wrap_up: {default: 30s, email: 0s}``: calls and forms wrap up 30 s, emails not at all."""
    settings = settings_of(queues_with("{default: 30s, email: 0s}"))
    q = routing_config(settings).queues["billing"]
    assert (q.wrap_up_for("voice"), q.wrap_up_for("webform"), q.wrap_up_for("email")) == (30.0, 30.0, 0.0)


def test_a_single_wrap_up_applies_to_every_channel(settings_of):
    """``wrap_up: 45s`` is every channel's wrap-up, as before."""
    settings = settings_of(queues_with("45s"))
    q = routing_config(settings).queues["billing"]
    assert (q.wrap_up, dict(q.wrap_up_by_channel), q.wrap_up_for("email")) == (45.0, {}, 45.0)


def test_a_misspelled_channel_in_wrap_up_is_an_error_at_its_key(errors_of):
    """``wrap_up: {emial: 0s}`` is reported at the key with the channels it may be."""
    errors = errors_of(queues_with("{voice: 30s, emial: 0s}"))
    assert len(errors) == 1
    assert "queues.yaml:6:" in errors[0] and "queues.billing.wrap_up.emial" in errors[0]
    assert "unknown channel; expected one of: default, email, voice, webform" in errors[0]
