"""Benchmark of the email channel.

Prints:
- parse: messages of the test corpus (tests/email/corpus) parsed per second by
  ``parse_message`` (MIME, charsets, HTML to text, attachments), plus the loop guard,
  bounce check and thread keys each message also goes through;
- ingest: messages delivered over SMTP on loopback (Python's smtplib, ``--clients``
  connections at once) to the SMTP listener and through the whole flow into SQLite:
  parse, store, thread, identify the customer, log the interaction, match the routing
  rules, queue the acknowledgement. Each ``250`` comes only after the message is stored,
  so this is the durable rate. One message in five is a reply to an earlier one (threaded
  by In-Reply-To), the rest new messages from 500 senders. Messages per second, and the
  process's peak resident memory.

Usage: ``.venv/bin/python bench/email_bench.py [--count 10000] [--clients 4] [--quick]``.
``--quick`` runs 1,000 messages.
"""

from __future__ import annotations

import argparse
import os
import resource
import smtplib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.reactor import install_asyncio_reactor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bench_parse(rounds: int) -> float:
    """Corpus messages parsed (and checked) per second."""
    from channels.email.bounces import parse_bounce
    from channels.email.loopguard import is_automatic
    from channels.email.parsing import parse_message
    from channels.email.threading import thread_keys

    corpus = [p.read_bytes() for p in sorted((ROOT / "tests/email/corpus").glob("*.eml"))]
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in corpus:
            parsed = parse_message(raw)
            is_automatic(parsed)
            parse_bounce(parsed)
            thread_keys(parsed)
    return rounds * len(corpus) / (time.perf_counter() - start)


def message(n: int) -> bytes:
    """Message ``n``: every fifth replies to message ``n - 1`` of the same sender."""
    sender = n % 500
    reply = f"In-Reply-To: <m{n - 500}@customer{sender}.example>\r\n" if n % 5 == 4 and n >= 500 else ""
    return (f"From: Customer {sender} <c{sender}@customer{sender}.example>\r\nTo: support@example.com\r\n"
            f"Subject: Question number {n}\r\nMessage-ID: <m{n}@customer{sender}.example>\r\n"
            f"Date: Tue, 17 Nov 2026 10:00:00 +0000\r\n{reply}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message {n}.\r\n"
            + "Some more text to give it a realistic size. " * 20 + "\r\n").encode()


def bench_ingest(count: int, clients: int) -> tuple[float, int]:
    """(messages stored per second through the SMTP listener, interactions created)."""
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.threads import deferToThread

    from callcenter.clock import Clock
    from callcenter.events import EventBus
    from callcenter.mailflow import MailFlow
    from callcenter.records.database import Database
    from callcenter.records.mail import MailStore
    from callcenter.records.migrate import upgrade
    from callcenter.records.store import RecordStore
    from callcenter.routing_rules import match_rule
    from callcenter.settings import load_settings
    from channels.email.smtplistener import SmtpListenerService

    settings = load_settings(ROOT / "config")
    workdir = tempfile.mkdtemp(prefix="email-bench-")
    url = f"sqlite:///{workdir}/bench.sqlite"
    upgrade(url)
    db = Database(url, reactor, EventBus())
    db.start()
    clock = Clock(reactor)
    records = RecordStore(db, clock, "FR")
    created = []
    tokens = iter(range(10**9))
    flow = MailFlow(records=records, mail=MailStore(db, clock), clock=clock, settings=settings,
                    route=lambda facts: match_rule(settings, facts), queue_open=lambda queue, now: True,
                    on_new_interaction=lambda interaction, routing: created.append(interaction.id),
                    on_customer_reply=lambda interaction: None, new_token=lambda: f"b{next(tokens)}")
    listener = SmtpListenerService(reactor, flow.accept_mail, {"support@example.com": "support"}, clock, port=0)
    outcome: dict[str, float] = {}
    lock = threading.Lock()
    next_n = iter(range(count))

    def client() -> None:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as smtp:
            while True:
                with lock:
                    n = next(next_n, None)
                if n is None:
                    return
                smtp.sendmail(f"c{n % 500}@customer{n % 500}.example", ["support@example.com"], message(n))

    async def run() -> None:
        listener.startService()
        try:
            start = time.perf_counter()
            await ensureDeferred(_gather([deferToThread(client) for _ in range(clients)]))
            outcome["rate"] = count / (time.perf_counter() - start)
        finally:
            await listener.stopService()
            await records.drain()
            await db.stop()
            reactor.stop()

    reactor.suggestThreadPoolSize(clients + 4)
    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()
    return outcome["rate"], len(created)


async def _gather(deferreds):
    from twisted.internet.defer import gatherResults

    return await gatherResults(deferreds, consumeErrors=True)


def main() -> None:
    """Parse the options, run both benchmarks, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 1000 if args.quick else args.count
    install_asyncio_reactor()
    parse_rate = bench_parse(20 if args.quick else 100)
    print(f"parse:  {parse_rate:,.0f} corpus messages/s (parse, loop guard, bounce check, thread keys)")
    ingest_rate, interactions = bench_ingest(count, args.clients)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ingest: {count:,} messages over SMTP into SQLite in {count / ingest_rate:.1f} s: "
          f"{ingest_rate:,.0f} messages/s stored ({interactions:,} new interactions, {args.clients} clients)")
    print(f"peak resident memory: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
