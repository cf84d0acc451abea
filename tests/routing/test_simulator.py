"""`callcenter simulate`: documented scenarios run, decisions are JSON lines, a typo is an error (exit 1, stderr)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from callcenter.simulation.simulator import simulate_main

SCENARIOS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


def run(path):
    """Exit status and output lines; errors and warnings must not reach the output."""
    status, lines, errors = run_both(path)
    return status, lines if status == 0 else errors


def run_both(path):
    """Exit status, output lines and standard-error lines."""
    out, err = io.StringIO(), io.StringIO()
    status = simulate_main(path, out, err)
    return status, out.getvalue().splitlines(), err.getvalue().splitlines()


def scenario(tmp_path, text):
    """A scenario file holding ``text``."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


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
    """Each scenario under docs/scenarios runs to its summary (a what-if: one summary line per queue)."""
    for path in sorted(SCENARIOS.glob("*.yaml")):
        status, lines = run(path)
        assert status == 0, path
        assert json.loads(lines[-1])["kind"] == ("what_if" if "traffic:" in path.read_text() else "summary")


def test_bad_scenarios_exit_1_with_the_place(tmp_path):
    """Broken YAML, an unknown member, an event without `do`: file:line:column key path on stderr, exit 1."""
    bad = scenario(tmp_path, "agents: [unclosed\n")
    status, lines, errors = run_both(bad)
    assert (status, lines) == (1, []) and errors[0].startswith(f"{bad}:2:1: invalid YAML")
    bad.write_text("agents: {a: {}}\nqueues: {q: {members: [zed]}}\n")
    assert run(bad) == (1, [f"{bad}:2:24 queues.q.members[0]: unknown agent 'zed'; expected one of: a"])
    bad.write_text("agents: {a: {}}\nqueues: {q: {members: [a]}}\nevents: [{at: 1}]\n")
    status, errors = run(bad)
    assert status == 1 and errors[0].startswith(f"{bad}:3:10 events[0]: missing required key 'do'")


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
    assert run(bad) == (1, [f"{bad}:3:80 events[0].ladder[0].require: invalid requirement: "
                            "expected a level after '>=', found the end"])


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


TYPOS = """\
agents:
  alice: {skills: {billing: 5}, costs: {emial: 25}}
  bob: {}
queues:
  billing:
    members: [alice, bob]
    selction: least_loaded
policy: {max_bonsu: 300}
events:
  - {at: 0, do: available, agent: alcie}
  - {at: 1, do: arrive, interaction: 1, queue: billing, ladder: [{require: "billing >= 4", fro: 30}, {require: ""}]}
  - {at: 2, do: acept, interaction: 1}
  - {at: 3, do: complete, interation: 1}
  - {at: 4, do: hangup, interaction: 7}
"""


def test_every_typo_of_the_issue_is_an_error_with_its_place_and_a_suggestion(tmp_path):
    """Every typo the issue lists (and a few more) is reported at once, located, with a suggestion; nothing runs."""
    path = scenario(tmp_path, TYPOS)
    status, lines, errors = run_both(path)
    assert status == 1 and lines == []
    assert [e.split(" ", 1)[0].removeprefix(str(path)) for e in errors] == [
        ":2:41", ":7:5", ":8:10", ":10:28", ":11:66", ":11:92", ":12:13", ":13:5", ":13:27", ":14:25"]
    text = "\n".join(errors)
    for expected in [
        "agents.alice.costs.emial: unknown channel 'emial' (did you mean 'email'?)",
        "queues.billing.selction: unknown key 'selction' (did you mean 'selection'?)",
        "policy.max_bonsu: unknown key 'max_bonsu' (did you mean 'max_bonus'?)",
        "events[0].agent: unknown agent 'alcie' (did you mean 'alice'?)",
        "events[1].ladder[0].fro: unknown key 'fro' (did you mean 'for'?)",
        "events[1].ladder[0]: only the last step may hold until answered",
        "events[2].do: unknown action 'acept' (did you mean 'accept'?)",
        "events[3].interation: unknown key 'interation' (did you mean 'interaction'?)",
        "events[3]: missing required key 'interaction'",
        "events[4].interaction: interaction 7 never arrives",
    ]:
        assert expected in text, expected
    assert "__init__" not in text


def test_a_misspelled_policy_key_alone_is_a_located_error(tmp_path):
    """`selection: least_loded` and a policy value of the wrong type are errors, not Python exceptions."""
    path = scenario(tmp_path, "agents: {a: {}}\nqueues: {q: {members: [a], selection: least_loded}}\n"
                              "policy: {strict_priority: maybe}\n")
    assert run(path) == (1, [
        f"{path}:2:28 queues.q.selection: unknown selection policy 'least_loded' (did you mean 'least_loaded'?); "
        "expected one of: best_proficiency, longest_idle, least_loaded, fewest_skills",
        f"{path}:3:10 policy.strict_priority: must be true or false"])


def test_until_is_absolute_and_a_warning_says_so_when_before_the_last_event(tmp_path):
    """`until: 5` with events up to 10: the run goes on (exit 0) and stderr warns that until is absolute."""
    path = scenario(tmp_path, "agents: {a: {}}\nqueues: {q: {members: [a]}}\nuntil: 5\nevents:\n"
                              "  - {at: 0, do: available, agent: a}\n"
                              "  - {at: 10, do: arrive, interaction: 1, queue: q}\n")
    status, lines, errors = run_both(path)
    assert status == 0 and json.loads(lines[-1])["kind"] == "summary"
    assert errors == [f"warning: {path}:3:1 until: 5 is before the last event (at 10); `until` is an absolute "
                      "time, so nothing after that event is run"]
    path.write_text(path.read_text().replace("until: 5", "until: 40"))
    status, lines, errors = run_both(path)
    expired = [json.loads(line) for line in lines if '"offer_expired"' in line]
    assert (status, errors, [r["t"] for r in expired]) == (0, [], [30.0])


