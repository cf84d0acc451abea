"""Benchmark: a day of 15-minute reports over 100,000 interactions in SQLite.

Builds a migrated SQLite database in a temporary directory holding 100,000 interactions
queued over one New York day (plus a day either side, so the range query has to pick),
then times, best of three: the range query (:func:`callcenter.records.reporting.interaction_facts`),
the 15-minute report grouped by queue, the same report by agent, and the daily totals.
Prints the figures; asserts nothing about time.

    .venv/bin/python bench/reports_bench.py [--count 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert

from callcenter.records.migrate import upgrade
from callcenter.records.reporting import interaction_facts
from callcenter.records.schema import customers, interactions
from callcenter.reports.intervals import day_range
from callcenter.reports.kpi import KpiRules, ServiceTarget, compute_report

TZ = ZoneInfo("America/New_York")
DAY = date(2026, 3, 2)
QUEUES = ("support", "billing", "sales")
AGENTS = tuple(f"agent{i:03d}" for i in range(120))


def _rows(count: int, rng: random.Random) -> list[dict]:
    start, _ = day_range(DAY, TZ)
    out = []
    for i in range(count):
        # 80 % on the day itself, the rest the day before or after.
        offset = rng.uniform(0, 86400) + (0 if i % 10 < 8 else rng.choice((-86400, 86400)))
        queued = start + timedelta(seconds=offset)
        row = dict(customer_id=1, channel=rng.choice(("voice", "voice", "email", "webform")), direction="inbound",
                   queue=rng.choice(QUEUES), agent=None, state="abandoned", created_at=queued, queued_at=queued,
                   offered_at=None, accepted_at=None, answered_at=None, ended_at=None, wrap_up_ended_at=None,
                   disposition=None, payload={}, updated_at=queued)
        wait = rng.expovariate(1 / 25)
        if rng.random() < 0.9:
            answer = queued + timedelta(seconds=wait)
            end = answer + timedelta(seconds=rng.uniform(60, 400))
            row.update(state="completed", agent=rng.choice(AGENTS), offered_at=answer, accepted_at=answer,
                       answered_at=answer, ended_at=end, wrap_up_ended_at=end + timedelta(seconds=30),
                       disposition=rng.choice(("resolved", "callback", "sale")))
        else:
            row["ended_at"] = queued + timedelta(seconds=wait)
        out.append(row)
    return out


def _best(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    """Build the data, run the timings, print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        upgrade(url)
        engine = create_engine(url)
        now = datetime(2026, 3, 1, tzinfo=timezone.utc)
        t = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(customers).values(id=1, display_name="", tier="basic", attributes={}, external_ids={},
                                                  provisional=False, created_at=now, updated_at=now))
            conn.execute(insert(interactions), _rows(args.count, random.Random(7)))
        print(f"loaded {args.count} interactions in {time.perf_counter() - t:.1f} s")
        start, end = day_range(DAY, TZ)
        rules = KpiRules(5.0, {q: ServiceTarget(80, 20) for q in QUEUES})

        def query():
            with engine.connect() as conn:
                return interaction_facts(conn, start, end)

        q_time, facts = _best(query)
        by_queue, rows = _best(lambda: compute_report(facts, start, end, "15min", TZ, rules, group_by=["queue"]))
        by_agent, agent_rows = _best(lambda: compute_report(facts, start, end, "15min", TZ, rules, group_by=["agent"]))
        daily, _ = _best(lambda: compute_report(facts, start, end, "day", TZ, rules, group_by=["queue"]))
        print(f"range query: {len(facts)} facts of the day in {q_time * 1000:.0f} ms")
        print(f"15-min report by queue: {len(rows)} rows in {by_queue * 1000:.0f} ms")
        print(f"15-min report by agent: {len(agent_rows)} rows in {by_agent * 1000:.0f} ms")
        print(f"daily report by queue: {daily * 1000:.0f} ms")
        print(f"total for a day of 15-min reports by queue (query + compute): {(q_time + by_queue) * 1000:.0f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
