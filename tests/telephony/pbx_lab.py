"""Records the call scenarios of tests/fixtures/asterisk/calls on a live Asterisk.

Needs an Asterisk running the lab of tests/fixtures/asterisk/lab/pbx (AMI on 5038, FastAGI
pointed at 127.0.0.1:4573), reachable with ``--asterisk "asterisk -C /path/asterisk.conf"``.
For each scenario it starts :mod:`tests.telephony.pbx_recorder` between the two (FastAGI
4573 -> 4574, AMI 5039 -> 5038), a fresh ``callcenter serve`` on the lab configuration, plays the
scenario (agents' states through the supervisor API, callers as AMI Originates of Local channels
into ``callcenter-inbound``), reads the dashboard, stops the server and writes, next to the
recording, ``NAME.steps.json`` (the agents' state changes, when the dashboard was read) and
``NAME.expected.json`` (what the record, the agents and the dashboard said: check it against
Asterisk's log before keeping it). Usage::

    python -m tests.telephony.pbx_lab --asterisk "asterisk -C /lab/asterisk.conf" \\
        --pid-file /lab/run/asterisk.pid OUTDIR [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tests" / "fixtures" / "asterisk" / "lab" / "callcenter"
BIN = Path(sys.executable).parent


class Lab:
    """One scenario's handles: the PBX (AMI Originate, its CLI), the server's API, the steps log."""

    def __init__(self, asterisk: list[str], pid_file: str, admin: str, agent: str, epoch: float) -> None:
        self.asterisk, self.pid_file = asterisk, pid_file
        self._admin, self._agent, self.epoch = admin, agent, epoch
        self.steps: list[dict[str, Any]] = []
        self.restart_server: Callable[[float], None] = lambda down: None
        self._ami = socket.create_connection(("127.0.0.1", 5038))
        self._ami.recv(100)
        self._n = 0
        self._send("Login", Username="callcenter", Secret="s3cret", Events="off")

    def _send(self, action: str, **headers: str) -> None:
        self._n += 1
        lines = [f"Action: {action}", f"ActionID: lab-{self._n}", *(f"{k}: {v}" for k, v in headers.items())]
        self._ami.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        time.sleep(0.05)

    def call(self, caller: str = "+14155550100", name: str = "Pat Lee", hold: float = 60, digits: str = "") -> None:
        """A customer calls and holds the line for ``hold`` seconds at most."""
        variables = f"CC_HOLD={hold}" + (f",IVR_DIGITS={digits}" if digits else "")
        self._send("Originate", Channel="Local/100@callcenter-inbound", Context="caller", Exten="hold", Priority="1",
                   Async="true", CallerID=f'"{name}" <{caller}>', Variable=variables)

    def state(self, agent: str, state: str, reason: str | None = None) -> None:
        """A supervisor sets ``agent``'s state; logged in the steps for the replay."""
        body: dict[str, Any] = {"state": state} if reason is None else {"state": state, "reason": reason}
        # Stamped when it is asked for: what the server does about it may reach the PBX before
        # the request returns.
        self.steps.append({"t": round(time.time() - self.epoch, 4), "agent": agent, "state": state, "reason": reason})
        api(self._admin, "POST", f"/api/supervisor/agents/{agent}/state", body)

    def dial(self, number: str) -> None:
        """Alice clicks to dial ``number`` (in the background: the request lasts until she answers)."""
        self.steps.append({"t": round(time.time() - self.epoch, 4), "agent": "alice", "dial": number})
        threading.Thread(target=api, args=(self._agent, "POST", "/api/dial", {"number": number}), daemon=True).start()

    def cli(self, command: str) -> None:
        """An Asterisk CLI command."""
        subprocess.run(self.asterisk + ["-rx", command], capture_output=True)


