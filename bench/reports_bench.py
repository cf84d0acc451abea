"""Benchmark: a day of 15-minute reports over 100,000 interactions and their logs in SQLite.

Builds a migrated SQLite database in a temporary directory holding 100,000 interactions
queued over one New York day (plus a day either side, so the range query has to pick), each
with the log the switchboard writes (created, routed, offer with a routing trace, return or
not, connect, end, wrap-up end; one in ten overflowed, one in ten abandoned), then times,
best of three: the query of contact histories
(:func:`callcenter.records.reporting.contact_histories`), the derivation of legs, the
15-minute report grouped by queue, by queue and channel, by agent, and the daily totals.
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
from callcenter.records.reporting import contact_histories
from callcenter.records.schema import customers, interaction_events, interactions
from callcenter.reports.intervals import day_range
from callcenter.reports.kpi import KpiRules, ServiceTarget, all_legs, compute_report

TZ = ZoneInfo("America/New_York")
DAY = date(2026, 3, 2)
QUEUES = ("support", "billing", "sales")
AGENTS = tuple(f"agent{i:03d}" for i in range(120))


def _rows(count: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """The interactions and their log entries."""
    start, _ = day_range(DAY, TZ)
    out, log = [], []
    trace = {"mode": "interaction_waiting", "candidates": [f"agent{i:03d}" for i in range(10)], "score": 12.5}

    def entry(iid: int, at: datetime, kind: str, **details) -> None:
        log.append({"interaction_id": iid, "at": at, "kind": kind, "actor": None, "details": details})

    for i in range(count):
        iid = i + 1
        # 80 % on the day itself, the rest the day before or after.
        offset = rng.uniform(0, 86400) + (0 if i % 10 < 8 else rng.choice((-86400, 86400)))
        queued = start + timedelta(seconds=offset)
        queue = rng.choice(QUEUES)
        row = dict(id=iid, customer_id=1, channel=rng.choice(("voice", "voice", "email", "webform")),
                   direction="inbound", queue=queue, agent=None, state="abandoned", created_at=queued,
                   queued_at=queued, offered_at=None, accepted_at=None, answered_at=None, ended_at=None,
                   wrap_up_ended_at=None, disposition=None, payload={}, updated_at=queued)
        entry(iid, queued, "created", state="queued")
        entry(iid, queued, "routed", queue=queue, rule="default", skipped=[])
        wait = rng.expovariate(1 / 25)
        at = queued
        if i % 10 == 3:
            at = queued + timedelta(seconds=wait)
            entry(iid, at, "overflowed", interaction=iid, source=queue, target="support", why="timeout")
        agent = rng.choice(AGENTS)
        entry(iid, at + timedelta(seconds=1), "state", step="offer", agent=agent, trace=trace, **{"from": "queued"})
        if rng.random() < 0.9:
            answer = at + timedelta(seconds=wait)
            end = answer + timedelta(seconds=rng.uniform(60, 400))
            row.update(state="completed", agent=agent, offered_at=answer, accepted_at=answer,
                       answered_at=answer, ended_at=end, wrap_up_ended_at=end + timedelta(seconds=30),
                       disposition=rng.choice(("resolved", "callback", "sale")), updated_at=end + timedelta(seconds=30))
            entry(iid, answer, "state", step="accept", agent=agent)
            entry(iid, answer, "state", step="connect", agent=agent)
            entry(iid, end, "state", step="end", agent=agent)
            entry(iid, end + timedelta(seconds=30), "state", step="wrap_up_end", agent=agent)
        else:
            row["ended_at"] = row["updated_at"] = at + timedelta(seconds=wait)
            entry(iid, at + timedelta(seconds=2), "state", step="return", agent=agent)
            entry(iid, row["ended_at"], "state", step="abandon", reason="caller_hung_up")
        out.append(row)
    return out, log


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
            rows, log = _rows(args.count, random.Random(7))
            conn.execute(insert(interactions), rows)
            conn.execute(insert(interaction_events), log)
        print(f"loaded {args.count} interactions and {len(log)} log entries in {time.perf_counter() - t:.1f} s")
        start, end = day_range(DAY, TZ)
        rules = KpiRules(5.0, {q: ServiceTarget(80, 20) for q in QUEUES})

        def query():
            with engine.connect() as conn:
                return contact_histories(conn, start, end)

        q_time, histories = _best(query)
        d_time, legs = _best(lambda: [leg for leg in all_legs(histories) if start <= leg.entered_at < end])
        by_queue, rows = _best(lambda: compute_report(legs, start, end, "15min", TZ, rules, group_by=["queue"]))
        by_pair, pair_rows = _best(lambda: compute_report(legs, start, end, "15min", TZ, rules,
                                                          group_by=["queue", "channel"]))
        by_agent, agent_rows = _best(lambda: compute_report(legs, start, end, "15min", TZ, rules, group_by=["agent"]))
        daily, _ = _best(lambda: compute_report(legs, start, end, "day", TZ, rules, group_by=["queue"]))
        print(f"history query: {len(histories)} contacts changed in the day in {q_time * 1000:.0f} ms")
        print(f"leg derivation: {len(legs)} legs entered in the day in {d_time * 1000:.0f} ms")
        print(f"15-min report by queue: {len(rows)} rows in {by_queue * 1000:.0f} ms")
        print(f"15-min report by queue and channel: {len(pair_rows)} rows in {by_pair * 1000:.0f} ms")
        print(f"15-min report by agent: {len(agent_rows)} rows in {by_agent * 1000:.0f} ms")
        print(f"daily report by queue: {daily * 1000:.0f} ms")
        print(f"total for a day of 15-min reports by queue (query + legs + compute): "
              f"{(q_time + d_time + by_queue) * 1000:.0f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
