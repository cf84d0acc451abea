"""Slow HTTP clients from one address against a real server: do /health, SMTP and FastAGI keep answering?

Starts ``callcenter serve`` in its own process (shipped config, SQLite in a temporary data
directory, free loopback ports). An attacker at 127.0.0.1 then holds ``--sockets`` connections
that each send a request line and one header line every ``--interval`` seconds (slowloris),
reopening any the server closes. Meanwhile a probe at 127.0.0.2 (another client address on
loopback) asks, one after the other: ``GET /health`` on a new connection, the SMTP banner, and
the first command the FastAGI server sends after an environment block.

Printed per phase (before, during, after the flood): each probe's p50/p95/max latency and
failures, the server's resident memory (VmRSS) and its peak (VmHWM), and how many attacker
connections the server closed or refused.

    .venv/bin/python bench/http_flood_bench.py [--sockets 2000] [--seconds 30] [--interval 10]
                                               [--unbounded]

``--unbounded`` runs the server with limits so large that they never apply (the behaviour
before the listener had limits), for comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE_ADDRESS = "127.0.0.2"
AGI_ENV = (b"agi_network: yes\nagi_network_script: inbound\nagi_request: agi://127.0.0.1/inbound\n"
           b"agi_channel: PJSIP/bench-0001\nagi_uniqueid: %d.1\nagi_callerid: +14155550100\n"
           b"agi_dnid: 8005550100\nagi_extension: 8005550100\n\n")
UNBOUNDED = {"header_timeout": "24h", "body_timeout": "24h", "idle_timeout": "24h", "max_connections": "1000000",
             "max_connections_per_address": "1000000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


class Server:
    """``callcenter serve`` in a temporary directory."""

    def __init__(self, unbounded: bool) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="flood-"))
        config = self.tmp / "config"
        shutil.copytree(ROOT / "config", config)
        if unbounded:  # the shipped server.yaml lists every http_limits key with its default
            server = (config / "server.yaml").read_text()
            for key, value in UNBOUNDED.items():
                server, found = re.subn(rf"(?m)^(    {key}:)\s*\S+", rf"\g<1> {value}", server)
                assert found == 1, key
            (config / "server.yaml").write_text(server)
        self.http, self.smtp, self.agi = free_port(), free_port(), free_port()
        data = self.tmp / "var"
        cli = [sys.executable, "-m", "callcenter.cli"]
        subprocess.run(cli + ["migrate", "--config", str(config), "--data-dir", str(data)], check=True,
                       capture_output=True, cwd=ROOT)
        self.log = open(self.tmp / "server.log", "wb")
        self.process = subprocess.Popen(
            cli + ["serve", "--config", str(config), "--data-dir", str(data), "--http-port", str(self.http),
                   "--smtp-port", str(self.smtp), "--fastagi-port", str(self.agi), "--log-format", "json"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start; see " + str(self.tmp / "server.log"))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def timed(fn) -> float | None:
    """Seconds ``fn`` took, or None if it failed."""
    start = time.perf_counter()
    try:
        fn()
    except OSError:
        return None
    return time.perf_counter() - start


def probe_health(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(PROBE_ADDRESS, 0)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        if not s.recv(65536).startswith(b"HTTP/1.1 200"):
            raise OSError("no 200")


def probe_smtp(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(PROBE_ADDRESS, 0)) as s:
        if not s.recv(1024).startswith(b"220"):
            raise OSError("no banner")


def probe_agi(port: int, n: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(PROBE_ADDRESS, 0)) as s:
        s.sendall(AGI_ENV % n)
        if not s.recv(1024):
            raise OSError("closed")


class Flood(threading.Thread):
    """Holds ``count`` slow connections from 127.0.0.1, one header line every ``interval`` s."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.interval = port, count, interval
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self.opened = 0
        self.running = True

    def _open(self) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=("127.0.0.1", 0))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\n")
            s.setblocking(False)
            self.sockets.append(s)
            self.opened += 1
        except OSError:
            self.closed_by_server += 1

    def run(self) -> None:
        while self.running:
            while len(self.sockets) < self.count and self.running:
                self._open()
            deadline = time.monotonic() + self.interval
            for s in list(self.sockets):
                try:
                    if s.recv(65536, socket.MSG_PEEK) == b"":
                        raise OSError("closed")
                    raise OSError("answered")  # a 408 or 400: the server gave up on it
                except BlockingIOError:
                    try:
                        s.sendall(b"X-Slow: y\r\n")
                        continue
                    except OSError:
                        pass
                except OSError:
                    pass
                self.closed_by_server += 1
                self.sockets.remove(s)
                s.close()
            while self.running and time.monotonic() < deadline:
                time.sleep(0.05)

    def stop(self) -> None:
        self.running = False
        self.join(timeout=30)
        for s in self.sockets:
            s.close()


def measure(server: Server, seconds: float, label: str, n0: int) -> int:
    results: dict[str, list[float | None]] = {"health": [], "smtp": [], "fastagi": []}
    end = time.monotonic() + seconds
    n = n0
    while time.monotonic() < end:
        results["health"].append(timed(lambda: probe_health(server.http)))
        results["smtp"].append(timed(lambda: probe_smtp(server.smtp)))
        results["fastagi"].append(timed(lambda: probe_agi(server.agi, n)))
        n += 1
        time.sleep(0.2)
    rss, peak = memory(server.process.pid)
    print(f"{label:>7}: server RSS {rss:6.1f} MB (peak {peak:6.1f} MB)")
    for name, values in results.items():
        ok = sorted(v * 1000 for v in values if v is not None)
        failed = sum(v is None for v in values)
        if ok:
            p95 = ok[min(len(ok) - 1, int(len(ok) * 0.95))]
            print(f"         {name:8} n={len(values):3}  p50 {statistics.median(ok):7.1f} ms  p95 {p95:7.1f} ms"
                  f"  max {ok[-1]:7.1f} ms  failed {failed}")
        else:
            print(f"         {name:8} n={len(values):3}  every probe failed")
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--unbounded", action="store_true")
    args = parser.parse_args()
    server = Server(args.unbounded)
    try:
        print(f"server pid {server.process.pid}; {'unbounded' if args.unbounded else 'default'} limits; "
              f"{args.sockets} slow sockets from 127.0.0.1, one header line every {args.interval:g} s; "
              f"probes from {PROBE_ADDRESS}")
        n = measure(server, 5, "before", 1)
        flood = Flood(server.http, args.sockets, args.interval)
        flood.start()
        n = measure(server, args.seconds, "during", n)
        held = len(flood.sockets)
        flood.stop()
        print(f"         attacker: {flood.opened} connections opened, {flood.closed_by_server} closed or refused "
              f"by the server, {held} held at the end")
        time.sleep(2)
        measure(server, 5, "after", n)
    finally:
        server.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