def test_accept_may_name_the_agent_it_expects(tmp_path):
    """An accept naming the agent that has the offer goes through; naming another prints `skipped`."""
    path = scenario(tmp_path, "agents: {a: {}, b: {}}\nqueues: {q: {members: [a, b]}}\nevents:\n"
                              "  - {at: 0, do: available, agent: a}\n"
                              "  - {at: 1, do: arrive, interaction: 1, queue: q}\n"
                              "  - {at: 2, do: arrive, interaction: 2, queue: q}\n"
                              "  - {at: 3, do: accept, interaction: 1, agent: b}\n"
                              "  - {at: 4, do: accept, interaction: 1, agent: a}\n")
    status, lines = run(path)
    records = [json.loads(line) for line in lines]
    assert status == 0
    assert [(r["t"], r["why"]) for r in records if r["kind"] == "skipped"] == [
        (3.0, "interaction 1 is offered to 'a', not 'b'")]
    assert any(r["kind"] == "removed" and r["why"] == "accepted" and r["t"] == 4.0 for r in records)


def test_the_command_exits_1_with_errors_on_stderr_and_its_help_names_a_doc_that_exists(tmp_path):
    """`callcenter simulate` on a typo: exit 1, stdout empty, the error on stderr; --help's doc exists."""
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    path = scenario(tmp_path, "agents: {a: {}}\nqueues: {q: {members: [a], selction: least_loaded}}\n")
    proc = subprocess.run([sys.executable, "-m", "callcenter.cli", "simulate", str(path)], capture_output=True,
                          text=True, cwd=root)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert "queues.q.selction: unknown key 'selction' (did you mean 'selection'?)" in proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "callcenter.cli", "simulate", "--help"], capture_output=True,
                               text=True, cwd=root, check=True).stdout
    docs = re.findall(r"docs/[\w./-]+\.md", help_text)
    assert docs and all((root / doc).is_file() for doc in docs)


def test_a_ladder_naming_a_skill_no_agent_has_is_an_error(tmp_path):
    """`bilign >= 2` would never match and only relax later: it is reported with a suggestion."""
    path = scenario(tmp_path, "agents: {a: {skills: {billing: 3}}}\nqueues: {q: {members: [a]}}\nevents:\n"
                              "  - {at: 1, do: arrive, interaction: 1, queue: q,\n"
                              "     ladder: [{require: bilign >= 2, for: 30}]}\n")
    assert run(path) == (1, [f"{path}:5:16 events[0].ladder[0].require: no agent has the skill 'bilign' "
                             "(did you mean 'billing'?)"])


def test_a_json_scenario_is_checked_the_same_way(tmp_path):
    """A JSON scenario with a misspelled top-level key (`untill`) is refused with its line and column."""
    path = tmp_path / "s.json"
    path.write_text('{"agents": {"a": {}},\n "queues": {"q": {"members": ["a"]}},\n "untill": 60}\n')
    assert run(path) == (1, [f"{path}:3:2 untill: unknown key 'untill' (did you mean 'until'?); expected one of: "
                             "agents, events, policy, queues, service_level_seconds, traffic, until"])


STARTS = """\
agents:
  alice: {start: {state: available, since: -60, holds: [{interaction: 90, queue: q, channel: email}]}}
  bob: {start: {state: not_ready, reason: lunch}}
  carol: {}
queues: {q: {members: [alice, bob, carol]}}
events:
  - {at: 0, do: arrive, interaction: 1, queue: q, channel: email}
  - {at: 5, do: complete, interaction: 90}
"""


def test_agents_can_start_available_not_ready_or_holding_work(tmp_path):
    """`start`: alice is available since -60 holding email 90 (room for one more email), bob not ready."""
    status, lines = run(scenario(tmp_path, STARTS))
    records = [json.loads(line) for line in lines]
    assert status == 0
    assert [(r["t"], r["agent"], r["state"]) for r in records if r["kind"] == "agent_state"][:3] == [
        (-60.0, "alice", "not_ready"), (-60.0, "alice", "busy"), (0.0, "bob", "not_ready")]
    assert [(r["t"], r["interaction"], r["agent"]) for r in records if r["kind"] == "offer"] == [(0.0, 1, "alice")]
    assert any(r["kind"] == "removed" and r["interaction"] == 90 and r["why"] == "completed" for r in records)


def test_a_bad_start_is_a_located_error(tmp_path):
    """A start after the first event, work held while logged out, and a held id that also arrives are refused."""
    path = scenario(tmp_path, STARTS.replace("since: -60", "since: 3").replace("state: not_ready, reason: lunch",
                                                                                "holds: [{interaction: 1, queue: q}]"))
    status, errors = run(path)
    assert status == 1
    assert [e.split(" ", 1)[1] for e in errors] == [
        "agents.alice.start.since: since 3 is after the first event (at 0)",
        "agents.bob.start.holds: an agent who holds work must start logged in (state not_ready or available)",
        "events[0].interaction: interaction 1 is already used at agents.bob.start.holds[0]"]
