"""Dry runs of the routing rules: the command's report and the admin API's dict."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from callcenter.dispatch.dryrun import NO_LIVE_STATE, dry_run, route_main
from callcenter.settings import load_settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"
MONDAY_NOON = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)


def route(tmp_path: Path, interaction: dict | str, config: Path = SHIPPED) -> tuple[int, list[str]]:
    path = tmp_path / "interaction.json"
    path.write_text(interaction if isinstance(interaction, str) else json.dumps(interaction))
    out = io.StringIO()
    status = route_main(config, path, out, router_factory=lambda settings: None, now=MONDAY_NOON)
    return status, out.getvalue().splitlines()


def test_command_prints_rule_queue_priority_and_ladder(tmp_path):
    """The billing line at Monday noon: its rule, the open queue, and both ladder steps."""
    status, lines = route(tmp_path, {"channel": "voice", "to": "+18005550102"})
    assert status == 0
    assert lines[:3] == ["at: 2026-11-23T17:00:00+00:00", "rule: voice-billing-line (rule 1)",
                         "queue: billing (Billing), open"]
    assert "  1. billing >= 4  for 30s" in lines and "  2. billing >= 2  for 60s" in lines
    assert "  then: any member of the queue" in lines
    assert "members: alice, carol, dai" in lines
    assert lines[-1].startswith("eligibility: not computed")


def test_closed_queue_shows_what_happens(tmp_path):
    """An email at Saturday 09:00 New York time reaches a closed queue and gets the closed template."""
    status, lines = route(tmp_path, {"channel": "email", "to": "billing", "at": "2026-11-28T09:00:00-05:00"})
    assert status == 0
    assert "queue: billing (Billing), closed" in lines
    assert any('"template": "closed_hours"' in line for line in lines)


def test_bad_interaction_files_exit_1(tmp_path):
    """Invalid JSON, a non-object and a zone-less `at` are each reported with exit status 1."""
    assert route(tmp_path, "{not json")[0] == 1
    assert route(tmp_path, "[1, 2]")[1] == [f"{tmp_path / 'interaction.json'}: must be a JSON object"]
    status, lines = route(tmp_path, {"at": "2026-11-28T09:00:00"})
    assert status == 1 and "with an offset" in lines[0]


def test_bad_configuration_exits_1_with_its_errors(tmp_path, config_dir):
    """The dry run refuses to run on a configuration with errors and prints them."""
    (config_dir / "routing.yaml").write_text("rules: []\n")
    status, lines = route(tmp_path, {"channel": "voice"}, config=config_dir)
    assert status == 1
    assert lines[-1] == "1 error(s) in cfg"


def test_dry_run_explains_eligibility_with_the_routing_core():
    """The admin API's dry run gives the core the rule's queue, priority and tier bonus; with every
    agent available the report says who is eligible and why the others are not."""
    from callcenter.dispatch.routing_setup import all_available_router

    settings = load_settings(SHIPPED)
    report = dry_run(settings, all_available_router(settings),
                     {"channel": "voice", "tier": "gold", "to": "+18005550100"}, MONDAY_NOON)
    assert (report["queue"], report["priority"], report["tier_bonus"]) == ("support", 10, 60.0)
    agents = report["eligibility"]["agents"]
    assert set(agents) == {m.agent for m in settings.queues["support"].members}
    assert all(why == "eligible" for why in agents.values())
    assert report["eligibility"]["parts"]["bonus_applied"] == 600.0  # 10 x 60 s + 60 s, capped
    billing = dry_run(settings, all_available_router(settings), {"channel": "voice", "to": "+18005550102"}, MONDAY_NOON)
    assert billing["eligibility"]["agents"] == {"alice": "eligible", "carol": "requirement:billing >= 4",
                                                "dai": "queue_delay:15s"}
    assert report["skipped"] == [{"rule": "voice-billing-line", "reason": "to '+18005550100' is not +18005550102"}]
    assert json.loads(json.dumps(report)) == report


def test_command_output_with_the_routing_core_says_agents_are_assumed_available(tmp_path):
    """With the core, the eligibility block is printed under the no-live-state notice."""
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"channel": "webform", "to": "contact"}))
    out = io.StringIO()
    assert route_main(SHIPPED, path, out, now=MONDAY_NOON) == 0
    assert f"eligibility ({NO_LIVE_STATE}):" in out.getvalue()
    assert '"would_offer": "' in out.getvalue()
