"""From the shipped configuration to the routing core: config, specs and the dry-run router."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.dispatch.routing_rules import match_rule
from callcenter.dispatch.routing_setup import all_available_router, interaction_spec, routing_config
from callcenter.settings import load_settings
from tests.routing.helpers import offers

SHIPPED = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def settings():
    """The shipped configuration, loaded once."""
    return load_settings(SHIPPED)


def test_config_carries_agents_queues_and_policy(settings):
    """Skills, costs, members with priority and delay, overflow and the policy reach the core."""
    config = routing_config(settings)
    assert config.agents["dai"].costs["email"] == 20 and config.agents["bob"].languages == ("en", "zh")
    billing = config.queues["billing"]
    assert [(m.agent, m.priority, m.delay) for m in billing.members] == [("alice", 0, 0.0), ("carol", 0, 0.0),
                                                                        ("dai", 1, 15.0)]
    assert (billing.selection, billing.offer_timeout, billing.wrap_up) == ("longest_idle", 20.0, 45.0)
    assert (billing.overflow_after, billing.overflow_to) == (600.0, "support")
    policy = config.policy
    assert (policy.max_no_answer, policy.no_answer_backoff, policy.reject_delay) == (2, 10.0, 30.0)
    assert policy.preferred_agent_for == 3600.0 and policy.tier_bonuses["platinum"] == 180.0


def test_interaction_spec_from_a_matched_rule(settings):
    """The billing line's ladder, the tier bonus and a preferred agent with the policy's expiry."""
    match = match_rule(settings, {"channel": "voice", "to": "+18005550102", "tier": "gold"})
    spec = interaction_spec(settings, match, iid=7, channel="voice", tier=match.tier, virtual_start=1000.0,
                            preferred=("carol", ("dai", 1060.0), "nobody"), customer_key="42")
    assert (spec.id, spec.queue, spec.tier, spec.tier_bonus) == (7, "billing", "gold", 60.0)
    assert [(s.requirement.text, s.duration) for s in spec.ladder] == [("billing >= 4", 30.0), ("billing >= 2", 60.0)]
    assert spec.preferred == (("carol", 4600.0), ("dai", 1060.0))


def test_dry_run_router_has_everyone_available(settings):
    """In the dry-run router every agent is available, and the billing call goes to alice (billing 5)."""
    router = all_available_router(settings)
    assert {v.state for v in router.agents()} == {"available"}
    match = match_rule(settings, {"channel": "voice", "to": "+18005550102"})
    spec = interaction_spec(settings, match, iid=1, channel="voice", tier=match.tier, virtual_start=0.0)
    explained = router.explain(spec, 0.0)
    assert explained["agents"] == {"alice": "eligible", "carol": "requirement:billing >= 4",
                                   "dai": "queue_delay:15s"}
    assert offers(router.submit(spec, 0.0)) == [(1, "alice")]
