"""Benchmark of the email channel.

Prints:
- parse: messages of the test corpus (tests/email/corpus) parsed per second by
  ``parse_message`` (MIME, charsets, HTML to text, attachments), plus the loop guard,
  bounce check and thread keys each message also goes through;
- ingest: messages delivered over SMTP on loopback (Python's smtplib, ``--clients``
  connections at once, from this process) to the SMTP listener running in a server process
  of its own, side by side:
  - ``ceiling``: the same listener whose sink stores nothing (the stack's limit: Twisted's
    SMTP server and these clients on this machine);
  - ``sqlite`` and ``postgres``: the whole flow into the record: parse, then one
    transaction per message (store, customer, thread or interaction, log, acknowledgement
    in the outbox), group-committed with the messages arriving at the same moment. Each
    ``250`` comes only after that commit, so this is the durable rate.
  One message in five is a reply to an earlier one (threaded by In-Reply-To), the rest new
  messages from 500 senders. Messages per second, the ratio to the ceiling, and the server
  process's CPU per message and peak resident memory. The server process runs with the
  collector settings ``callcenter serve`` applies once serving (:mod:`callcenter.runtime.memory`).

Usage: ``.venv/bin/python bench/email_bench.py [--count 10000] [--clients 8] [--quick]
[--backend sqlite|postgres|ceiling]``. ``--quick`` runs 2,000 messages. PostgreSQL is the
local server (127.0.0.1:5432, user postgres), in a database created for the run and dropped
afterwards; it is skipped when unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
MAILBOX = "support@example.com"


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
    """Message ``n``: every fifth replies to message ``n - 500`` of the same sender."""
    sender = n % 500
    reply = f"In-Reply-To: <m{n - 500}@customer{sender}.example>\r\n" if n % 5 == 4 and n >= 500 else ""
    return (f"From: Customer {sender} <c{sender}@customer{sender}.example>\r\nTo: {MAILBOX}\r\n"
            f"Subject: Question number {n}\r\nMessage-ID: <m{n}@customer{sender}.example>\r\n"
            f"Date: Tue, 17 Nov 2026 10:00:00 +0000\r\n{reply}MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message {n}.\r\n"
            + "Some more text to give it a realistic size. " * 20 + "\r\n").encode()


# --- the server process ---

def serve(target: str, url: str | None) -> None:
    """Run the listener (with the whole flow into ``url``, or a sink that stores nothing for
    ``ceiling``); print its port, wait for a line on stdin, print the outcome as JSON."""
    from callcenter.runtime.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.threads import deferToThread

    from callcenter.runtime.clock import Clock
    from callcenter.runtime.events import EventBus
    from callcenter.runtime.memory import settle_after_start_up
    from callcenter.intake.email import MailFlow
    from callcenter.records.database import Database
    from callcenter.records.mail import MailStore
    from callcenter.records.store import RecordStore
    from callcenter.dispatch.routing_rules import match_rule
    from callcenter.settings import load_settings
    from channels.email.sink import MailReceipt
    from channels.email.smtplistener import SmtpListenerService

    clock = Clock(reactor)
    created: list[int] = []
    received = [0]
    db = records = flow = None
    if target == "ceiling":
        async def sink(raw, envelope):
            received[0] += 1
            return MailReceipt(received[0], None)
    else:
        settings = load_settings(ROOT / "config")
        db = Database(url, reactor, EventBus())
        db.start()
        records = RecordStore(db, clock, "FR")
        tokens = iter(range(10**9))
        flow = MailFlow(records=records, mail=MailStore(db, clock), clock=clock, settings=settings,
                        route=lambda facts: match_rule(settings, facts), queue_open=lambda queue, now: True,
                        on_new_interaction=lambda interaction, routing: created.append(interaction.id),
                        on_customer_reply=lambda interaction: None, new_token=lambda: f"b{next(tokens)}")
        sink = flow.accept_mail
    listener = SmtpListenerService(reactor, sink, {MAILBOX: "support"}, clock, port=0)

    cpu_at_start = [0.0]

    async def run() -> None:
        listener.startService()
        settle_after_start_up()  # the collector's settings `callcenter serve` uses once serving
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_at_start[0] = usage.ru_utime + usage.ru_stime
        print(json.dumps({"port": listener.port}), flush=True)
        await deferToThread(sys.stdin.readline)
        await listener.stopService()
        if flow is not None:
            await flow.drain()
            await records.drain()
            await db.stop()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"interactions": len(created), "peak_rss_mib": usage.ru_maxrss / 1024,
                          "cpu_s": usage.ru_utime + usage.ru_stime - cpu_at_start[0]}), flush=True)
        reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()


# --- the client side ---

def deliver(port: int, count: int, clients: int) -> float:
    """Send ``count`` messages over ``clients`` SMTP connections; messages per second."""
    lock = threading.Lock()
    next_n = iter(range(count))
    failures: list[BaseException] = []
    raws = [message(n) for n in range(count)]

    def client() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                while True:
                    with lock:
                        n = next(next_n, None)
                    if n is None:
                        return
                    smtp.sendmail(f"c{n % 500}@customer{n % 500}.example", [MAILBOX], raws[n])
        except BaseException as error:  # noqa: BLE001 - reported after the run
            failures.append(error)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} clients failed: {failures[0]!r}")
    return count / elapsed


def bench_target(target: str, url: str | None, count: int, clients: int) -> dict:
    """One server process for ``target``: the rate the clients saw and what the server reported."""
    server = subprocess.Popen([sys.executable, __file__, "--serve", target, "--url", url or ""],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = json.loads(server.stdout.readline())["port"]
        rate = deliver(port, count, clients)
        server.stdin.write("stop\n")
        server.stdin.flush()
        outcome = json.loads(server.stdout.readline())
        server.wait(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    return {"rate": rate, **outcome}


def _postgres_database() -> str | None:
    """A fresh migrated database on the local PostgreSQL, or None when it is unreachable."""
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True,
                             connect_timeout=3) as admin:
            name = f"email_bench_{uuid.uuid4().hex[:10]}"
            admin.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception as error:  # noqa: BLE001 - reported, the run goes on without it
        print(f"postgres: skipped ({type(error).__name__}: {error})")
        return None


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Parse the options, run the benchmarks, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=["ceiling", "sqlite", "postgres"], help="only this target")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.url or None)
        return
    from callcenter.records.migrate import upgrade

    count = 2000 if args.quick else args.count
    parse_rate = bench_parse(10 if args.quick else 50)
    print(f"parse:  {parse_rate:,.0f} corpus messages/s (parse, loop guard, bounce check, thread keys)")
    targets = [args.backend] if args.backend else ["ceiling", "sqlite", "postgres"]
    results: dict[str, dict] = {}
    for target in targets:
        url, pg_name = None, None
        if target == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='email-bench-')}/bench.sqlite"
        elif target == "postgres":
            pg_name = _postgres_database()
            if pg_name is None:
                continue
            url = f"{PG_SERVER}/{pg_name}"
        try:
            if url is not None:
                upgrade(url)
            results[target] = bench_target(target, url, count, args.clients)
        finally:
            if pg_name is not None:
                _drop_postgres(pg_name)
    ceiling = results.get("ceiling", {}).get("rate")
    print(f"ingest over SMTP, {count:,} messages, {args.clients} client connections "
          f"(server in its own process):")
    for target, r in results.items():
        ratio = f"  {r['rate'] / ceiling:.0%} of the ceiling" if ceiling and target != "ceiling" else ""
        made = f"  {r['interactions']:,} new interactions" if target != "ceiling" else "  (stores nothing)"
        cpu = 1000 * r["cpu_s"] / count
        print(f"  {target:<9} {r['rate']:>8,.0f} messages/s{ratio}{made}  server CPU {cpu:.2f} ms/message"
              f"  peak RSS {r['peak_rss_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
