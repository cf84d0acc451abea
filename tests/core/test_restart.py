"""A real `callcenter serve` stopped (SIGTERM) or killed (SIGKILL) and started again: every contact
comes back where it was, every acknowledged message reaches routing exactly once, and a second
server on the same database refuses to run."""

from __future__ import annotations

import json
import random
import re
import signal
import smtplib
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from callcenter.records.schema import customers, interactions, mail_messages
from tests.core.test_serve_command import CLI, ROOT, free_port, make_admin_token, run_cli, wait_for_health, workdir  # noqa: F401

ENV_PATH = {"PYTHONPATH": str(ROOT)}
SEED = 16


class Server:
    """One `callcenter serve` process in ``workdir`` on fixed ports."""

    def __init__(self, workdir: Path, http: int, smtp: int) -> None:
        import os

        self.http, self.smtp = http, smtp
        self.proc = subprocess.Popen(CLI + ["serve", "--http-port", str(http), "--smtp-port", str(smtp),
                                            "--fastagi-port", "0"], cwd=workdir, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **ENV_PATH})
        wait_for_health(http, self.proc)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send ``sig``; (exit status, stdout, stderr)."""
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err

    def api(self, method: str, path: str, token: str, body: dict | None = None) -> dict:
        """A JSON request with a bearer token; the decoded answer (raises for an error status)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"content-type": "application/json",
                                                  "authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def submit_form(self, n: int) -> int:
        """Fill the hosted contact form as a browser would; the HTTP status."""
        base = f"http://127.0.0.1:{self.http}/forms/contact"
        with urllib.request.urlopen(base, timeout=10) as page:
            token = re.search(r'name="_token" value="([^"]+)"', page.read().decode()).group(1)
        fields = {"_token": token, "name": f"Form {n}", "email": f"form{n}@example.org", "topic": "support",
                  "message": "Please call me back", "consent": "on"}
        request = urllib.request.Request(base, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                         headers={"content-type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status


def mail(sender: str, message_id: str) -> EmailMessage:
    """A customer's question to support@."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@example.com"
    message["Subject"] = f"Question from {sender}"
    message["Message-ID"] = message_id
    message.set_content("Hello, I have a question.")
    return message


def send(port: int, message: EmailMessage) -> None:
    """Deliver one message over SMTP; raises unless the server answered 250."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


def agent_token(workdir: Path, login: str) -> str:
    """An API token of the agent ``login`` (its user created with the command line)."""
    added = run_cli("user", "add", login, "--role", "agent", "--no-password", cwd=workdir)
    assert added.returncode == 0, added.stderr
    issued = run_cli("user", "token", login, "--name", "tests", cwd=workdir)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.split()[-1]


def waiting(server: Server, token: str) -> list[tuple]:
    """The dashboard's waiting list: (interaction, queue, position, priority, virtual start in s)."""
    snap = server.api("GET", "/api/supervisor/snapshot", token)
    return [(w["interaction"], w["queue"], w["position"], w["priority"], round(snap["now"] - w["waited"], 2))
            for w in snap["waiting"]]


def wait_until(check, deadline: float = 20.0):
    """Poll ``check()`` until it returns something true; that value."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not reached")


@pytest.fixture
def served(workdir):
    """A migrated workdir where bob takes two emails at a time and forms need no fill time."""
    agents = workdir / "config" / "agents.yaml"
    agents.write_text(agents.read_text().replace("    email: bob@example.com\n",
                                                 "    email: bob@example.com\n    channel_costs: {voice: 100, email: 50, webform: 50}\n"))
    channels = workdir / "config" / "channels.yaml"
    channels.write_text(channels.read_text().replace("min_fill_time: 3s", "min_fill_time: 0s"))
    assert run_cli("migrate", cwd=workdir).returncode == 0
    return workdir


def test_sigterm_and_start_again_puts_waiting_offered_and_held_contacts_back(served):
    """Emails and a form waiting, one offered to bob and one held by him: after SIGTERM and a new
    start the dashboard lists the same contacts in the same order, the offer is back in line and
    bob, logged out, still holds his work and is offered exactly one more."""
    admin = make_admin_token(served / "var" / "callcenter.sqlite3")
    bob = agent_token(served, "bob")
    http, smtp = free_port(), free_port()
    server = Server(served, http, smtp)
    try:
        for n in range(1, 5):
            send(smtp, mail(f"c{n}@example.org", f"<restart-{n}@example.org>"))
        assert server.submit_form(1) == 200
        before = wait_until(lambda: (lambda w: w if len(w) == 5 else None)(waiting(server, admin)))
        server.api("POST", "/api/me/state", bob, {"state": "available"})
        offers = [o["interaction"]["id"] for o in server.api("GET", "/api/me", bob)["offers"]]
        assert offers == [before[0][0], before[1][0]]
        held, offered = offers
        server.api("POST", f"/api/me/offers/{held}/accept", bob)
        before = waiting(server, admin)
        status, out, err = server.stop()
        assert status == 0, err
    finally:
        if server.proc.poll() is None:
            server.proc.kill()

    again = Server(served, http, smtp)
    try:
        after = waiting(again, admin)
        assert [w[:4] for w in after] == [w[:4] for w in before]
        assert [w[4] for w in after] == pytest.approx([w[4] for w in before], abs=0.02)
        assert after[0][0] == offered
        me = again.api("GET", "/api/me", bob)
        assert me["state"]["state"] == "logged_out" and [w["interaction"]["id"] for w in me["work"]] == [held]
        again.api("POST", "/api/me/state", bob, {"state": "available"})
        assert [o["interaction"]["id"] for o in again.api("GET", "/api/me", bob)["offers"]] == [offered]
        status, out, _ = again.stop()
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    restored = [line for line in lines if line["msg"].startswith("restored ")]
    assert restored and restored[0]["waiting"] == {"support": 4} and restored[0]["held"] == 1


def _burst(port: int, tag: str, clients: int, per_client: int) -> tuple[list[str], list[threading.Thread]]:
    """Threads sending messages one after another; the Message-IDs that got 250 (filled as they go)."""
    acknowledged: list[str] = []

    def client(c: int) -> None:
        for n in range(per_client):
            message_id = f"<{tag}-{c}-{n}@example.org>"
            try:
                send(port, mail(f"{tag}-{c}-{n}@example.org", message_id))
            except (OSError, smtplib.SMTPException):
                return  # the server is gone
            acknowledged.append(message_id)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    return acknowledged, threads


def test_sigkill_during_a_mail_burst_loses_and_doubles_nothing(served):
    """SIGKILL at a random moment of an SMTP burst, then a new start: every message that got 250
    has exactly one interaction, queued and in line; so has every message stored unacknowledged."""
    rng = random.Random(SEED)
    admin = make_admin_token(served / "var" / "callcenter.sqlite3")
    http, smtp = free_port(), free_port()
    acknowledged: list[str] = []
    for round_ in range(3):
        server = Server(served, http, smtp)
        acked, threads = _burst(smtp, f"r{round_}", clients=3, per_client=40)
        time.sleep(rng.uniform(0.2, 1.2))
        server.proc.kill()
        server.proc.communicate(timeout=30)
        for t in threads:
            t.join(timeout=30)
        acknowledged += acked
        again = Server(served, http, smtp)
        try:
            in_line = {w[0] for w in waiting(again, admin)}
            _check_record(served / "var" / "callcenter.sqlite3", acknowledged, in_line)
            status, _, err = again.stop()
            assert status == 0, err
        finally:
            if again.proc.poll() is None:
                again.proc.kill()
    assert acknowledged


def _check_record(sqlite_path: Path, acknowledged: list[str], in_line: set[int]) -> None:
    engine = create_engine(f"sqlite:///{sqlite_path}")
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(select(mail_messages.c.message_id, mail_messages.c.interaction_id)
                                       .where(mail_messages.c.direction == "inbound")).all())
            per_customer = dict(conn.execute(
                select(customers.c.id, func.count(interactions.c.id)).join(interactions,
                                                                          interactions.c.customer_id == customers.c.id)
                .group_by(customers.c.id)).all())
            rows = {r.id: r for r in conn.execute(select(interactions.c.id, interactions.c.state,
                                                         interactions.c.customer_id)).all()}
    finally:
        engine.dispose()
    assert {m.strip("<>") for m in acknowledged} <= set(stored)
    for message_id, iid in stored.items():
        assert iid is not None, message_id
        row = rows[iid]
        assert (row.state, per_customer[row.customer_id]) == ("queued", 1), message_id
        assert iid in in_line, message_id


def test_a_second_server_on_the_same_database_refuses_to_run(served):
    """While one server runs, another on the same data directory exits 1 saying what to do."""
    server = Server(served, free_port(), free_port())
    try:
        second = run_cli("serve", "--http-port", str(free_port()), "--smtp-port", str(free_port()),
                         "--fastagi-port", "0", cwd=served)
        assert second.returncode == 1
        assert "another callcenter server is already running on this database" in second.stderr
        assert "stop the other server first" in second.stderr
        assert server.proc.poll() is None
    finally:
        server.stop()
