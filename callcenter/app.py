"""The composition root: builds every component from validated settings, in dependency order.

Nothing else in the project constructs components; each gets only what it uses, through its
constructor. :func:`build_application` is pure wiring and does no I/O until the service tree
starts, so tests build the same application with a chosen reactor, ports and database. The
commands that run it are in :mod:`callcenter.serve`. Importing this module imports Twisted's
mail package, which imports the global reactor: install the asyncio reactor first
(:func:`callcenter.runtime.reactor.install_asyncio_reactor`), as ``serve`` and the test suite do.

The order of construction follows the dependencies: the record; accounts and sign-in; today's
figures and the push hub; the switchboard (which publishes to the hub and counts into today's
figures); the intake pipeline and the channels; the web. Two components need one built after
them and are handed a function that looks it up when called, never patched afterwards: the push
hub's snapshot reads the switchboard, the switchboard's screen pop asks the mail flow for an
email's thread.

The order of the service tree is the order of start-up (and the reverse of shut-down): the
database, the switchboard, the HTTP listener (``/health`` answers "recovering"), the rebuild of
the routing core from the record, then every channel, then the web's background work.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from callcenter.reports.alerting import AlertMonitor
from callcenter.runtime.clock import Clock
from callcenter.dispatch.dryrun import dry_run as run_dry
from callcenter.runtime.events import EventBus
from callcenter.runtime.health import ChannelStatus, HealthCheck
from callcenter.intake.pbx_events import ClickToDialApi, CtiApi, TelephonyEvents
from callcenter.intake.pipeline import IntakePipeline
from callcenter.intake.voice_calls import VoiceCalls
from callcenter.intake.webform import FormFlow, routing_input
from callcenter.reports.livestats import LiveStats
from callcenter.intake.email import MailFlow, MailFlowOptions
from callcenter.intake.email_routing import route_stored
from callcenter.reports.metrics import MetricsAccess, MetricsEndpoint, MetricsRegistry
from callcenter.records.database import Database
from callcenter.records.mail import MailStore
from callcenter.records.reporting import AgentStateLog, ReportingReader
from callcenter.records.sessions import SessionRecords
from callcenter.records.store import RecordStore
from callcenter.records.users import UserStore
from callcenter.dispatch.recovery import Recovery, mail_resumer
from callcenter.runtime.reload import ConfigReloader
from callcenter.reports.kpi import rules_from_settings
from callcenter.reports.summary import DailySummarySchedule
from callcenter.dispatch.routing_rules import match_rule, queue_open
from callcenter.dispatch.routing_setup import all_available_router, interaction_spec, routing_config
from callcenter.runtime.services import CallbackService, OrderedMultiService, StartGate
from callcenter.dispatch.switchboard import Switchboard
from callcenter.web import notes
from callcenter.web.api import build_api
from callcenter.web.authn import Authenticator
from callcenter.web.desktop import DesktopApi
from callcenter.web.jsonapi import JsonApi
from callcenter.web.mailreview import MailReviewApi, admin_pages
from callcenter.web.pages import DashboardPage, DesktopPage, HomePage, home_of, page_environment, static_resource
from callcenter.web.push import PushHub, PushResource
from callcenter.web.reports import ReportsResource
from callcenter.web.signin import LOGIN_MAX_BODY
from callcenter.web.site import HttpService, RootResource
from callcenter.web.supervision import SupervisionApi, collect_metrics, today_snapshot
from channels.email.imappoller import ImapConfig, ImapPollerService
from channels.email.outbox import OutboxSenderService
from channels.email.parsepool import ParsePool
from channels.email.relay import RelayConfig, SmtpRelay
from channels.email.smtplistener import SmtpListenerService
from channels.telephony.ami_service import AmiCredentials, AmiService
from channels.telephony.fastagi import tcp_fastagi_service
from channels.webform.resource import FormsResource
from routing import Router

log = Logger(namespace="callcenter.app")


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
    stats: Any = None


def build_application(settings: Any, reactor: Any, database_url: str,
                      overrides: dict[str, object] | None = None) -> Application:
    """Wire every component for ``settings`` on ``reactor``; nothing runs until ``service.startService()``.

    ``overrides`` are the command-line settings a reload keeps applying.
    """
    clock = Clock(reactor)
    bus = EventBus()
    database = Database(database_url, reactor, bus)
    tiers = (settings.default_tier,) + tuple(t for t in settings.tiers if t != settings.default_tier)
    store = RecordStore(database, clock, default_region=settings.server.default_region, tiers=tiers)
    health = HealthCheck(database.ping)
    users = UserStore(database, clock)
    authn = Authenticator(users, clock, records=SessionRecords(database), home=home_of)

    async def authorize(req: Any, action: str) -> Any:
        # Any signed-in user (or API token) may read and edit the customer record; merging two
        # customers rewrites history, so it takes a supervisor or an admin.
        roles = ("supervisor", "admin") if action == "customers.merge" else ("agent", "supervisor", "admin")
        return await authn.api_principal(req, roles)

    api = build_api(store=store, health=health, authorize=authorize)
    root = RootResource(api, recovering=lambda: health.recovering)
    http = HttpService(reactor, root, settings.server.http_host, settings.server.http_port,
                       settings.server.http_limits, settings.server.trusted_proxies)
    service = OrderedMultiService()
    # Children stop in reverse: the database stops last, after every listener and channel has
    # drained what it was writing.
    CallbackService("database", database.start, _stop_records(store, database)).setServiceParent(service)
    app = Application(service, settings, clock, bus, database, store, health, api, http, root,
                      users=users, authn=authn)
    app.stats = LiveStats(settings.server.timezone, _kpi_rules(settings), bus, clock=clock,
                          state_log=AgentStateLog(database, started_at=clock.utcnow()))

    async def push_snapshot(principal: Any) -> Any:
        out: dict[str, Any] = {}
        if principal.agent:
            out["agent"] = notes.agent_snapshot_for(principal, await app.switchboard.agent_snapshot(principal.agent))
        if principal.role in ("supervisor", "admin"):
            out["supervisor"] = await today_snapshot(app.switchboard, clock, app.alerts)
        return out

    app.push = hub = PushHub(clock, snapshot=push_snapshot, signins=authn)

    async def email_content(interaction: Any) -> dict[str, Any]:
        return await app.mailflow.screen_content(interaction)

    app.switchboard = Switchboard(
        settings=settings, clock=clock, store=store, router=Router(routing_config(settings)),
        spec_builder=interaction_spec, stats=app.stats, content_for=email_content,
        # A screen pop pushed to an agent leaves out other agents' notes, like every other view of it.
        publish=lambda topic, kind, data: hub.publish(topic, kind, notes.pushed_for(topic, data)))
    app.intake = IntakePipeline(store=store, switchboard=app.switchboard, clock=clock)
    CallbackService("switchboard", lambda: None, _async(app.switchboard.stop)).setServiceParent(service)
    # HTTP listens first, /health alone answering ("recovering"), while the core is rebuilt from
    # the record; every other listener and channel starts once the rebuild is done.
    http.setServiceParent(service)
    StartGate("recovery", lambda: _recover(app)).setServiceParent(service)
    _build_telephony(app, reactor)
    app.reloader = ConfigReloader(settings.config_dir, overrides or {}, settings, _applier(app), _auditor(app),
                                  in_thread=lambda fn, *args: deferToThreadPool(reactor, reactor.getThreadPool(), fn,
                                                                                *args))
    _build_email(app, reactor)
    _build_web(app, reactor)
    return app


def _stop_records(store: Any, database: Any):
    async def stop() -> None:
        await store.drain()
        await database.stop()
    return stop


def _build_telephony(app: Application, reactor: Any) -> None:
    """Calls: FastAGI (the caller's session), AMI (what the PBX reports), the CTI API."""
    settings, board, telephony = app.settings, app.switchboard, app.settings.telephony
    app.voice = voice = VoiceCalls(board, app.intake, app.clock)
    if telephony.fastagi_enabled:
        app.fastagi = tcp_fastagi_service(reactor, voice, settings.server.fastagi_port, settings.server.fastagi_host)
        app.fastagi.setServiceParent(app.service)
    app.health.add_channel("fastagi", lambda: ChannelStatus("up" if app.fastagi is not None and app.fastagi.running
                                                             else "disabled"))
    if telephony.ami.enabled:
        rng = random.Random()
        app.ami = AmiService(TCP4ClientEndpoint(reactor, telephony.ami.host, telephony.ami.port),
                             AmiCredentials(telephony.ami.username, telephony.ami.secret), reactor,
                             TelephonyEvents(board, voice, app.store),
                             # ActionIDs need only be unique on one link; a counter keeps a
                             # session's bytes repeatable, so recorded PBX sessions replay exactly.
                             ids=lambda n=itertools.count(1): f"cc-{next(n)}",
                             jitter=lambda: rng.uniform(0.0, 1.0))
        app.ami.setServiceParent(app.service)

    def ami_status() -> ChannelStatus:
        if app.ami is None:
            return ChannelStatus("disabled")
        up, detail = app.ami.status()
        return ChannelStatus("up" if up else "down", detail)

    app.health.add_channel("ami", ami_status)
    cti = CtiApi(board, app.intake, telephony.cti_token, app.clock)
    cti.register(app.api)
    CallbackService("cti", cti.start, _async(cti.stop)).setServiceParent(app.service)


def _applier(app: Application) -> Any:
    """What a reload applies, once the new configuration checked out."""
    def apply(old: Any, new: Any) -> None:
        app.switchboard.reconfigure(new, routing_config(new))
        app.settings = new
        if app.forms is not None:
            app.forms.reconfigure(new.webform.forms, new.templates)
            app.forms_resource.reconfigure(new.webform.forms, new.templates)
        if app.alerts is not None:
            app.alerts.reconfigure(new)
        app.stats.reconfigure(_kpi_rules(new))
        if app.mailflow is not None:
            app.mailflow.settings = new  # templates, queues and tiers of email replies (email.* itself needs a restart)
    return apply


def _auditor(app: Application) -> Any:
    async def audit(action: str, details: dict, actor: str) -> None:
        await app.store.record_audit(action, "config", 0, actor=actor, details=details)
    return audit


def _build_web(app: Application, reactor: Any) -> None:
    """Accounts, push, the agent desktop, forms, supervision, reports and /metrics on the site."""
    settings, board, root, authn, hub = app.settings, app.switchboard, app.root, app.authn, app.push
    _one_off("sessions", authn.restore_sessions).setServiceParent(app.service)
    CallbackService("today's rollover", app.stats.start, _async(app.stats.stop)).setServiceParent(app.service)

    async def recompute_today() -> None:
        count = await app.stats.recompute(ReportingReader(app.database).histories, app.clock.now())
        log.info("today's figures recomputed from {count} queue legs in the record", count=count)

    _one_off("today's figures", recompute_today).setServiceParent(app.service)
    hub.setServiceParent(app.service)

    async def sync_agents() -> None:
        await app.users.sync_from_config((login, a.name) for login, a in sorted(board.settings.agents.items()))

    _one_off("accounts", sync_agents).setServiceParent(app.service)

    async def mail_staff(recipients: tuple[str, ...], subject: str, text: str) -> None:
        await app.mailflow.send_notice(None, recipients, subject, text, "alert")

    app.alerts = AlertMonitor(board, app.clock, hub.publish, mail_staff)
    supervisor, admin, agent = (authn.api_guard(("supervisor", "admin")), authn.api_guard(("admin",)),
                                authn.api_guard(("agent", "supervisor", "admin")))
    DesktopApi(board, app.store, agent, email=lambda: app.mailflow).register(app.api)
    app.click_to_dial = ClickToDialApi(board, app.ami, app.store, authn.api_guard(("agent",)), app.voice)
    app.click_to_dial.register(app.api)

    def dry_run(interaction: dict, now: Any) -> dict:
        return run_dry(board.settings, all_available_router(board.settings), interaction, now)

    SupervisionApi(board, app.store, app.clock, supervisor, admin, app.reloader.reload, dry_run,
                   alerts=app.alerts).register(app.api)
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
    CallbackService("alerts", app.alerts.start, _async(app.alerts.stop)).setServiceParent(app.service)

    async def send_summary(message: Any) -> None:
        await app.mailflow.send_notice(None, message.recipients, message.subject, message.text, "daily_summary")

    summary = DailySummarySchedule(app.clock, ReportingReader(app.database), lambda: board.settings, send_summary)
    CallbackService("daily-summary", summary.start, _async(summary.stop)).setServiceParent(app.service)
    _build_forms(app, reactor)


def _build_forms(app: Application, reactor: Any) -> None:
    """The web forms: their page and submission endpoint, the intake of submissions, body caps."""
    settings, board = app.settings, app.switchboard

    app.forms = FormFlow(admit=app.intake.admit, forms=settings.webform.forms, templates=settings.templates,
                         data_dir=Path(settings.server.data_dir), reactor=reactor, confirmation=app.mailflow,
                         fallback_language=settings.server.languages[0])
    app.forms_resource = FormsResource(forms=settings.webform.forms, sink=app.forms.submit_form, clock=app.clock,
                                       secret=_form_secret(Path(settings.server.data_dir)),
                                       languages=settings.server.languages,
                                       default_region=settings.server.default_region, templates=settings.templates)
    app.root.putChild(b"forms", app.forms_resource)
    app.http.limit_body(b"/login", LOGIN_MAX_BODY)

    def form_body_cap(path: bytes) -> int:  # each form's own cap, as the last reload left it
        form = board.settings.webform.forms.get((path.split(b"/") + [b""] * 3)[2].decode("utf-8", "replace"))
        return form.max_body_bytes if form is not None else settings.server.http_limits.max_body_bytes

    app.http.limit_body(b"/forms", form_body_cap, parsed_by_resource=True)


def _form_secret(data_dir: Path) -> bytes:
    """The key that signs form tokens: made once (0600, in the 0700 data directory), then kept."""
    secret_file = data_dir / "form-secret"
    if not secret_file.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with os.fdopen(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(secrets.token_bytes(32))
    secret_file.chmod(0o600)  # also tightens one an earlier version left readable by everyone
    return secret_file.read_bytes()


def _build_email(app: Application, reactor: Any) -> None:
    """The email channel: durable mail store, flow into the switchboard, listener, IMAP, outbox."""
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
        on_new_interaction=lambda interaction, routing: route_stored(
            board, app.store, interaction, routing.match, {**routing.facts, "attributes": routing.customer.attributes}),
        on_customer_reply=lambda interaction: board.customer_replied(interaction.id),
        new_token=lambda: uuid.uuid4().hex, wake_outbox=outbox.wake,
        options=MailFlowOptions(closed_policy=email.closed_reply_policy, domain=domain,
                                unreadable_queue=email.unreadable_queue, relay_enabled=relay_settings.enabled),
        parse=parse_pool.parse)
    if relay_settings.enabled:
        outbox.setServiceParent(app.service)
    app.health.add_channel("smtp_relay", lambda: ChannelStatus(outbox.relay_state, outbox.relay_detail)
                           if relay_settings.enabled else ChannelStatus("disabled"))
    mailboxes = {m.address: name for name, m in settings.email.mailboxes.items()}
    if settings.email.listener_enabled:
        app.smtp = SmtpListenerService(reactor, app.mailflow.accept_mail, mailboxes, app.clock,
                                       host=settings.server.smtp_host, port=settings.server.smtp_port,
                                       max_bytes=email.max_message_bytes, domain=domain)
        app.smtp.setServiceParent(app.service)
    app.health.add_channel("smtp_listener", lambda: ChannelStatus(
        "up" if app.smtp is not None and app.smtp.running else "disabled"))
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
    supervision = getattr(settings, "supervision", None)
    return rules_from_settings(settings, getattr(supervision, "short_abandon", 5.0))


def _one_off(name: str, work: Any) -> CallbackService:
    """A service that runs ``await work()`` once when it starts (a failure is logged)."""
    return CallbackService(name, lambda: ensureDeferred(work()).addErrback(
        lambda f: log.failure("start-up step {name} failed", f, name=name)), _async(lambda: None))


async def _recover(app: Application) -> None:
    """Rebuild the routing core from the record (callcenter.dispatch.recovery); /health says so meanwhile."""
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
