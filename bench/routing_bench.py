"""Routing core benchmark: decisions per second and latency per event at contact-center scale.

Default: 10,000 agents, 200 queues, 50 skills, 20,000 waiting interactions, then a mix of
events (arrivals 40%, completions 35% - each frees an agent who takes the next work -,
accepts of open offers 15%, agent pauses/returns 10%), each timed on its own. Then the same
with ten times the waiting work and ten times the agents, to show how the cost grows.

    python bench/routing_bench.py [--events N] [--scale F] [--skip-growth]

``--scale 0.1`` runs a tenth of every size (quick check). Prints one line per run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routing import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, Router, RoutingConfig  # noqa: E402
from routing.requirements import parse_requirement  # noqa: E402


def build(agents: int, queues: int, skills: int, rng: random.Random) -> RoutingConfig:
    """Agents with 3-5 skills each, members of 4 queues; queues need one skill."""
    skill_names = [f"s{n}" for n in range(skills)]
    queue_skill = {f"q{n}": skill_names[n % skills] for n in range(queues)}
    members: dict[str, list[Member]] = {q: [] for q in queue_skill}
    agent_cfgs = {}
    for n in range(agents):
        name = f"a{n:06d}"
        chosen = rng.sample(range(queues), 4)
        levels = {queue_skill[f"q{q}"]: rng.randint(1, 5) for q in chosen}
        for extra in rng.sample(skill_names, rng.randint(0, 1)):
            levels.setdefault(extra, rng.randint(1, 5))
        agent_cfgs[name] = AgentConfig(name, levels, ("en",) if n % 5 else ("en", "zh"))
        for i, q in enumerate(chosen):
            members[f"q{q}"].append(Member(name, priority=i // 2))
    policies = ("longest_idle", "best_proficiency", "least_loaded", "fewest_skills")
    queue_cfgs = {q: QueueConfig(q, tuple(members[q]), policies[n % 4], 20.0, 0.0, skills={queue_skill[q]: 1})
                  for n, q in enumerate(queue_skill)}
    return RoutingConfig(agent_cfgs, queue_cfgs, Policy(max_bonus=300.0))


def run(agents: int, queues: int, skills: int, waiting: int, events: int, seed: int = 7) -> dict:
    """Fill the core to ``waiting`` waiting interactions, then time ``events`` mixed events."""
    rng = random.Random(seed)
    config = build(agents, queues, skills, rng)
    router = Router(config)
    queue_names = sorted(config.queues)
    ladders = [(), (LadderStep(parse_requirement("s1 >= 3"), 30.0),)]
    now, next_id = 0.0, 1
    held: list[int] = []

    def accept_all(decisions) -> None:
        for d in decisions:
            if d.kind == "offer":
                router.accept(d.interaction, d.agent, now)
                held.append(d.interaction)

    def spec() -> InteractionSpec:
        nonlocal next_id
        next_id += 1
        return InteractionSpec(next_id, "voice" if rng.random() < 0.7 else "email", rng.choice(queue_names), now,
                               priority=rng.choice((0, 0, 0, 1)), tier_bonus=rng.choice((0.0, 0.0, 60.0)),
                               ladder=rng.choice(ladders))

    t0 = time.perf_counter()
    for name in sorted(config.agents):
        accept_all(router.set_available(name, now))
    while len(router._waiting) < waiting:                  # noqa: SLF001 - the bench inspects the size
        now += 0.001
        accept_all(router.submit(spec(), now))
    setup = time.perf_counter() - t0

    latencies, decisions, paused = [], 0, []
    offers_open: list = []
    for _ in range(events):
        now += 0.01
        roll = rng.random()
        start = time.perf_counter()
        if roll < 0.40:
            out = router.submit(spec(), now)
        elif roll < 0.75 and held:
            out = router.complete(held.pop(rng.randrange(len(held))), now)
        elif roll < 0.90 and offers_open:
            d = offers_open.pop()
            out = router.accept(d.interaction, d.agent, now) if d.interaction in router._waiting and \
                router._waiting[d.interaction].offered_to == d.agent else []   # noqa: SLF001
            if out:
                held.append(d.interaction)
        elif paused and rng.random() < 0.5:
            out = router.set_available(paused.pop(), now)
        else:
            agent = f"a{rng.randrange(agents):06d}"
            out = router.set_not_ready(agent, "break", now)
            paused.append(agent)
        latencies.append(time.perf_counter() - start)
        decisions += len(out)
        offers_open += [d for d in out if d.kind == "offer"]
    total = sum(latencies)
    latencies.sort()
    return {
        "agents": agents, "queues": queues, "skills": skills, "waiting": waiting, "events": events,
        "setup_s": round(setup, 1), "events_per_s": round(events / total), "decisions_per_s": round(decisions / total),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
    }


def main() -> None:
    """Print the base run and the growth runs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--skip-growth", action="store_true")
    args = parser.parse_args()
    s = args.scale
    base = dict(agents=int(10000 * s), queues=max(4, int(200 * s)), skills=50, waiting=int(20000 * s))
    runs = [("base", base)]
    if not args.skip_growth:
        runs += [("10x waiting", {**base, "waiting": base["waiting"] * 10}),
                 ("10x agents", {**base, "agents": base["agents"] * 10})]
    for label, sizes in runs:
        result = run(events=args.events, **sizes)
        print(f"{label:12s} " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
