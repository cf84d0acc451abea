"""Benchmark of the routing core under a busy contact center.

The base case: 10,000 agents, 200 queues, 50 skills, and 20,000 interactions waiting on top
of the work every agent already holds. Each agent has 3 to 6 skills (levels 1-5) and serves
one queue of each skill (priority 0 for the first skill; priority 1 with a 20 s delay for
the others). The queues use the four selection policies in turn; 30 % of interactions carry
a two-step ladder, a tenth have a tier bonus, a twentieth a priority. Calls cost 100 units,
emails 25 (an agent holds one call or four emails).

The measured run is a steady mix of events, each timed alone: completions (the agent wraps
up for 0-10 s, then takes the best work across its queues), accepts of every offer made, a
few rejects, arrivals (only while fewer than the target wait, so the waiting count stays
put), agents pausing and coming back, and ticks whenever a deadline is due (wrap-up ends,
ladder steps, member delays, offer expiry). The backlog builds up over ten simulated minutes
before the run, and the clock advances 10 ms per event (a site of 10,000 agents handling
5-minute calls completes about 30 a second, so this is a realistic pace); the set-up's
objects are frozen out of the garbage collector (``gc.freeze``) and the log-in rush's offer
expiries are ticked away before measuring. It prints
events per second and decisions per second (time spent in the core only), and p50/p99/max
latency per event overall and per event kind; then the same for tenfold agents and
tenfold waiting work, and the growth factors.

Usage: ``.venv/bin/python bench/routing_bench.py [--scale 0.1] [--events N] [--no-growth]``.
``--scale`` multiplies agents and waiting counts (queues and skills stay).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections import defaultdict, deque

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from routing import AgentConfig, InteractionSpec, LadderStep, Member, Policy, QueueConfig, Router, RoutingConfig  # noqa: E402
from routing.requirements import parse_requirement  # noqa: E402

QUEUES = 200
SKILLS = 50
BACKLOG_SECONDS = 600.0   # the waiting work built up over the last ten minutes
TICK = 0.01               # simulated seconds per event: 100 events/s, ~25 completions/s
POLICIES = ("longest_idle", "best_proficiency", "least_loaded", "fewest_skills")


def build_config(agents: int, rng: random.Random) -> tuple[RoutingConfig, dict[str, str]]:
    """Agents, queues (four per skill) and the policy; also each queue's skill."""
    skills = [f"s{i:02d}" for i in range(SKILLS)]
    queue_skill = {f"q{i:03d}": skills[i % SKILLS] for i in range(QUEUES)}
    queues_of_skill: dict[str, list[str]] = defaultdict(list)
    for q, s in queue_skill.items():
        queues_of_skill[s].append(q)
    agent_cfgs = {}
    members: dict[str, list[Member]] = defaultdict(list)
    for n in range(agents):
        name = f"a{n:06d}"
        own = rng.sample(skills, rng.randint(3, 6))
        langs = ("en", "zh") if rng.random() < 0.2 else ("en",)
        agent_cfgs[name] = AgentConfig(name, {s: rng.randint(1, 5) for s in own}, langs, 100,
                                       {"voice": 100, "email": 25})
        for rank, s in enumerate(own):
            q = rng.choice(queues_of_skill[s])
            members[q].append(Member(name, 0, 0.0) if rank == 0 else Member(name, 1, 20.0))
    queue_cfgs = {
        q: QueueConfig(q, tuple(members[q]), POLICIES[i % len(POLICIES)], offer_timeout=20.0,
                       wrap_up=float(rng.choice((0, 5, 10))), skills={queue_skill[q]: 1})
        for i, q in enumerate(sorted(queue_skill))
    }
    return RoutingConfig(agent_cfgs, queue_cfgs, Policy(max_bonus=600.0)), queue_skill


