"""Web form submissions over loopback HTTP into the record, SQLite and PostgreSQL side by side.

The server side is what ``callcenter serve`` runs for a form: FormsResource (field validation,
token check) -> FormFlow -> the intake pipeline (customer from memory or one shared read,
routing rules, the routing core through a real Switchboard) -> one write per submission
(customer, interaction, log, and the confirmation mail in the outbox), group-committed. Rate limits are off and the minimum fill time is 0 for the run (one token
serves every submission); everything else is the shipped ``contact`` form. A pool of
returning customers is created by a warm-up first; every fifth submission is a new customer.

The load comes from a child process (plain asyncio sockets, HTTP/1.1 keep-alive, ``--concurrency``
submissions in flight), so client and server do not share an interpreter. The ceiling is the
same client against a bare twisted.web resource that reads the body and answers 303: what
HTTP, Twisted and the sockets cost alone, measured in the same run.

Printed per backend and body kind (URL-encoded, JSON): submissions per second, p50/p99 latency
of one submission, the ratio to the ceiling, the server's CPU time per submission (every
thread) and its peak resident memory.

Usage: ``.venv/bin/python bench/webform_bench.py [--quick] [--count N] [--concurrency C]
[--backend sqlite|postgres|both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CUSTOMERS = 500  # returning customers; every fifth submission is a new one


def _fields(n: int) -> dict[str, str]:
    who = n % CUSTOMERS if n % 5 else CUSTOMERS + n
    return {"name": f"Customer {who}", "email": f"c{who}@example.com", "phone": f"+1212555{who % 10000:04d}",
            "topic": ("support", "billing", "other")[n % 3], "message": f"Request number {n}.\nPlease call back.",
            "consent": "on"}


# --- the load (child process) ------------------------------------------------------------------

async def _client(port: int, kind: str, token: str, count: int, concurrency: int, start: int) -> dict:
    """Keep ``concurrency`` submissions in flight on keep-alive connections; latencies in ms."""
    expected = b"201" if kind == "json" else b"303"
    latencies: list[float] = []
    numbers = iter(range(start, start + count))

    def request(n: int) -> bytes:
        fields = {"_token": token, **_fields(n)}
        if kind == "json":
            body, ctype = json.dumps({**fields, "consent": True}).encode(), "application/json"
        else:
            body, ctype = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        return (f"POST /forms/contact HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in numbers:
            began = time.perf_counter()
            writer.write(request(n))
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - began) * 1000)
            if status != expected:
                raise RuntimeError(f"submission {n}: HTTP {status.decode()}")
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"elapsed": time.perf_counter() - began, "latencies": latencies}


async def load(reactor: Any, port: int, kind: str, token: str, count: int, concurrency: int, start: int) -> dict:
    """Run the client in a child process against ``port``; its figures."""
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, code = await getProcessOutputAndValue(
        sys.executable, [str(Path(__file__).resolve()), "--client", json.dumps([port, kind, token, count, concurrency,
                                                                                start])],
        env=dict(os.environ), reactor=reactor)
    if code != 0:
        raise RuntimeError(f"load client failed ({code}):\n{err.decode(errors='replace')}")
    return json.loads(out.decode().strip().splitlines()[-1])


# --- the server (parent process) ---------------------------------------------------------------

def cpu_seconds() -> float:
    """CPU time this process has used, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The highest resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def measure(reactor: Any, port: int, kind: str, token: str, count: int, concurrency: int, start: int) -> dict:
    """One measured run: rate, latencies, server CPU per submission."""
    before = cpu_seconds()
    result = await load(reactor, port, kind, token, count, concurrency, start)
    result["cpu_ms"] = (cpu_seconds() - before) * 1000 / count
    result["rate"] = count / result["elapsed"]
    return result


def show(label: str, result: dict, ceiling: dict | None) -> None:
    """Print one run's figures (and the ratio to the ceiling's)."""
    lat = result["latencies"]
    line = (f"{label:<26} {result['rate']:7.0f} submissions/s   p50 {percentile(lat, 50):6.1f} ms   "
            f"p99 {percentile(lat, 99):6.1f} ms   server CPU {result['cpu_ms']:.2f} ms each")
    if ceiling is not None:
        line += f"   ({ceiling['rate'] / result['rate']:.1f}x slower than the ceiling)"
    print(line + f"   peak RSS {peak_rss_mb():.0f} MiB", flush=True)


async def ceiling(reactor: Any, args: argparse.Namespace) -> dict[str, dict]:
    """The same client against a bare twisted.web POST handler."""
    from twisted.web.resource import Resource

    from callcenter.web.site import HttpService, RootResource

    class Bare(Resource):
        isLeaf = True

        def render_POST(self, request: Any) -> bytes:
            request.content.read()
            request.setResponseCode(303)
            request.setHeader(b"location", b"/forms/contact/thanks")
            return b""

    forms = Resource()
    forms.putChild(b"contact", Bare())
    root = RootResource(Resource())
    root.putChild(b"forms", forms)
    http = HttpService(reactor, root, "127.0.0.1", 0)
    http.limit_body(b"/forms", 1024 * 1024, parsed_by_resource=True)  # as the server's forms: no body parsing
    http.startService()
    try:
        out = {kind: await measure(reactor, http.address[1], kind, "-", args.count, args.concurrency, 0)
               for kind in ("urlencoded",)}
        out["json"] = out["urlencoded"]
    finally:
        await http.stopService()
    return out


