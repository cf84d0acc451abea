"""The composition root: builds every service from validated settings, and runs them.

Nothing else in the project constructs components; each gets only what it uses (constructor
injection). :func:`build_application` is pure wiring and does no I/O until the service tree
starts, so tests build the same application with a chosen reactor, ports and database.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.logger import Logger

from callcenter.clock import Clock
from callcenter.events import EventBus
from callcenter.health import HealthCheck
from callcenter.services import CallbackService, OrderedMultiService, StartGate
from callcenter.web.jsonapi import JsonApi
from callcenter.web.site import HttpService, RootResource

log = Logger(namespace="callcenter.app")

DEFAULT_CONFIG_DIR = Path("config")
SQLITE_FILE = "callcenter.sqlite3"


def database_url_for(settings: Any, override: str | None) -> str:
    """The database URL in force: the command-line override, else the config's, else SQLite in data_dir."""
    if override:
        return override
    if settings.server.database_url:
        return settings.server.database_url
    return f"sqlite:///{Path(settings.server.data_dir).resolve() / SQLITE_FILE}"


@dataclass
class Application:
    """The built server: its service tree and the components tests and commands reach into."""

    service: OrderedMultiService
    settings: Any
    clock: Clock
    bus: EventBus
    database: Any
    store: Any
    health: HealthCheck
    api: JsonApi
    http: HttpService
    root: RootResource
    switchboard: Any = None
    intake: Any = None
    voice: Any = None
    fastagi: Any = None
    ami: Any = None
    reloader: Any = None
    mail: Any = None
    users: Any = None
    forms: Any = None
    forms_resource: Any = None
    alerts: Any = None
    authn: Any = None
    push: Any = None
    mailflow: Any = None
    click_to_dial: Any = None
    smtp: Any = None


def build_application(settings: Any, reactor: Any, database_url: str,
                      overrides: dict[str, object] | None = None) -> Application:
    """Wire every component for ``settings`` on ``reactor``; nothing runs until ``service.startService()``.

    ``overrides`` are the command-line settings a reload keeps applying.
    """
    from callcenter.records.database import Database
    from callcenter.records.store import RecordStore
    from callcenter.web.api import build_api

    clock = Clock(reactor)
    bus = EventBus()
    database = Database(database_url, reactor, bus)
    tiers = (settings.default_tier,) + tuple(t for t in settings.tiers if t != settings.default_tier)
    store = RecordStore(database, clock, default_region=settings.server.default_region, tiers=tiers)
    health = HealthCheck(database.ping)
    web_auth: dict[str, Any] = {}

    async def authorize(req: Any, action: str) -> Any:
        # Any signed-in user (or API token) may read and edit the customer record; merging two
        # customers rewrites history, so it takes a supervisor or an admin.
        roles = ("supervisor", "admin") if action == "customers.merge" else ("agent", "supervisor", "admin")
        return await web_auth["authn"].api_principal(req, roles)

    api = build_api(store=store, health=health, authorize=authorize)
    root = RootResource(api, recovering=lambda: health.recovering)
    http = HttpService(reactor, root, settings.server.http_host, settings.server.http_port,
                       settings.server.http_limits, settings.server.trusted_proxies)

    service = OrderedMultiService()
    # Order matters: children stop in reverse, so the database stops last, after every
    # listener and channel has drained what it was writing.
    CallbackService("database", database.start, _stop_records(store, database)).setServiceParent(service)
    app = Application(service, settings, clock, bus, database, store, health, api, http, root)
    _build_switchboard(app, reactor, overrides or {})
    web_auth["authn"] = app.authn
    return app


def _stop_records(store: Any, database: Any):
    async def stop() -> None:
        await store.drain()
        await database.stop()
    return stop