class Load:
    """Drives one router: arrivals, offers accepted, completions, pauses; times every event.

    It reads the router's private tables only to pick realistic next events (which offer is
    still open, how many wait), never to change them.
    """

    def __init__(self, agents: int, waiting: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.config, self.queue_skill = build_config(agents, self.rng)
        self.queues = [q for q in sorted(self.config.queues) if self.config.queues[q].members]
        self.router = Router(self.config)
        self.now = 0.0
        self.next_id = 1
        self.offers: deque[tuple[int, str]] = deque()
        self.held: list[int] = []
        self.paused: deque[str] = deque()
        self.decisions = 0
        self.ladders = {s: (LadderStep(parse_requirement(f"{s} >= 4"), 30.0),
                            LadderStep(parse_requirement(f"{s} >= 2"), 60.0)) for s in set(self.queue_skill.values())}
        self.target_waiting = waiting

    def spec(self) -> InteractionSpec:
        """A new interaction in a random staffed queue."""
        rng, q = self.rng, self.rng.choice(self.queues)
        iid, self.next_id = self.next_id, self.next_id + 1
        ladder = self.ladders[self.queue_skill[q]] if rng.random() < 0.3 else ()
        return InteractionSpec(iid, "voice" if rng.random() < 0.7 else "email", q, self.now,
                               priority=1 if rng.random() < 0.05 else 0,
                               tier_bonus=60.0 if rng.random() < 0.1 else 0.0, ladder=ladder)

    def take(self, decisions: list) -> None:
        """Count decisions; remember offers to accept later."""
        self.decisions += len(decisions)
        for d in decisions:
            if d.kind == "offer":
                self.offers.append((d.interaction, d.agent))

    def setup(self) -> None:
        """The morning: work queues up (over ten minutes) before anyone logs in, then every agent
        comes in and fills up, then more work arrives until the target count waits."""
        step = BACKLOG_SECONDS / max(1, self.target_waiting + len(self.config.agents))
        # about 1.3 interactions fill an agent (one call, or up to four emails): queue enough
        # for everyone plus the target, so agents fill up from the lines and few arrive later
        for _ in range(self.target_waiting + len(self.config.agents) * 13 // 10):
            self.now += step
            self.take(self.router.submit(self.spec(), self.now))
            if (self.router.next_deadline() or self.now + 1) <= self.now:
                self.take(self.router.tick(self.now))
        for agent in sorted(self.config.agents):
            self.take(self.router.set_available(agent, self.now))
            while self.offers:
                self.accept()
        while len(self.router._waiting) < self.target_waiting:
            self.now += step
            self.take(self.router.submit(self.spec(), self.now))
            while self.offers:
                self.accept()
        # let the log-in rush settle: the expiry entries of its accepted offers (all made at
        # one instant) are dropped by one tick here rather than inside the measured run
        self.now += 21.0
        self.take(self.router.tick(self.now))
        while self.offers:
            self.accept()
        self.decisions = 0
        # the set-up's millions of long-lived objects would make every full collection slow;
        # a server does the same once its state is loaded
        gc.collect()
        gc.freeze()

    def open_offer(self) -> tuple[int, str] | None:
        """The oldest offer still open, or None."""
        while self.offers:
            iid, agent = self.offers.popleft()
            item = self.router._waiting.get(iid)
            if item is not None and item.offered_to == agent:
                return iid, agent
        return None

    def accept(self) -> list:
        """Accept the oldest open offer."""
        offer = self.open_offer()
        if offer is None:
            return []
        self.held.append(offer[0])
        return self.router.accept(offer[0], offer[1], self.now)

    def event(self) -> tuple[str, list, float]:
        """One event of the steady mix, chosen by what is pending: ``(kind, decisions, seconds)``.

        Only the core's calls are timed (the deadline check and the command); choosing the
        event and building its interaction are the bench's own work.
        """
        clock = time.perf_counter
        t0 = clock()
        due = self.router.next_deadline()
        spent = clock() - t0
        kind, call = self.choose(due)
        t0 = clock()
        out = call[0](*call[1:])
        return kind, out, spent + clock() - t0

    def choose(self, due: float | None) -> tuple[str, tuple]:
        """The next event as ``(kind, (core method, arguments...))``."""
        rng, r = self.rng, self.router
        if due is not None and due <= self.now:
            return "tick", (r.tick, self.now)
        offer = self.open_offer()
        if offer is not None:
            if rng.random() < 0.03:
                return "reject", (r.reject, offer[0], offer[1], self.now)
            self.held.append(offer[0])
            return "accept", (r.accept, offer[0], offer[1], self.now)
        x = rng.random()
        if x < 0.90:
            # arrivals balance completions so the waiting count stays near its target
            if len(r._waiting) < self.target_waiting or not self.held:
                return "arrive", (r.submit, self.spec(), self.now)
            iid = self.held.pop(rng.randrange(len(self.held)))
            return "complete", (r.complete, iid, self.now)
        if x < 0.95 or not self.paused:
            agent = f"a{rng.randrange(len(self.config.agents)):06d}"
            if r._agents[agent].ready:
                self.paused.append(agent)
                return "not_ready", (r.set_not_ready, agent, "break", self.now)
            return "available", (r.set_available, agent, self.now)
        return "available", (r.set_available, self.paused.popleft(), self.now)

    def run(self, events: int) -> dict:
        """Time ``events`` events."""
        lat: dict[str, list[float]] = defaultdict(list)
        for _ in range(events):
            self.now += TICK
            kind, out, spent = self.event()
            lat[kind].append(spent)
            self.take(out)
        return {"lat": lat, "decisions": self.decisions, "waiting": len(self.router._waiting)}


def _ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))]