async def one_backend(reactor: Any, backend: str, url: str, args: argparse.Namespace, workdir: Path,
                      bare: dict[str, dict]) -> None:
    """The whole form path on ``url``: warm-up, then each body kind."""
    from twisted.web.resource import Resource

    from callcenter.runtime.clock import Clock
    from callcenter.runtime.events import EventBus
    from callcenter.runtime.memory import settle_after_start_up
    from callcenter.intake.email import MailFlow
    from callcenter.intake.pipeline import IntakePipeline
    from callcenter.intake.webform import FormFlow
    from callcenter.dispatch.routing_rules import match_rule
    from callcenter.records.mail import MailStore
    from callcenter.records.database import Database
    from callcenter.records.migrate import upgrade
    from callcenter.records.store import RecordStore
    from callcenter.dispatch.routing_setup import interaction_spec, routing_config
    from callcenter.settings import load_settings
    from callcenter.dispatch.switchboard import Switchboard
    from callcenter.web.site import HttpService, RootResource
    from channels.webform.resource import FormsResource
    from channels.webform.tokens import FormSigner
    from routing import Router

    upgrade(url)
    settings = load_settings(Path(__file__).resolve().parents[1] / "config")
    forms = {"contact": dataclasses.replace(settings.webform.forms["contact"], per_ip_rate=None,
                                            global_rate=None, min_fill_time=0.0)}
    db = Database(url, reactor, EventBus())
    db.start()
    clock = Clock(reactor)
    store = RecordStore(db, clock, "US")
    board = Switchboard(settings=settings, clock=clock, store=store, router=Router(routing_config(settings)),
                        spec_builder=interaction_spec)
    intake = IntakePipeline(store=store, switchboard=board, clock=clock)

    tokens = iter(range(10**9))
    # The confirmations go to the outbox in each submission's write, as in the server (nothing sends them).
    mailflow = MailFlow(records=store, mail=MailStore(db, clock, auto_reply_cap=settings.email.auto_reply_cap,
                                                      auto_reply_window=settings.email.auto_reply_window),
                        clock=clock, settings=settings, route=lambda facts: match_rule(settings, facts),
                        queue_open=lambda queue, now: True, on_new_interaction=lambda interaction, routing: None,
                        on_customer_reply=lambda interaction: None, new_token=lambda: f"b{next(tokens)}")
    flow = FormFlow(admit=intake.admit, forms=forms, templates=settings.templates, data_dir=workdir, reactor=reactor,
                    confirmation=mailflow)
    secret = os.urandom(32)
    root = RootResource(Resource())
    root.putChild(b"forms", FormsResource(forms=forms, sink=flow.submit_form, clock=clock, secret=secret,
                                          languages=settings.server.languages, default_region="US",
                                          templates=settings.templates))
    http = HttpService(reactor, root, "127.0.0.1", 0)
    http.limit_body(b"/forms", forms["contact"].max_body_bytes, parsed_by_resource=True)  # as callcenter.app does
    http.startService()
    port = http.address[1]
    token = FormSigner(secret).issue("contact", clock.now() - 1)
    try:
        await load(reactor, port, "urlencoded", token, CUSTOMERS, args.concurrency, 0)  # warm-up, not measured
        settle_after_start_up()  # the collector's settings `callcenter serve` uses once serving
        for offset, kind in enumerate(("urlencoded", "json"), start=1):
            result = await measure(reactor, port, kind, token, args.count, args.concurrency, offset * 1_000_000)
            show(f"{backend} {kind}", result, bare[kind])
        await board.settled()
        print(f"{'':26} record: {len(board.router.waiting())} submissions waiting in the routing core", flush=True)
    finally:
        await http.stopService()
        board.stop()
        await store.drain()
        await db.stop()


async def main(reactor: Any, args: argparse.Namespace) -> None:
    """The ceiling, then each requested backend."""
    from recovery_bench import scratch_database

    print(f"web forms: {args.count} submissions per body kind, {args.concurrency} in flight, "
          f"client in its own process", flush=True)
    bare = await ceiling(reactor, args)
    show("ceiling (bare twisted.web)", bare["urlencoded"], None)
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        with scratch_database(backend) as url, tempfile.TemporaryDirectory(prefix="webform-bench-") as workdir:
            if url is None:
                print(f"{backend} skipped: nothing answers on 127.0.0.1:5432", flush=True)
                continue
            await one_backend(reactor, backend, url, args, Path(workdir), bare)


def cli() -> None:
    """Parse the options; run the benchmark (or, with ``--client``, the load generator)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 submissions per kind")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(_client(*json.loads(args.client)))), flush=True)
        return
    if args.quick:
        args.count = 300
    from callcenter.runtime.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    react(lambda reactor: ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    cli()
