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


def test_mixed_channel_scenario_overflow_preference_callback_and_phone():
    """mixed-channels: emails share ana's capacity, the sales call overflows at 65 s and reaches bo
    when his phone registers at 70 s, the returning caller resumes and waits for chen, chen's
    missed offer backs him off for 10 s."""
    status, lines = run(SCENARIOS / "mixed-channels.yaml")
    assert status == 0
    records = [json.loads(line) for line in lines]
    offers = [(r["t"], r["interaction"], r["agent"]) for r in records if r["kind"] == "offer"]
    assert offers == [(1.0, 1, "ana"), (3.0, 2, "ana"), (10.0, 4, "chen"), (70.0, 3, "bo"), (110.0, 6, "chen"),
                      (140.0, 6, "chen")]
    overflow = next(r for r in records if r["kind"] == "overflowed")
    assert (overflow["t"], overflow["interaction"], overflow["source"], overflow["target"]) == (65.0, 3, "sales",
                                                                                               "support")
    resumed = next(r for r in records if r["kind"] == "queued" and r["interaction"] == 6)
    assert resumed["resumed"] is True
    assert ("offer_expired", 130.0, 6, "chen") in [(r["kind"], r.get("t"), r.get("interaction"), r.get("agent"))
                                                   for r in records]
    summary = records[-1]
    assert (summary["interactions"], summary["answered"], summary["abandoned"]) == (6, 5, 1)
    assert summary["max_wait"] == 101.0 and summary["service_level"] == 0.6


def test_supervisor_and_phone_events(tmp_path):
    """priority, move, no_answer, phone and login events reach the core; a bad one prints `skipped`."""
    path = tmp_path / "s.yaml"
    path.write_text("""
agents: {a: {}, b: {}}
queues: {q: {members: [a]}, r: {members: [b]}}
until: 30
events:
  - {at: 0, do: login, agent: a}
  - {at: 1, do: arrive, interaction: 1, queue: q}
  - {at: 2, do: arrive, interaction: 2, queue: q}
  - {at: 3, do: priority, interaction: 2, priority: 1}
  - {at: 4, do: available, agent: a}
  - {at: 5, do: no_answer, interaction: 2}
  - {at: 6, do: phone, agent: b, registered: false}
  - {at: 6, do: available, agent: b}
  - {at: 7, do: move, interaction: 2, queue: r}
  - {at: 8, do: accept, interaction: 2}
""")
    status, lines = run(path)
    records = [json.loads(line) for line in lines]
    assert status == 0
    offers = [(r["t"], r["interaction"], r["agent"]) for r in records if r["kind"] == "offer"]
    assert offers == [(4.0, 2, "a"), (15.0, 1, "a")]
    assert any(r["kind"] == "overflowed" and r["t"] == 7.0 and r["why"] == "moved" for r in records)
    skipped = [r for r in records if r["kind"] == "skipped"]
    assert [(r["t"], r["event"]) for r in skipped] == [(8.0, 9)]


def test_a_bad_requirement_is_reported_with_its_place(tmp_path):
    """A ladder requirement that does not parse stops the run before it starts, naming event and column."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: {a: {}}\nqueues: {q: {members: [a]}}\n"
                   "events: [{at: 1, do: arrive, interaction: 1, queue: q, ladder: [{require: 'x >='}]}]\n")
    assert run(bad) == (1, ["events[0].ladder[0].require: column 5: expected a level after '>=', found the end"])


def test_output_is_the_same_under_any_hash_seed():
    """Determinism across processes: two runs with different hash seeds print identical lines."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "callcenter.cli", "simulate",
                               str(SCENARIOS / "mixed-channels.yaml")], capture_output=True, text=True, env=env,
                              cwd=Path(__file__).resolve().parents[2], check=True)
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 20
