"""A seeded demo floor: 10 queues, 200 agents in every state, contacts waiting on every channel.

``callcenter demo-floor`` shows what the supervisor dashboard, the reports and the agent
desktop look like on a real floor, on a throw-away server: it writes a configuration (the
shipped ``config/`` with the agents, skills, queues and routing rules of the floor replaced)
and a fresh SQLite database into a new temporary directory, serves them, then fills the floor
through the same paths real traffic takes (calls admitted like FastAGI's, emails received like
the SMTP listener's, web forms submitted like the form endpoint's, agents' commands). The
directory is deleted when the server stops.

The floor is the same for a given seed:

* queues ``support`` .. ``partners`` (:data:`QUEUES`); each agent serves a home queue, some a
  second one; ``retention`` and ``partners`` are quiet: their agents are the available ones,
  the others have work waiting and nobody free;
* agents logged out, not ready (each reason code), busy on a call, an email or a web form
  (some answered after the target, so service levels differ), and in wrap-up;
* contacts waiting in the busy queues, calls having waited up to a few minutes already;
* users ``supervisor`` and ``admin``, and passwords for a few agents (one per kind of work),
  all with the password printed at start.

:func:`write_config` and :func:`seed_floor` are what tests use; :func:`demo_main` is the command.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Callable

import yaml
from twisted.internet.defer import Deferred

from callcenter.intake.contact import Contact
from channels.email.sink import MailEnvelope
from channels.webform.submission import FormSubmission

# name, label, a word of its emails' subjects, service level (percent, within seconds)
QUEUES: tuple[tuple[str, str, str, int, int], ...] = (
    ("support", "Technical support", "router", 80, 20),
    ("billing", "Billing", "invoice", 80, 30),
    ("sales", "Sales", "quote", 90, 15),
    ("returns", "Returns", "return", 80, 60),
    ("delivery", "Delivery", "parcel", 80, 60),
    ("accounts", "Accounts and sign-in", "password", 85, 30),
    ("cancellations", "Cancellations", "cancel", 80, 30),
    ("business", "Business customers", "business", 90, 20),
    ("retention", "Retention", "loyalty", 80, 30),
    ("partners", "Partner desk", "partner", 80, 60),
)
QUIET = ("retention", "partners")
AGENTS = 200
WRAP_UP = "15m"   # long enough for the floor to keep its shape while someone looks at it

FIRST = ("Ada", "Ben", "Chloé", "Dmitri", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kavya", "Liam",
         "Mei", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tanvi", "Umar", "Vera", "Wen", "Yusuf")
LAST = ("Abbott", "Brennan", "Castillo", "Dubois", "Eriksen", "Fischer", "García", "Hughes", "Ivanova", "Jensen",
        "Kowalski", "Lindqvist", "Moreau", "Nakamura", "O'Neill", "Petrov", "Quinn", "Rossi", "Schmidt-Rottluff",
        "Takahashi", "Ueda", "Van der Berg", "Whitfield", "Zhang")


@dataclass
class FloorSummary:
    """What :func:`seed_floor` made: agents by state, contacts waiting by channel, the users
    one can sign in as (login -> what they show), and ``stop_timers()`` cancelling what is still
    to happen (late answers, callers hanging up)."""

    states: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    stop_timers: Callable[[], None] = field(default=lambda: None, repr=False)


def agent_login(n: int) -> str:
    """The login of the demo floor's agent number ``n`` (``agent000``..)."""
    return f"agent{n:03d}"