def _build_switchboard(app: Application, reactor: Any, overrides: dict[str, object]) -> None:
    """The switchboard, the routing core, the telephony channel and config reload."""
    from callcenter.health import ChannelStatus
    from callcenter.reload import ConfigReloader
    from callcenter.routing_setup import interaction_spec, routing_config
    from callcenter.switchboard import Switchboard
    from callcenter.intake.pbx_events import CtiApi, TelephonyEvents
    from callcenter.intake.pipeline import IntakePipeline
    from callcenter.intake.voice_calls import VoiceCalls
    from routing import Router

    settings = app.settings
    board = Switchboard(settings=settings, clock=app.clock, store=app.store,
                        router=Router(routing_config(settings)), spec_builder=interaction_spec)
    app.switchboard = board
    app.intake = intake = IntakePipeline(store=app.store, switchboard=board, clock=app.clock)
    app.voice = voice = VoiceCalls(board, intake, app.clock)
    CallbackService("switchboard", lambda: None, _async(board.stop)).setServiceParent(app.service)
    # HTTP listens first, /health alone answering ("recovering"), while the core is rebuilt from
    # the record; every other listener and channel starts once the rebuild is done.
    app.http.setServiceParent(app.service)
    StartGate("recovery", lambda: _recover(app)).setServiceParent(app.service)

    telephony = settings.telephony
    if telephony.fastagi_enabled:
        from channels.telephony.fastagi import tcp_fastagi_service

        app.fastagi = tcp_fastagi_service(reactor, voice, settings.server.fastagi_port, settings.server.fastagi_host)
        app.fastagi.setServiceParent(app.service)
    app.health.add_channel("fastagi", lambda: ChannelStatus("up" if app.fastagi is not None and app.fastagi.running
                                                             else "disabled"))
    if telephony.ami.enabled:
        import itertools
        import random

        from twisted.internet.endpoints import TCP4ClientEndpoint

        from channels.telephony.ami_service import AmiCredentials, AmiService

        rng = random.Random()
        app.ami = AmiService(TCP4ClientEndpoint(reactor, telephony.ami.host, telephony.ami.port),
                             AmiCredentials(telephony.ami.username, telephony.ami.secret), reactor,
                             # ActionIDs need only be unique on one link; a counter keeps a
                             # session's bytes repeatable, so recorded PBX sessions replay exactly.
                             TelephonyEvents(board, voice, app.store), ids=lambda n=itertools.count(1): f"cc-{next(n)}",
                             jitter=lambda: rng.uniform(0.0, 1.0))
        app.ami.setServiceParent(app.service)
    def ami_status() -> ChannelStatus:
        if app.ami is None:
            return ChannelStatus("disabled")
        up, detail = app.ami.status()
        return ChannelStatus("up" if up else "down", detail)

    app.health.add_channel("ami", ami_status)
    cti = CtiApi(board, intake, telephony.cti_token, app.clock)
    cti.register(app.api)
    CallbackService("cti", cti.start, _async(cti.stop)).setServiceParent(app.service)

    def apply(old: Any, new: Any) -> None:
        board.reconfigure(new, routing_config(new))
        app.settings = new
        if app.forms is not None:
            app.forms.reconfigure(new.webform.forms, new.templates)
            app.forms_resource.reconfigure(new.webform.forms, new.templates)
        if app.alerts is not None:
            app.alerts.reconfigure(new)
        if board.stats is not None:
            board.stats.reconfigure(_kpi_rules(new))
        if app.mailflow is not None:
            app.mailflow.settings = new  # templates, queues and tiers of email replies (email.* itself needs a restart)

    async def audit(action: str, details: dict, actor: str) -> None:
        await app.store.record_audit(action, "config", 0, actor=actor, details=details)

    app.reloader = ConfigReloader(settings.config_dir, overrides, settings, apply, audit)
    _build_email(app, reactor)
    _build_web(app, reactor)


