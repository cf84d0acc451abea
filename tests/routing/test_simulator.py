"""`callcenter simulate`: the documented scenarios run, decisions are JSON lines, bad files exit 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

from callcenter.simulator import simulate_main

SCENARIOS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


def run(path):
    """Exit status and parsed output lines."""
    out = io.StringIO()
    status = simulate_main(path, out)
    return status, out.getvalue().splitlines()


def test_documented_scenario_prints_decisions_and_the_summary():
    """billing-morning: the ladder sends call 1 to alice, the reject and delay send call 2 to dai,
    the caller of 3 abandons; the summary counts them."""
    status, lines = run(SCENARIOS / "billing-morning.yaml")
    assert status == 0
    records = [json.loads(line) for line in lines]
    offers = [(r["t"], r["interaction"], r["agent"]) for r in records if r["kind"] == "offer"]
    assert offers[:3] == [(10.0, 1, "alice"), (20.0, 2, "carol"), (30.0, 3, "carol")]
    assert (35.0, 2, "dai") in offers
    first = next(r for r in records if r["kind"] == "offer")
    assert first["trace"]["excluded"] == {"carol": "requirement:billing >= 4", "dai": "queue_delay:15s"}
    assert not any(r["kind"] == "skipped" for r in records)
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert (summary["interactions"], summary["answered"], summary["abandoned"]) == (4, 3, 1)
    assert summary["max_wait"] == 200.0


def test_every_documented_scenario_runs(tmp_path):
    """Each scenario under docs/scenarios runs to its summary."""
    for path in sorted(SCENARIOS.glob("*.yaml")):
        status, lines = run(path)
        assert status == 0, path
        assert json.loads(lines[-1])["kind"] == "summary"


def test_bad_scenarios_exit_1_with_the_place(tmp_path):
    """A broken file, an unknown member and an event without `do` are reported with exit status 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: [unclosed\n")
    assert run(bad)[0] == 1
    bad.write_text("agents: {a: {}}\nqueues: {q: {members: [zed]}}\n")
    assert run(bad) == (1, ["queues.q: unknown agent 'zed'"])
    bad.write_text("agents: {a: {}}\nqueues: {q: {members: [a]}}\nevents: [{at: 1}]\n")
    status, lines = run(bad)
    assert status == 1 and lines[0].startswith("events[0]: needs 'at' and 'do'")