def report(label: str, agents: int, waiting: int, events: int) -> dict:
    """Set up, run, print one block of figures; returns the overall figures."""
    t0 = time.perf_counter()
    load = Load(agents, waiting)
    load.setup()
    setup = time.perf_counter() - t0
    res = load.run(events)
    every = [x for v in res["lat"].values() for x in v]
    busy = sum(every)
    print(f"\n{label}: {agents:,} agents, {QUEUES} queues, {SKILLS} skills, {waiting:,} waiting "
          f"(set-up {setup:.1f} s; {res['waiting']:,} waiting at the end)")
    print(f"  {events:,} events: {events / busy:,.0f} events/s, {res['decisions'] / busy:,.0f} decisions/s")
    print(f"  latency per event: p50 {_ms(every, 0.5):.3f} ms, p99 {_ms(every, 0.99):.3f} ms, "
          f"max {_ms(every, 1.0):.3f} ms, mean {1000 * statistics.fmean(every):.3f} ms")
    for kind in sorted(res["lat"]):
        v = res["lat"][kind]
        print(f"    {kind:<10} n={len(v):>6}  p50 {_ms(v, 0.5):.3f} ms  p99 {_ms(v, 0.99):.3f} ms  "
              f"max {_ms(v, 1.0):.3f} ms")
    sys.stdout.flush()
    return {"p50": _ms(every, 0.5), "p99": _ms(every, 0.99), "rate": events / busy}


def idle_case(agents: int, arrivals: int = 2000) -> float:
    """Mean milliseconds per arrival with ``agents`` idle members in one queue (each arrival is
    offered, accepted and completed, so the idle count stays put)."""
    cfgs = {f"i{n:06d}": AgentConfig(f"i{n:06d}", {"s": 1 + n % 5}) for n in range(agents)}
    queue = QueueConfig("q", tuple(Member(a) for a in cfgs), "longest_idle", skills={"s": 1})
    router = Router(RoutingConfig(cfgs, {"q": queue}, Policy()))
    for name in sorted(cfgs):
        router.set_available(name, 0.0)
    spent = 0.0
    for n in range(arrivals):
        now = 1.0 + n
        t0 = time.perf_counter()
        out = router.submit(InteractionSpec(n + 1, "voice", "q", now), now)
        spent += time.perf_counter() - t0
        offer = next(d for d in out if d.kind == "offer")
        router.accept(offer.interaction, offer.agent, now)
        router.complete(offer.interaction, now)
    return 1000 * spent / arrivals


def moment_case(size: int) -> float:
    """Milliseconds of the one tick at which ``size`` agents' wrap-ups end while ``size`` calls wait."""
    cfgs = {f"m{n:06d}": AgentConfig(f"m{n:06d}", {"s": 1}) for n in range(size)}
    queue = QueueConfig("q", tuple(Member(a) for a in cfgs), "least_loaded", wrap_up=30.0)
    router = Router(RoutingConfig(cfgs, {"q": queue}, Policy()))
    for n, name in enumerate(sorted(cfgs)):
        router.set_available(name, 0.0)
        router.submit(InteractionSpec(n + 1, "voice", "q", 0.0), 0.0)
        router.accept(n + 1, name, 0.0)
        router.complete(n + 1, 10.0)    # every wrap-up ends at 40
    for n in range(size):
        router.submit(InteractionSpec(size + n + 1, "voice", "q", 20.0 + n / size), 20.0 + n / size)
    t0 = time.perf_counter()
    offers = sum(1 for d in router.tick(40.0) if d.kind == "offer")
    spent = time.perf_counter() - t0
    assert offers == size, offers
    return 1000 * spent


def scaling() -> None:
    """How an arrival's cost grows with idle agents, and a moment's with its size."""
    print("\narrival with idle members (one queue, longest idle): "
          + ", ".join(f"{n:,} idle {idle_case(n):.3f} ms" for n in (100, 1_000, 10_000)))
    timed = [(n, moment_case(n)) for n in (1_000, 4_000)]
    print("one moment, n agents freed while n calls wait: "
          + ", ".join(f"n={n:,} {ms:.0f} ms" for n, ms in timed)
          + f" (x{timed[1][1] / timed[0][1]:.1f} for x4 n)")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the base case and, unless ``--no-growth``, tenfold agents and tenfold waiting."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply agents and waiting counts (default 1)")
    ap.add_argument("--events", type=int, default=50_000, help="measured events of the base case (default 50,000)")
    ap.add_argument("--no-growth", action="store_true", help="run the base case only")
    args = ap.parse_args(argv)
    agents, waiting = max(10, int(10_000 * args.scale)), max(10, int(20_000 * args.scale))
    base = report("base", agents, waiting, args.events)
    scaling()
    if args.no_growth:
        return 0
    more_agents = report("10x agents", agents * 10, waiting, args.events // 2)
    more_waiting = report("10x waiting", agents, waiting * 10, args.events // 2)
    print("\ngrowth with 10x agents: p99 x{:.2f}, throughput x{:.2f}; with 10x waiting: p99 x{:.2f}, "
          "throughput x{:.2f}".format(more_agents["p99"] / base["p99"], more_agents["rate"] / base["rate"],
                                      more_waiting["p99"] / base["p99"], more_waiting["rate"] / base["rate"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