def api(token: str, method: str, path: str, body: Any = None) -> Any:
    """One request to the lab server's API with ``token``."""
    request = urllib.request.Request(f"http://127.0.0.1:8080{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _restart_asterisk(lab: Lab, kill: bool) -> None:
    """``core restart now``, or (``kill``) SIGKILL then a fresh start: the PBX dies mid-call."""
    if not kill:
        lab.cli("core restart now")
        return
    os.kill(int(Path(lab.pid_file).read_text()), signal.SIGKILL)
    time.sleep(3)
    subprocess.Popen(lab.asterisk + ["-f", "-n"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                     start_new_session=True)


SCENARIOS: dict[str, Callable[[Lab], None]] = {
    "answered-agent-hangs-up": lambda lab: (lab.state("alice", "available"), time.sleep(1), lab.call(hold=30),
                                            time.sleep(12)),
    "answered-caller-hangs-up": lambda lab: (lab.state("erin", "available"), time.sleep(1), lab.call(hold=5),
                                             time.sleep(12)),
    "noanswer-then-answered": lambda lab: (lab.state("bob", "available"), time.sleep(0.5),
                                           lab.state("alice", "available"), time.sleep(1), lab.call(hold=30),
                                           time.sleep(18)),
    "busy-then-answered": lambda lab: (lab.state("carol", "available"), time.sleep(0.5),
                                       lab.state("alice", "available"), time.sleep(1), lab.call(hold=30),
                                       time.sleep(12)),
    "abandon-while-holding": lambda lab: (lab.state("alice", "not_ready", "break"), time.sleep(1),
                                          lab.call(hold=4), time.sleep(9)),
    "abandon-while-ringing": lambda lab: (lab.state("bob", "available"), time.sleep(1), lab.call(hold=4),
                                          time.sleep(9)),
    "click-to-dial-then-inbound": lambda lab: (lab.state("alice", "available"), time.sleep(1),
                                               lab.dial("+1 212 555 0100"), time.sleep(1), lab.call(hold=70),
                                               time.sleep(60)),
    "asterisk-restart-during-call": lambda lab: (lab.state("erin", "available"), time.sleep(1), lab.call(hold=60),
                                                 time.sleep(4), _restart_asterisk(lab, kill=False), time.sleep(20)),
    "asterisk-killed-during-call": lambda lab: (lab.state("erin", "available"), time.sleep(1), lab.call(hold=60),
                                                time.sleep(4), _restart_asterisk(lab, kill=True), time.sleep(25)),
    "server-restart-while-caller-holds": lambda lab: (lab.call(hold=40), time.sleep(4), lab.restart_server(5),
                                                     lab.state("alice", "available"), time.sleep(12)),
    "twenty-calls-five-agents": lambda lab: ([lab.state(a, "available") for a in ("alice", "bob", "carol", "dai", "erin")],
                                             time.sleep(1),
                                             [lab.call(caller=f"+1415555{i:04d}", name=f"Caller {i}", hold=25 + i)
                                              for i in range(20)],
                                             time.sleep(50)),
}


def _serve(cc: list[str], data: Path, log: Any) -> subprocess.Popen:
    """``callcenter serve`` on the lab configuration, once its AMI link is up."""
    server = subprocess.Popen(cc + ["serve", "--config", str(CONFIG), "--data-dir", str(data)], cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            health = json.loads(urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=1).read())
            if health["channels"]["ami"]["state"] == "up":
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    return server


def record(name: str, out_dir: Path, asterisk: list[str], pid_file: str) -> None:
    """Record scenario ``name`` into ``out_dir`` (see the module docstring)."""
    from tests.telephony.pbx_replay import record_summary

    out = out_dir / name
    data = out_dir / f"data-{name}"
    shutil.rmtree(data, ignore_errors=True)
    # Every recording starts on an idle PBX: callers of an earlier run may still be holding.
    subprocess.run(asterisk + ["-rx", "channel request hangup all"], capture_output=True)
    time.sleep(1.5)
    cc = [str(BIN / "callcenter")]

    def command(*args: str) -> str:
        return subprocess.run(cc + list(args), check=True, capture_output=True, text=True, cwd=REPO).stdout

    command("migrate", "--config", str(CONFIG), "--data-dir", str(data))
    command("user", "add", "sup", "--role", "admin", "--no-password", "--data-dir", str(data))
    command("user", "sync", "--config", str(CONFIG), "--data-dir", str(data))
    admin = command("user", "token", "sup", "--name", "lab", "--data-dir", str(data)).split()[-1]
    agent = command("user", "token", "alice", "--name", "lab", "--data-dir", str(data)).split()[-1]
    epoch_file = Path(f"{out}.jsonl.epoch")
    epoch_file.unlink(missing_ok=True)
    recorder = subprocess.Popen([sys.executable, "-m", "tests.telephony.pbx_recorder", f"{out}.jsonl"], cwd=REPO)
    while not epoch_file.exists():
        time.sleep(0.01)
    time.sleep(0.05)
    epoch = float(epoch_file.read_text())
    time.sleep(0.5)
    log = open(f"{out}.server.log", "w")
    servers = [_serve(cc, data, log)]
    lab = Lab(asterisk, pid_file, admin, agent, epoch)

    def restart_server(down: float) -> None:
        lab.steps.append({"t": round(time.time() - epoch, 4), "server": "stopping"})
        servers[0].send_signal(signal.SIGTERM)
        servers[0].wait(30)
        lab.steps.append({"t": round(time.time() - epoch, 4), "server": "stopped"})
        time.sleep(down)
        lab.steps.append({"t": round(time.time() - epoch, 4), "server": "starting"})
        servers[0] = _serve(cc, data, log)

    lab.restart_server = restart_server
    SCENARIOS[name](lab)
    shown = api(admin, "GET", "/api/supervisor/snapshot")
    servers[0].send_signal(signal.SIGTERM)
    servers[0].wait(30)
    recorder.send_signal(signal.SIGTERM)
    recorder.wait(5)
    epoch_file.unlink(missing_ok=True)
    meta = {"epoch": epoch, "snapshot_at": round(shown["now"] - epoch, 4), "steps": lab.steps}
    Path(f"{out}.steps.json").write_text(json.dumps(meta, indent=1))
    expected = {"record": record_summary(f"sqlite:///{data}/callcenter.sqlite3"),
                "agents": {a["agent"]: a["state"] for a in shown["agents"]},
                "today": {q: v["today"] for q, v in shown["queues"].items()}}
    Path(f"{out}.expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True))


def main(argv: list[str] | None = None) -> None:
    """Record the named scenarios (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asterisk", required=True, help='the Asterisk command, e.g. "asterisk -C /lab/asterisk.conf"')
    parser.add_argument("--pid-file", default="", help="Asterisk's pid file (astrundir/asterisk.pid), to kill it")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("names", nargs="*", default=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        record(name, args.out_dir, shlex.split(args.asterisk), args.pid_file)
        print("recorded", name)


if __name__ == "__main__":
    main()
