"""Benchmark of the web forms channel: sustained submissions over loopback HTTP into SQLite.

A load generator keeps ``--concurrency`` submissions in flight (keep-alive connections)
against a FormsResource on a free loopback port, backed by FormFlow and a RecordStore on a
fresh SQLite file. Rate limits are off and the minimum fill time is 0 for the run (one
token serves every submission); everything else is the shipped ``contact`` form: field
validation, token check, customer identification (a pool of returning customers plus
new ones; a warm-up creates the returning ones first), the interaction write, routing and confirmation callbacks (no-ops here).

Prints, per body kind (URL-encoded, JSON): submissions per second over the run and the
p50/p99 latency of one submission in milliseconds.

Usage: ``.venv/bin/python bench/webform_bench.py [--quick] [--count N] [--concurrency C]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from io import BytesIO
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.reactor import install_asyncio_reactor  # noqa: E402

CUSTOMERS = 500  # returning customers; every fifth submission is a new one


def _fields(n: int) -> dict[str, str]:
    who = n % CUSTOMERS if n % 5 else CUSTOMERS + n
    return {"name": f"Customer {who}", "email": f"c{who}@example.com", "phone": f"+1212555{who % 10000:04d}",
            "topic": ("support", "billing", "other")[n % 3], "message": f"Request number {n}.\nPlease call back.",
            "consent": "on"}


async def _run(kind: str, base: str, token: str, count: int, concurrency: int, start: int = 0) -> tuple[float, list[float]]:
    from twisted.internet import reactor
    from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults
    from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
    from twisted.web.http_headers import Headers

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = concurrency
    agent = Agent(reactor, pool=pool)
    latencies: list[float] = []
    expected = 201 if kind == "json" else 303

    async def one(n: int) -> None:
        fields = {"_token": token, **_fields(n)}
        if kind == "json":
            body = json.dumps({**fields, "consent": True}).encode()
            ctype = b"application/json"
        else:
            body = urlencode(fields).encode()
            ctype = b"application/x-www-form-urlencoded"
        started = time.perf_counter()
        response = await agent.request(b"POST", f"{base}/forms/contact".encode(),
                                       Headers({b"content-type": [ctype]}), FileBodyProducer(BytesIO(body)))
        await readBody(response)
        latencies.append(time.perf_counter() - started)
        if response.code != expected:
            raise RuntimeError(f"submission {n}: HTTP {response.code}")

    gate = DeferredSemaphore(concurrency)
    started = time.perf_counter()
    await gatherResults([gate.run(lambda n=n: ensureDeferred(one(n))) for n in range(start, start + count)])
    elapsed = time.perf_counter() - started
    await pool.closeCachedConnections()
    return elapsed, latencies


async def _bench(args, workdir: Path) -> None:
    from twisted.internet import reactor
    from twisted.web.resource import Resource

    from callcenter.clock import Clock
    from callcenter.events import EventBus
    from callcenter.intake.webform import FormFlow
    from callcenter.records.database import Database
    from callcenter.records.migrate import upgrade
    from callcenter.records.store import RecordStore
    from callcenter.settings import load_settings
    from callcenter.web.site import HttpService, RootResource
    from channels.webform.resource import FormsResource
    from channels.webform.tokens import FormSigner

    url = f"sqlite:///{workdir / 'bench.sqlite'}"
    upgrade(url)
    settings = load_settings(Path(__file__).resolve().parents[1] / "config")
    forms = {"contact": dataclasses.replace(settings.webform.forms["contact"], per_ip_rate=None,
                                            global_rate=None, min_fill_time=0.0)}
    db = Database(url, reactor, EventBus())
    db.start()
    clock = Clock(reactor)
    store = RecordStore(db, clock, "US")

    async def confirm(to, subject, body, interaction):
        return None

    flow = FormFlow(store=store, forms=forms, templates=settings.templates, data_dir=workdir, reactor=reactor,
                    on_new_interaction=lambda interaction, routing_input: None, send_confirmation=confirm)
    secret = os.urandom(32)
    root = RootResource(Resource())
    root.putChild(b"forms", FormsResource(forms=forms, sink=flow.submit_form, clock=clock, secret=secret,
                                          languages=settings.server.languages, default_region="US",
                                          templates=settings.templates))
    http = HttpService(reactor, root, "127.0.0.1", 0)
    http.startService()
    host, port = http.address
    token = FormSigner(secret).issue("contact", clock.now() - 1)
    print(f"web forms on SQLite, {args.count} submissions per kind, {args.concurrency} in flight")
    try:
        # Warm-up, not measured: creates the returning customers so both kinds meet the same mix.
        await _run("urlencoded", f"http://{host}:{port}", token, CUSTOMERS, args.concurrency)
        for offset, kind in enumerate(("urlencoded", "json"), start=1):
            elapsed, latencies = await _run(kind, f"http://{host}:{port}", token, args.count, args.concurrency,
                                            start=offset * 1_000_000)
            cuts = statistics.quantiles(latencies, n=100)
            print(f"  {kind:<10} {args.count / elapsed:8.0f} submissions/s   "
                  f"p50 {cuts[49] * 1000:7.1f} ms   p99 {cuts[98] * 1000:7.1f} ms")
    finally:
        await http.stopService()
        await store.drain()
        await db.stop()


def main() -> None:
    """Parse the options, run the benchmark on the asyncio reactor, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 submissions per kind")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.count = 300
    install_asyncio_reactor()
    # readBody warns about the keep-alive transport's missing abortConnection; harmless here.
    warnings.filterwarnings("ignore", message="Using readBody", category=DeprecationWarning)
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred

    failures: list = []
    with tempfile.TemporaryDirectory(prefix="webform-bench-") as workdir:
        d = ensureDeferred(_bench(args, Path(workdir)))
        d.addErrback(failures.append)
        d.addBoth(lambda _: reactor.stop())
        reactor.run()
    if failures:
        failures[0].raiseException()


if __name__ == "__main__":
    main()