def write_config(target: Path, shipped: Path, seed: int = 7) -> Path:
    """Copy the configuration directory ``shipped`` to ``target`` with the floor's skills,
    agents, queues (no business hours: always open) and routing rules; returns ``target``.

    Raises FileExistsError when ``target`` exists (nothing is overwritten)."""
    rng = random.Random(seed)
    shutil.copytree(shipped, target)
    names = [q[0] for q in QUEUES]
    skills = {name: {"description": label} for name, label, *_ in QUEUES}
    agents = {}
    for n in range(AGENTS):
        home = names[n % len(names)]
        agent_skills = {home: rng.randint(2, 5)}
        if home not in QUIET and n % 3 == 0:
            second = rng.choice([q for q in names if q not in QUIET and q != home])
            agent_skills[second] = 1
        agents[agent_login(n)] = {
            "name": f"{FIRST[n % len(FIRST)]} {LAST[(n * 7 + n // len(FIRST)) % len(LAST)]}",
            "skills": agent_skills, "languages": ["en", "zh"] if n % 9 == 0 else ["en"],
            "phone": f"PJSIP/{2000 + n}", "email": f"{agent_login(n)}@demo.example",
            # One contact at a time whatever the channel: each busy agent shows one piece of work.
            "capacity": 100, "channel_costs": {"voice": 100, "email": 100, "webform": 100}}
    queues = {name: {"label": label, "members": {"skills": {name: 1}}, "selection": "longest_idle",
                     "offer_timeout": "2m", "wrap_up": WRAP_UP,
                     "service_level": {"percent": percent, "within": f"{within}s"}}
              for name, label, _, percent, within in QUEUES}
    routing = yaml.safe_load((shipped / "routing.yaml").read_text(encoding="utf-8"))
    rules = []
    for digit, (name, _, word, _, _) in enumerate(QUEUES):
        rules += [{"id": f"voice-{name}", "match": {"channel": "voice", "digits": str(digit)}, "queue": name},
                  {"id": f"email-{name}", "match": {"channel": "email", "keywords": [word]}, "queue": name},
                  {"id": f"form-{name}", "match": {"channel": "webform", "attributes": {"topic": name}}, "queue": name}]
    routing["rules"] = rules + [{"id": "default", "queue": "support"}]
    header = "# The demo floor of `callcenter demo-floor` (callcenter/demo.py); generated, not for production.\n"
    for name, content in (("skills.yaml", {"skills": skills}), ("agents.yaml", {"agents": agents}),
                          ("queues.yaml", {"queues": queues}), ("routing.yaml", routing)):
        (target / name).write_text(header + yaml.safe_dump(content, allow_unicode=True, sort_keys=False),
                                   encoding="utf-8")
    return target


def _plan(settings: Any, rng: random.Random) -> dict[str, list[str]]:
    """Each agent's state: {state: [logins]}, ``busy_call``/``busy_email``/``busy_form``,
    ``wrap_up``, ``not_ready``, ``available`` (quiet queues only) and ``logged_out``."""
    plan: dict[str, list[str]] = {k: [] for k in ("busy_call", "busy_email", "busy_form", "wrap_up",
                                                  "not_ready", "available", "logged_out")}
    names = [q[0] for q in QUEUES]
    for n, login in enumerate(sorted(settings.agents)):
        home = names[n % len(names)]
        roll = rng.random()
        if home in QUIET:
            state = "available" if roll < 0.6 else "not_ready" if roll < 0.8 else "logged_out" if roll < 0.9 else "busy_email"
        elif roll < 0.14:
            state = "logged_out"
        elif roll < 0.32:
            state = "not_ready"
        elif roll < 0.47:
            state = "wrap_up"
        else:
            state = rng.choice(("busy_call", "busy_call", "busy_email", "busy_form"))
        plan[state].append(login)
    return plan


def _home(settings: Any, login: str) -> str:
    """The agent's home queue: the one its best skill names."""
    skills = settings.agents[login].skills
    return max(skills, key=lambda s: (skills[s], s))


