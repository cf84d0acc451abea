"""`callcenter simulate` what-if runs and the table output: generated traffic, seeds, clones, Erlang C."""

from __future__ import annotations

import io
import json
import math

from callcenter.cli import main
from callcenter.simulation.scenario_file import load_scenario
from callcenter.simulation.simulator import simulate_main
from callcenter.simulation.whatif import run_traffic
from tests.routing.test_simulator import SCENARIOS, run_both, scenario

WHAT_IF = SCENARIOS / "what-if-billing.yaml"


def erlang_c_wait(agents: int, load: float) -> float:
    """Erlang C: the probability that a call waits, ``load`` Erlangs offered to ``agents``."""
    top = load ** agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load ** k / math.factorial(k) for k in range(agents)) + top)


def test_generated_traffic_lands_on_erlang_c(tmp_path):
    """5 agents, 100 calls an hour of 126 s on average (3.5 Erlangs), nobody abandons: over 30 runs of
    eight hours the average speed of answer is Erlang C's P(wait) x AHT / (N - A) within 10 %."""
    path = scenario(tmp_path, """
        agents: {%s}
        queues: {q: {members: [a1, a2, a3, a4, a5]}}
        traffic:
          duration: 28800
          runs: 30
          seed: 1
          queues: {q: {per_hour: 100, handle_time: {distribution: exponential, mean: 126}}}
        """.replace("%s", ", ".join(f"a{n}: {{start: {{state: available}}}}" for n in range(1, 6))))
    summary = run_traffic(load_scenario(path))
    expected = erlang_c_wait(5, 3.5) * 126.0 / (5 - 3.5)
    q = summary["queues"]["q"]
    assert abs(q["asa"]["mean"] - expected) / expected < 0.10, (q["asa"], expected)
    assert abs(q["occupancy"]["mean"] - 0.7) < 0.03
    assert q["abandoned"]["max"] == 0.0


def test_the_same_seed_gives_the_same_figures_and_another_seed_others():
    """A what-if is repeatable: the seed decides every draw."""
    s = load_scenario(WHAT_IF)
    assert run_traffic(s, runs=3, seed=11) == run_traffic(s, runs=3, seed=11)
    assert run_traffic(s, runs=3, seed=11) != run_traffic(s, runs=3, seed=12)


def test_two_more_agents_like_alice_answer_sooner():
    """--clone alice=2 on the documented what-if: billing's ASA and abandon rate drop, arrivals stay the same."""
    status, today, _ = run_both_args(WHAT_IF, runs=10)
    status2, more, _ = run_both_args(WHAT_IF, runs=10, clones=("alice=2",))
    assert status == status2 == 0
    before = next(json.loads(x) for x in today if json.loads(x)["queue"] == "billing")
    after = next(json.loads(x) for x in more if json.loads(x)["queue"] == "billing")
    assert after["arrivals"] == before["arrivals"]
    assert after["asa"]["mean"] < before["asa"]["mean"]
    assert after["abandon_rate"]["mean"] < before["abandon_rate"]["mean"]


def run_both_args(path, **kw):
    """Exit status, output lines and error lines of simulate_main with options."""
    out, err = io.StringIO(), io.StringIO()
    status = simulate_main(path, out, err, **kw)
    return status, out.getvalue().splitlines(), err.getvalue().splitlines()


def test_the_what_if_table_names_every_figure():
    """--format table on a what-if: one row per queue under the headings service level, ASA, abandon rate, occupancy."""
    status, lines, _ = run_both_args(WHAT_IF, fmt="table", runs=2)
    assert status == 0
    assert lines[0].startswith("what-if: 2 run(s) from seed 7, 3600 s of generated traffic")
    assert lines[1].split()[:4] == ["queue", "arrivals", "answered", "abandoned"]
    assert "service level (20 s)" in lines[1] and "ASA" in lines[1] and "occupancy" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == ["billing", "support"]


def test_the_decision_table_reads_time_interaction_agent_queue_why():
    """--format table on an event scenario: a header, one row per decision, the offer's reason in words."""
    status, lines, _ = run_both_args(SCENARIOS / "billing-morning.yaml", fmt="table")
    assert status == 0
    assert lines[0].split() == ["time", "event", "interaction", "agent", "queue", "why"]
    first = next(line for line in lines if " offer " in line)
    assert first.split()[:5] == ["10", "offer", "1", "alice", "billing"]
    assert "longest_idle among 1 eligible (single candidate)" in first and "needs billing >= 4" in first
    assert lines[-2].startswith("4 interactions: 3 answered, 1 abandoned")


def test_options_that_do_not_fit_the_scenario_are_errors(tmp_path):
    """--runs without traffic, a misspelled --clone agent: exit 1, the reason on stderr, nothing on stdout."""
    plain = SCENARIOS / "billing-morning.yaml"
    assert run_both_args(plain, runs=3)[:2] == (1, [])
    assert "need a scenario with a 'traffic' section" in run_both_args(plain, runs=3)[2][0]
    status, out, err = run_both_args(WHAT_IF, clones=("alcie=2",))
    assert (status, out) == (1, []) and err == ["--clone: unknown agent 'alcie' (did you mean 'alice'?)"]
    assert run_both_args(WHAT_IF, clones=("alice=two",))[2] == [
        "--clone 'alice=two': expected AGENT=N (N more agents like AGENT)"]


def test_traffic_is_checked_like_the_rest(tmp_path):
    """A misspelled traffic key, an unknown queue or distribution, an interaction event: each at its place."""
    path = scenario(tmp_path, """
        agents: {a: {}}
        queues: {q: {members: [a]}}
        events:
          - {at: 5, interaction: 1, do: arrive, queue: q}
        traffic:
          duration: 60
          queues:
            qq: {per_hour: 10}
            q: {per_hour: 10, handle_tme: 30, patience: {distribution: gamma, mean: 3}}
        """)
    status, _, errors = run_both(path)
    assert status == 1
    text = "\n".join(errors)
    assert ":5:" in text and "'arrive' acts on an interaction" in text
    assert "traffic.queues.qq: unknown queue 'qq' (did you mean 'q'?)" in text
    assert "unknown key 'handle_tme' (did you mean 'handle_time'?)" in text
    assert "traffic.queues.q.patience.distribution: unknown distribution 'gamma'" in text


def test_the_command_line_takes_the_options(capsys):
    """`callcenter simulate FILE --format table --runs 1 --seed 2 --clone alice=1` runs the what-if."""
    assert main(["simulate", str(WHAT_IF), "--format", "table", "--runs", "1", "--seed", "2",
                 "--clone", "alice=1"]) == 0
    assert capsys.readouterr().out.startswith("what-if: 1 run(s) from seed 2")