def _build_web(app: Application, reactor: Any) -> None:
    """Accounts, push, the agent desktop, forms, supervision, reports and /metrics on the site."""
    import secrets

    from callcenter.intake.webform import FormFlow
    from callcenter.livestats import LiveStats
    from callcenter.metrics import MetricsAccess, MetricsEndpoint, MetricsRegistry
    from callcenter.records.reporting import AgentStateLog, ReportingReader
    from callcenter.records.sessions import SessionRecords
    from callcenter.records.users import UserStore
    from callcenter.web.authn import LOGIN_MAX_BODY, Authenticator
    from callcenter.web import notes
    from callcenter.web.desktop import DesktopApi
    from callcenter.web.mailreview import MailReviewApi, admin_pages
    from callcenter.web.pages import (DashboardPage, DesktopPage, HomePage, home_of,
                                      page_environment, static_resource)
    from callcenter.web.push import PushHub, PushResource
    from callcenter.web.reports import ReportsResource
    from callcenter.web.supervision import SupervisionApi, collect_metrics, today_snapshot
    from channels.webform.resource import FormsResource

    settings, board, root = app.settings, app.switchboard, app.root
    app.users = users = UserStore(app.database, app.clock)
    app.authn = authn = Authenticator(users, app.clock, records=SessionRecords(app.database), home=home_of)
    _one_off("sessions", authn.restore_sessions).setServiceParent(app.service)
    board.stats = LiveStats(settings.server.timezone, _kpi_rules(settings), app.bus, clock=app.clock,
                            state_log=AgentStateLog(app.database, started_at=app.clock.utcnow()))
    CallbackService("today's rollover", board.stats.start, _async(board.stats.stop)).setServiceParent(app.service)

    async def recompute_today() -> None:
        count = await board.stats.recompute(ReportingReader(app.database).histories, app.clock.now())
        log.info("today's figures recomputed from {count} queue legs in the record", count=count)

    _one_off("today's figures", recompute_today).setServiceParent(app.service)

    async def push_snapshot(principal: Any) -> Any:
        out: dict[str, Any] = {}
        if principal.agent:
            out["agent"] = notes.agent_snapshot_for(principal, await board.agent_snapshot(principal.agent))
        if principal.role in ("supervisor", "admin"):
            out["supervisor"] = await today_snapshot(board, app.clock)
        return out

    app.push = hub = PushHub(app.clock, snapshot=push_snapshot, signins=authn)
    hub.setServiceParent(app.service)
    # A screen pop pushed to an agent leaves out other agents' notes, like every other view of it.
    board._publish = lambda topic, kind, data: hub.publish(topic, kind, notes.pushed_for(topic, data))  # noqa: SLF001

    async def sync_agents() -> None:
        await users.sync_from_config((login, a.name) for login, a in sorted(board.settings.agents.items()))

    _one_off("accounts", sync_agents).setServiceParent(app.service)

    supervisor, admin, agent = (authn.api_guard(("supervisor", "admin")), authn.api_guard(("admin",)),
                                authn.api_guard(("agent", "supervisor", "admin")))
    DesktopApi(board, app.store, agent, email=lambda: app.mailflow).register(app.api)
    from callcenter.intake.pbx_events import ClickToDialApi

    app.click_to_dial = ClickToDialApi(board, app.ami, app.store, authn.api_guard(("agent",)), app.voice)
    app.click_to_dial.register(app.api)

    def dry_run(interaction: dict, now: Any) -> dict:
        from callcenter.dryrun import dry_run as run_dry
        from callcenter.routing_setup import all_available_router

        return run_dry(board.settings, all_available_router(board.settings), interaction, now)

    SupervisionApi(board, app.store, app.clock, supervisor, admin, app.reloader.reload, dry_run).register(app.api)
    MailReviewApi(lambda: app.mail, admin).register(app.api)
    env = page_environment()
    for name, resource in authn.resources().items():
        root.putChild(name, resource)
    root.putChild(b"push", PushResource(hub, authn.principal_for))
    root.putChild(b"static", static_resource())
    root.putChild(b"", HomePage(authn.principal_for))
    root.putChild(b"desktop", DesktopPage(env, lambda: board.settings, authn.principal_for, authn.csrf_for,
                                          crm_url=settings.server.crm_url))
    root.putChild(b"supervisor", authn.guard(DashboardPage(env, lambda: board.settings, authn.csrf_for,
                                                           authn.checked_principal),
                                             roles=("supervisor", "admin"), page=True))
    root.putChild(b"admin", authn.guard(admin_pages(env, lambda: app.mail, authn.csrf_for, authn.checked_principal),
                                        roles=("admin",), page=True))

    async def can_read_reports(request: Any) -> bool:
        principal = await authn.principal_for(request)
        return principal is not None and principal.role in ("supervisor", "admin")

    root.putChild(b"reports", ReportsResource(ReportingReader(app.database), lambda: board.settings, app.clock,
                                              can_read_reports, authn.csrf_for, authn.checked_principal))
    registry = MetricsRegistry()
    collect_metrics(registry, board, app.health, app.clock)
    root.putChild(b"metrics", MetricsEndpoint(registry, lambda: MetricsAccess(
        board.settings.supervision.metrics_token, board.settings.supervision.metrics_allow)))

    async def confirm(to: str, subject: str, body: str, interaction: Any) -> None:
        await app.mailflow.send_notice(interaction.id, to, subject, body, "form_confirmation")

    forms = FormFlow(admit=app.intake.admit, forms=settings.webform.forms, templates=settings.templates,
                     data_dir=Path(settings.server.data_dir), reactor=reactor, send_confirmation=confirm, fallback_language=settings.server.languages[0])
    secret_file = Path(settings.server.data_dir) / "form-secret"
    if not secret_file.exists():
        Path(settings.server.data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        with os.fdopen(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(secrets.token_bytes(32))
    secret_file.chmod(0o600)  # also tightens one an earlier version left readable by everyone
    from callcenter.alerting import AlertMonitor
    from callcenter.reports.summary import DailySummarySchedule

    async def mail_staff(recipients: tuple[str, ...], subject: str, text: str) -> None:
        await app.mailflow.send_notice(None, recipients, subject, text, "alert")

    async def send_summary(message: Any) -> None:
        await app.mailflow.send_notice(None, message.recipients, message.subject, message.text, "daily_summary")

    app.alerts = AlertMonitor(board, app.clock, hub.publish, mail_staff)
    board.alert_monitor = app.alerts
    CallbackService("alerts", app.alerts.start, _async(app.alerts.stop)).setServiceParent(app.service)
    summary = DailySummarySchedule(app.clock, ReportingReader(app.database), lambda: board.settings, send_summary)
    CallbackService("daily-summary", summary.start, _async(summary.stop)).setServiceParent(app.service)
    app.forms = forms
    app.forms_resource = FormsResource(forms=settings.webform.forms, sink=forms.submit_form, clock=app.clock,
                                       secret=secret_file.read_bytes(), languages=settings.server.languages,
                                       default_region=settings.server.default_region, templates=settings.templates)
    root.putChild(b"forms", app.forms_resource)
    app.http.limit_body(b"/login", LOGIN_MAX_BODY)

    def form_body_cap(path: bytes) -> int:  # each form's own cap, as the last reload left it
        form = board.settings.webform.forms.get((path.split(b"/") + [b""] * 3)[2].decode("utf-8", "replace"))
        return form.max_body_bytes if form is not None else settings.server.http_limits.max_body_bytes

    app.http.limit_body(b"/forms", form_body_cap)


def _build_email(app: Application, reactor: Any) -> None:
    """The email channel: durable mail store, flow into the switchboard, listener, IMAP, outbox."""
    import uuid

    from callcenter.mailflow import MailFlow, MailFlowOptions
    from callcenter.records.mail import MailStore
    from callcenter.routing_rules import match_rule, queue_open
    from channels.email.imappoller import ImapConfig, ImapPollerService
    from channels.email.outbox import OutboxSenderService
    from channels.email.parsepool import ParsePool
    from channels.email.relay import RelayConfig, SmtpRelay
    from channels.email.smtplistener import SmtpListenerService
    from callcenter.health import ChannelStatus

    settings, board = app.settings, app.switchboard
    email = settings.email
    # Large messages are parsed in worker processes, two at once (channels/email/parsepool.py).
    parse_pool = ParsePool(reactor, max_concurrent=2)
    CallbackService("mail parsing", parse_pool.start, _async(parse_pool.stop)).setServiceParent(app.service)
    app.mail = mail = MailStore(app.database, app.clock, auto_reply_cap=email.auto_reply_cap,
                                auto_reply_window=email.auto_reply_window)
    relay_settings = settings.email.relay
    relay = SmtpRelay(RelayConfig(host=relay_settings.host, port=relay_settings.port,
                                  starttls=relay_settings.starttls, username=relay_settings.username,
                                  password=relay_settings.password))
    outbox = OutboxSenderService(app.clock, mail.claim_due, mail.mark_sent, mail.mark_failed, relay.send)
    domain = relay_settings.from_address.rpartition("@")[2] or "localhost"
    app.mailflow = MailFlow(
        records=app.store, mail=mail, clock=app.clock, settings=settings,
        route=lambda facts: match_rule(board.settings, facts),
        queue_open=lambda queue, now: queue_open(board.settings.queues[queue], now),
        on_new_interaction=lambda interaction, routing: board.route_existing(
            interaction, routing.match, {**routing.facts, "attributes": routing.customer.attributes}),
        on_customer_reply=lambda interaction: board.customer_replied(interaction.id),
        new_token=lambda: uuid.uuid4().hex, wake_outbox=outbox.wake,
        options=MailFlowOptions(closed_policy=email.closed_reply_policy, domain=domain,
                                unreadable_queue=email.unreadable_queue, relay_enabled=relay_settings.enabled),
        parse=parse_pool.parse)
    if relay_settings.enabled:
        outbox.setServiceParent(app.service)

    board.content_for = app.mailflow.screen_content
    app.health.add_channel("smtp_relay", lambda: ChannelStatus(outbox.relay_state, outbox.relay_detail)
                           if relay_settings.enabled else ChannelStatus("disabled"))
    mailboxes = {m.address: name for name, m in settings.email.mailboxes.items()}
    if settings.email.listener_enabled:
        app.smtp = SmtpListenerService(reactor, app.mailflow.accept_mail, mailboxes, app.clock,
                                       host=settings.server.smtp_host, port=settings.server.smtp_port,
                                       max_bytes=email.max_message_bytes, domain=domain)
        app.smtp.setServiceParent(app.service)
    app.health.add_channel("smtp_listener", lambda: ChannelStatus(
        "up" if getattr(app, "smtp", None) is not None and app.smtp.running else "disabled"))
    for name, mailbox in sorted(settings.email.mailboxes.items()):
        imap = mailbox.imap
        if imap is None or not imap.enabled:
            continue
        poller = ImapPollerService(reactor, name, ImapConfig(imap.host, imap.port, imap.username, imap.password,
                                                            folder=imap.folder, tls=imap.tls,
                                                            poll_interval=imap.poll_interval),
                                   app.mailflow.accept_mail, app.clock)
        poller.setServiceParent(app.service)
        app.health.add_channel(f"imap:{name}", lambda p=poller: ChannelStatus("up" if p.running else "down"))


def _kpi_rules(settings: Any) -> Any:
    from callcenter.reports.kpi import rules_from_settings

    supervision = getattr(settings, "supervision", None)
    return rules_from_settings(settings, getattr(supervision, "short_abandon", 5.0))


def _one_off(name: str, work: Any) -> CallbackService:
    """A service that runs ``await work()`` once when it starts (a failure is logged)."""
    return CallbackService(name, lambda: ensureDeferred(work()).addErrback(
        lambda f: log.failure("start-up step {name} failed", f, name=name)), _async(lambda: None))


async def _recover(app: Application) -> None:
    """Rebuild the routing core from the record (callcenter.recovery); /health says so meanwhile."""
    from callcenter.intake.webform import routing_input
    from callcenter.recovery import Recovery, mail_resumer

    def form_facts(form: Any, interaction: Any, customer: Any) -> Any:
        payload = interaction.payload
        return routing_input(form, payload.get("fields") or {}, payload.get("language"), customer, interaction.subject)

    app.health.recovering = True
    await Recovery(database=app.database, store=app.store, board=app.switchboard, clock=app.clock,
                   resume_mail=mail_resumer(app.mailflow.accept_mail), form_facts=form_facts,
                   restore_calls=_call_restorer(app)).run()
    app.health.recovering = False


def _call_restorer(app: Application) -> Any:
    """``restore_calls(interactions, contacts)`` for the rebuild: VoiceCalls', or None when
    telephony has none (the calls are then logged and left)."""
    if app.voice is None:
        return None
    return lambda calls, contacts: app.voice.restore_calls(calls, contacts, at=app.clock.now())


def _async(fn):
    async def run() -> None:
        fn()
    return run


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "http_port", None) is not None:
        overrides["http_port"] = args.http_port
    if getattr(args, "http_host", None):
        overrides["http_host"] = args.http_host
    for name in ("fastagi_port", "smtp_port"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return overrides


def _load_settings_or_report(args: argparse.Namespace) -> Any | None:
    from callcenter.settings import ConfigErrors, load_settings

    overrides = _overrides(args)
    config_dir = args.config_dir or DEFAULT_CONFIG_DIR
    try:
        return load_settings(config_dir, overrides)
    except ConfigErrors as errors:
        for error in errors.errors:
            print(str(error), file=sys.stderr)
        print(f"{len(errors.errors)} configuration error(s) in {config_dir}; nothing started", file=sys.stderr)
        return None


def _prepare_data_dir(settings: Any) -> None:
    # Customer data and secrets live here: only the server's user may enter the directory, and
    # what this process creates (the SQLite files, stored blobs) is 0600 whatever the umask was.
    os.umask(0o077)
    data_dir = Path(settings.server.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)


def migrate_main(args: argparse.Namespace) -> int:
    """``callcenter migrate``: bring the schema of the configured database to this code's version."""
    from callcenter.records.migrate import schema_state, upgrade

    settings = _load_settings_or_report(args)
    if settings is None:
        return 1
    _prepare_data_dir(settings)
    url = database_url_for(settings, args.database_url)
    before = schema_state(url)
    if before.status == "ahead":
        print(f"the database schema ({before.current}) is newer than this code ({before.head}); "
              "upgrade the code instead", file=sys.stderr)
        return 1
    upgrade(url)
    after = schema_state(url)
    print(f"schema at {after.current} (was {before.current or 'empty'})")
    return 0


def serve_main(args: argparse.Namespace, on_serving: Callable[[Application], Awaitable[None]] | None = None) -> int:
    """``callcenter serve``: run the server until SIGINT/SIGTERM; the exit status says how it ended.

    ``on_serving(app)`` (the demo floor's seeding) is awaited once everything serves, before
    the start-up message; its failure is logged and the server keeps serving."""
    from callcenter.logs import start_logging
    from callcenter.reactor import install_asyncio_reactor, require_asyncio_reactor

    install_asyncio_reactor()
    from twisted.internet import reactor

    require_asyncio_reactor(reactor)
    settings = _load_settings_or_report(args)
    if settings is None:
        return 1
    _prepare_data_dir(settings)
    url = database_url_for(settings, args.database_url)

    from callcenter.records.migrate import schema_state

    state = schema_state(url)
    if state.status != "current":
        print(_schema_message(state, args), file=sys.stderr)
        return 1
    from callcenter.records.instance_lock import AlreadyServing, hold_instance_lock

    try:
        instance_lock = hold_instance_lock(url)  # held until the process ends
    except AlreadyServing as taken:
        print(str(taken), file=sys.stderr)
        return 1

    start_logging(sys.stdout, log_format=getattr(args, "log_format", "auto"))
    app = build_application(settings, reactor, url, _overrides(args))
    exit_status = [0]

    def start() -> None:
        try:
            app.service.startService()
        except Exception:
            log.failure("start-up failed; stopping")
            exit_status[0] = 1
            reactor.stop()
            return
        app.service.ready.addCallbacks(serving, failed)

    def serving(_: object) -> None:
        # Everything built at start-up lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall bursts of pushes to browsers.
        gc.collect()
        gc.freeze()
        log.info("callcenter serving on {host}:{port} with database {db}", host=app.http.address[0],
                 port=app.http.address[1], db=_redacted(url), pid=os.getpid())
        after = ensureDeferred(on_serving(app)) if on_serving is not None else succeed(None)
        after.addErrback(lambda f: log.failure("the step after start-up failed", f))
        if sys.stdout.isatty():  # a person is watching: say where to go; log files keep JSON only
            after.addCallback(lambda _: ensureDeferred(app.users.list())).addCallback(
                lambda users: print(welcome_text(app.http.address, users, args), flush=True)).addErrback(
                lambda f: log.failure("could not list the users for the start-up message", f))

    def failed(failure: Any) -> None:
        log.failure("start-up failed (rebuilding from the record); stopping", failure)
        exit_status[0] = 1
        reactor.stop()

    def stop() -> Deferred | None:
        if not app.service.running:
            return None
        log.info("shutting down: draining channels and writes")
        return app.service.stopService()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    if hasattr(signal, "SIGHUP"):
        def on_hup(*_: object) -> None:
            reactor.callFromThread(lambda: ensureDeferred(app.reloader.reload("SIGHUP")))
        signal.signal(signal.SIGHUP, on_hup)
    reactor.run()
    instance_lock.release()
    log.info("stopped")
    return exit_status[0]


def welcome_text(address: tuple[str, int], users: list[Any], args: argparse.Namespace) -> str:
    """What ``callcenter serve`` prints on a terminal once it serves: the URL to open and, while
    no administrator can sign in (none enabled with a password), the command that creates one."""
    host, port = address
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("", "0.0.0.0") else host)
    lines = [f"callcenter is serving at http://{shown}:{port}/"]
    if not any(u.role == "admin" and not u.disabled and u.has_password for u in users):
        options = "".join(f" {flag} {value}" for flag, value in (
            ("--config", args.config_dir), ("--data-dir", args.data_dir), ("--database-url", args.database_url))
            if value is not None)
        lines += ["Nobody can sign in as an administrator yet. Create one (it asks for the password):",
                  f"    callcenter user add NAME --role admin{options}",
                  "then agents and supervisors the same way with --role agent or --role supervisor."]
    return "\n".join(lines)


def _schema_message(state: Any, args: argparse.Namespace) -> str:
    where = "callcenter migrate" + (f" --database-url {args.database_url}" if args.database_url else "")
    if state.status == "empty":
        return f"the database has no schema yet; run `{where}` first"
    if state.status == "behind":
        return f"the database schema ({state.current}) is older than this code ({state.head}); run `{where}`"
    return (f"the database schema ({state.current}) is newer than this code ({state.head}) or unknown to it; "
            "run the matching version of callcenter, or restore a backup")


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
