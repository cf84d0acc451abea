"""Benchmark of parsing received mail: the real-message corpus, and large messages off the reactor.

Prints:
- corpus: the messages of tests/fixtures/email/corpus (real mail from public test suites)
  parsed per second by ``parse_message`` plus the loop guard, and the share that reads well;
- large: ``--large`` messages of ``--size`` MiB each (text and a base64 attachment) parsed
  at once, first on the reactor thread, then through :class:`ParsePool` with
  ``--concurrent`` workers: wall time, and the longest gap between ticks of a 10 ms timer
  on the reactor (what a ``/health`` request would wait), and the peak resident memory of
  the process after each run.

Usage: ``.venv/bin/python bench/email_parse_bench.py [--large 10] [--size 24] [--concurrent 2]``.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from callcenter.runtime.reactor import install_asyncio_reactor  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "email" / "corpus"


def bench_corpus(rounds: int = 3) -> None:
    """Print corpus messages parsed per second."""
    from channels.email.loopguard import is_automatic
    from channels.email.parsing import parse_message

    messages = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in messages:
            is_automatic(parse_message(raw, envelope_sender="bench@example.com"), ("support@example.com",))
    elapsed = time.perf_counter() - started
    total = rounds * len(messages)
    print(f"corpus: {len(messages)} messages, {total / elapsed:,.0f} parsed per second")


def large_message(size_mib: int, seed: int) -> bytes:
    """A message of about ``size_mib`` MiB: a Cyrillic text part and a base64 attachment."""
    text = ("Здравствуйте, это длинное письмо номер %d. " % seed * 20000).encode("utf-8")
    attachment = base64.encodebytes(os.urandom(max(1, size_mib * 1024 * 1024 * 3 // 4 - len(text))))
    return (b"From: A <a@example.com>\r\nSubject: big %d\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" % seed + text
            + b"\r\n--b\r\nContent-Type: application/octet-stream; name=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + attachment.replace(b"\n", b"\r\n") + b"--b--\r\n")


def bench_large(count: int, size_mib: int, concurrent: int) -> None:
    """Print wall time and the reactor's longest stall, inline and through ParsePool."""
    install_asyncio_reactor()
    from twisted.internet import reactor, task
    from twisted.internet.defer import ensureDeferred, gatherResults

    from channels.email.parsepool import ParsePool
    from channels.email.parsing import ParseLimits, parse_message

    limits = ParseLimits(max_attachment_bytes=64 * 1024 * 1024)
    messages = [large_message(size_mib, i) for i in range(count)]
    pool = ParsePool(reactor, max_concurrent=concurrent)
    pool.start()
    results: dict[str, tuple[float, float]] = {}

    async def measure(name: str, work) -> None:
        ticks: list[float] = []
        loop = task.LoopingCall(lambda: ticks.append(time.perf_counter()))
        loop.start(0.01)
        started = time.perf_counter()
        await work()
        elapsed = time.perf_counter() - started
        loop.stop()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])] or [elapsed]
        results[name] = (elapsed, max(gaps))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"large, {name}: {count} x {size_mib} MiB in {elapsed:.1f} s; longest reactor stall "
              f"{max(gaps) * 1000:,.0f} ms; peak RSS so far {peak:,.0f} MiB")

    async def inline() -> None:
        for raw in messages:
            await task.deferLater(reactor, 0, lambda: None)
            parse_message(raw, limits)

    async def pooled() -> None:
        await gatherResults([ensureDeferred(pool.parse(raw, limits)) for raw in messages])

    async def run() -> None:
        try:
            await measure(f"ParsePool({concurrent})", pooled)
            await measure("on the reactor thread", inline)
        finally:
            pool.stop()
            reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()


def main() -> None:
    """Run the benchmarks named by the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=10, help="large messages parsed at once")
    parser.add_argument("--size", type=int, default=24, help="size of each large message in MiB")
    parser.add_argument("--concurrent", type=int, default=2, help="ParsePool workers")
    args = parser.parse_args()
    bench_corpus()
    bench_large(args.large, args.size, args.concurrent)


if __name__ == "__main__":
    main()