class FloorSeeder:
    """Puts contacts in through the channels' own entry points and works them as agents would.

    ``app`` is the running :class:`~callcenter.app.Application`; ``rng`` makes the floor repeatable.
    """

    def __init__(self, app: Any, rng: random.Random) -> None:
        self._app = app
        self._board = app.switchboard
        self._rng = rng
        self._serial = 0
        self.offered: dict[int, str] = {}
        self.timers: list[Any] = []
        self._waiting_for: dict[int, Deferred] = {}
        self._board.on_offer(self._on_offer)

    def _on_offer(self, decision: Any) -> None:
        self.offered[decision.interaction] = decision.agent
        waiter = self._waiting_for.pop(decision.interaction, None)
        if waiter is not None and not waiter.called:
            waiter.callback(decision.agent)

    async def offered_to(self, iid: int, timeout: float = 10.0) -> str | None:
        """The agent ``iid`` is offered to, once it is (None if not within ``timeout`` seconds)."""
        if iid in self.offered:
            return self.offered[iid]
        waiter = self._waiting_for[iid] = Deferred()

        def give_up() -> None:
            self._waiting_for.pop(iid, None)
            if not waiter.called:
                waiter.callback(None)
        timer = self._app.clock.call_later(timeout, give_up)
        agent = await waiter
        if timer.active():
            timer.cancel()
        return agent

    def _customer(self) -> tuple[str, str, str]:
        self._serial += 1
        n = self._serial
        name = f"{FIRST[(n * 5) % len(FIRST)]} {LAST[(n * 11) % len(LAST)]}"
        return name, f"customer{n:04d}@mail.demo.example", f"+1202555{n % 10000:04d}"

    async def call(self, queue: str, waited: float) -> int:
        """A caller who pressed the queue's digit ``waited`` seconds ago, admitted as FastAGI
        admits calls; the interaction id."""
        name, _, phone = self._customer()
        digit = str([q[0] for q in QUEUES].index(queue))
        admission = await self._app.intake.admit(Contact(
            channel="voice", contact_kind="phone", contact=phone, contact_name=name, to="+18005550100",
            digits=digit, virtual_start=self._app.clock.now() - waited,
            payload={"call": {"uniqueid": f"demo.{self._serial}", "channel": f"PJSIP/trunk-{self._serial:08x}",
                              "caller_number": phone, "caller_name": name, "dialed_number": "+18005550100",
                              "ivr_digits": digit, "variables": {}, "queue_hint": None}}))
        return admission.interaction_id

    async def email(self, queue: str) -> int | None:
        """An email whose subject names the queue's word, received on the support mailbox."""
        word = next(q[2] for q in QUEUES if q[0] == queue)
        name, address, _ = self._customer()
        message = EmailMessage()
        message["From"] = f"{name} <{address}>"
        message["To"] = "support@example.com"
        message["Subject"] = f"Question about my {word} (order {self._rng.randint(10000, 99999)})"
        message["Date"] = format_datetime(self._app.clock.utcnow())
        message["Message-ID"] = make_msgid(domain="mail.demo.example")
        message.set_content(f"Hello,\n\nI have a question about my {word}. Could somebody get back to me?\n\n"
                            f"Thanks,\n{name}\n")
        receipt = await self._app.mailflow.accept_mail(bytes(message), MailEnvelope(
            mailbox="support", source="smtp", received_at=self._app.clock.now(), mail_from=address,
            recipients=("support@example.com",), peer="127.0.0.1"))
        return receipt.interaction_id

    async def form(self, queue: str) -> int:
        """A contact form sent with the queue as its topic."""
        name, address, phone = self._customer()
        fields = {"name": name, "email": address, "phone": phone, "topic": queue, "consent": True,
                  "message": f"Please call me back about {queue}. Reachable after 5 pm.\nOrder "
                             f"{self._rng.randint(10000, 99999)}."}
        receipt = await self._app.forms.submit_form(FormSubmission(
            form="contact", fields=fields, email=address, phone=phone, name=name, attributes={"topic": queue},
            attachments=(), client_ip="127.0.0.1", language="en"))
        return receipt.interaction_id

    async def settle(self) -> None:
        """Wait for every record write and routing decision so far."""
        await self._board.settled()

    async def work(self, agent: str, queue: str, kind: str, late: bool = False) -> int | None:
        """``agent`` (available, alone free in ``queue``) takes a new ``kind`` contact; the
        interaction id. A ``late`` call rings until a few seconds past the queue's service-level
        target before it is answered (a timer, so the floor's service levels differ)."""
        if kind == "call":
            iid = await self.call(queue, self._rng.uniform(1.0, 8.0))
        elif kind == "email":
            iid = await self.email(queue)
        else:
            iid = await self.form(queue)
        if iid is None or await self.offered_to(iid) != agent:
            return None
        if kind == "call" and late:
            within = self._board.settings.queues[queue].service_level.within
            self.later(within + self._rng.uniform(3.0, 25.0), self._answer_late, iid, agent)
        elif kind == "call":
            self._board.connected(iid, agent)
        else:
            self._board.accept(agent, iid)
        return iid

    def _answer_late(self, iid: int, agent: str) -> None:
        if self._board.is_offered(iid, agent):
            self._board.connected(iid, agent)

    def hang_up_later(self, iid: int, delay: float) -> None:
        """The caller of ``iid`` gives up after ``delay`` seconds if still waiting."""
        def give_up() -> None:
            if self._board.is_waiting(iid):
                self._board.customer_left(iid, "caller_hung_up")
        self.later(delay, give_up)

    def later(self, delay: float, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` in ``delay`` seconds (cancelled by :meth:`cancel`)."""
        self.timers.append(self._app.clock.call_later(delay, fn, *args))

    def cancel(self) -> None:
        """Cancel what is still to happen (the server is stopping)."""
        for timer in self.timers:
            if timer.active():
                timer.cancel()
        self.timers.clear()


async def seed_floor(app: Any, password: str, seed: int = 7) -> FloorSummary:
    """Fill the running ``app`` (built on :func:`write_config`'s configuration) with the floor
    described in the module docstring; users ``supervisor``, ``admin`` and a few agents get
    ``password``. Returns what was made."""
    board = app.switchboard
    settings = board.settings
    rng = random.Random(seed)
    plan = _plan(settings, rng)
    seeder = FloorSeeder(app, rng)
    summary = FloorSummary(stop_timers=seeder.cancel)
    shown: set[str] = set()
    # Working agents one at a time: each is the only one free in its queue when its contact comes.
    # The share of each queue's calls answered after its target: service levels from good to bad.
    late_share = {name: (0.0, 0.1, 0.3, 0.5, 0.8)[i % 5] for i, (name, *_) in enumerate(QUEUES)}
    for state, kind in (("busy_call", "call"), ("busy_email", "email"), ("busy_form", "form")):
        for login in plan[state]:
            board.login(login)
            board.set_available(login)
            home = _home(settings, login)
            iid = await seeder.work(login, home, kind, late=rng.random() < late_share[home])
            summary.states[state] = summary.states.get(state, 0) + (iid is not None)
            if iid is not None and kind not in shown:
                shown.add(kind)
                summary.users[login] = {"call": "busy with a call", "email": "busy with an email",
                                        "form": "busy with a web form"}[kind]
    # A wrap-up stops new work only on its own channel (and calls): these agents have just
    # finished one contact of each channel, so nothing waiting is offered to them.
    for login in plan["wrap_up"]:
        board.login(login)
        board.set_available(login)
        done = 0
        for kind in ("call", "email", "form"):  # a call first: its wrap-up would block a call
            iid = await seeder.work(login, _home(settings, login), kind)
            if iid is not None:
                board.complete(iid, login, disposition="resolved")
                done += 1
        summary.states["wrap_up"] = summary.states.get("wrap_up", 0) + (done == 3)
    reasons = [code for code in settings.reason_codes if code != settings.policy.no_answer_reason]
    for login in plan["not_ready"]:
        board.login(login)
        board.set_not_ready(login, rng.choice(reasons))
    for login in plan["available"]:
        board.login(login)
        board.set_available(login)
    summary.states.update(not_ready=len(plan["not_ready"]), available=len(plan["available"]),
                          logged_out=len(plan["logged_out"]))
    if plan["available"]:
        summary.users[plan["available"][0]] = "available"
    # Then the queue: nobody free in the busy queues, so these wait.
    for name, *_ in QUEUES:
        if name in QUIET:
            continue
        for _ in range(rng.choice((0, 3, 5, 8, 12, 16))):
            kind = rng.choice(("call", "call", "email", "form"))
            if kind == "call":
                iid = await seeder.call(name, rng.uniform(5, 240))
                if rng.random() < 0.25:
                    seeder.hang_up_later(iid, rng.uniform(20.0, 90.0))
            elif kind == "email":
                await seeder.email(name)
            else:
                await seeder.form(name)
            summary.waiting[kind] = summary.waiting.get(kind, 0) + 1
    await seeder.settle()
    await app.users.create("supervisor", "supervisor", "Demo supervisor", password=password)
    await app.users.create("admin", "admin", "Demo administrator", password=password)
    for login in summary.users:
        await app.users.set_password(login, password)
    summary.users = {"supervisor": "the dashboard", "admin": "the dashboard and configuration", **summary.users}
    return summary


def summary_text(summary: FloorSummary, password: str) -> str:
    """What the command prints once the floor is seeded."""
    words = {"busy_call": "on a call", "busy_email": "on an email", "busy_form": "on a web form",
             "wrap_up": "in wrap-up", "not_ready": "not ready", "available": "available", "logged_out": "logged out"}
    states = ", ".join(f"{n} {words.get(state, state)}" for state, n in summary.states.items())
    waiting = ", ".join(f"{n} {kind}s" for kind, n in summary.waiting.items()) or "nothing"
    lines = [f"demo floor ready: {len(QUEUES)} queues; agents: {states}; waiting: {waiting}.",
             f"Sign in with password {password!r} as:"]
    lines += [f"    {login:<12} {what}" for login, what in summary.users.items()]
    return "\n".join(lines)


def demo_main(args: argparse.Namespace) -> int:
    """``callcenter demo-floor``: serve a seeded demo floor from a temporary directory (deleted
    at exit) until SIGINT/SIGTERM; the exit status of ``callcenter serve``."""
    from callcenter.serve import DEFAULT_CONFIG_DIR, serve_main
    from callcenter.records.migrate import upgrade

    password = args.password or secrets.token_urlsafe(9)
    scratch = Path(tempfile.mkdtemp(prefix="callcenter-demo-"))
    try:
        config = write_config(scratch / "config", args.config_dir or DEFAULT_CONFIG_DIR, args.seed)
        data = scratch / "var"
        data.mkdir(mode=0o700)
        url = f"sqlite:///{data / 'demo.sqlite3'}"
        upgrade(url)
        serve_args = argparse.Namespace(
            config_dir=config, data_dir=data, database_url=url, http_port=args.http_port, http_host=args.http_host,
            fastagi_port=args.fastagi_port, smtp_port=args.smtp_port, log_format=args.log_format)

        async def seed(app: Any) -> None:
            summary = await seed_floor(app, password, args.seed)
            print(summary_text(summary, password), flush=True)

        print(f"demo floor in {scratch} (deleted when the server stops)", file=sys.stderr, flush=True)
        return serve_main(serve_args, on_serving=seed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
