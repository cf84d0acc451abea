"""The validated configuration: a tree of frozen dataclasses.

Nothing here reads files or checks anything; :mod:`callcenter.settings.loader` builds a
:class:`Settings` only from a configuration that passed every check, so consumers can rely
on every reference (skill, agent, queue, schedule, template, reason code) resolving.
Durations are float seconds; mappings are read-only views.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

CHANNELS = ("voice", "email", "webform")
SELECTION_POLICIES = ("longest_idle", "best_proficiency", "least_loaded", "fewest_skills")


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP client may make the listener hold (``server.http_limits``); see docs/security.md.

    Deadlines are seconds: ``header_timeout`` from a request's first byte to the end of its
    headers, ``body_timeout`` from there to the end of its body, ``idle_timeout`` for a kept-alive
    connection with no request under way. ``max_body_bytes`` is the body cap of every path without
    its own (a web form has its ``max_body_bytes``); ``max_connections_per_address`` does not apply
    to ``server.trusted_proxies``.
    """

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_header_bytes: int = 16 * 1024
    max_header_lines: int = 100
    max_body_bytes: int = 1024 * 1024
    max_connections: int = 2048
    max_connections_per_address: int = 256


@dataclass(frozen=True)
class ServerSettings:
    """Listen addresses, storage and locale of the whole server (``server.yaml``)."""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    database_url: str | None = None
    data_dir: Path = Path("var")
    default_region: str = "US"
    timezone: str = "UTC"
    languages: tuple[str, ...] = ("en", "zh")
    # The customer's page in an external CRM: {id} and any external id key (e.g. {crm}) are filled in.
    crm_url: str | None = None
    # Reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: tuple[str, ...] = ()
    http_limits: HttpLimits = HttpLimits()


@dataclass(frozen=True)
class SkillSettings:
    """A skill and the proficiency levels it is graded on (``min_level``..``max_level``)."""

    name: str
    min_level: int
    max_level: int
    description: str


@dataclass(frozen=True)
class AgentSettings:
    """An agent: skills with levels, spoken languages, capacity and the cost of each channel.

    ``capacity`` is the agent's units of work; ``channel_costs[channel]`` the units one
    interaction of that channel takes (a call costing the whole capacity blocks other work).
    ``queues`` are the queues the agent file lists; :attr:`QueueSettings.members` is the
    resolved membership from every source.
    """

    login: str
    name: str
    skills: Mapping[str, int]
    languages: tuple[str, ...]
    capacity: int
    channel_costs: Mapping[str, int]
    phone: str | None
    email: str | None
    queues: tuple[str, ...]


@dataclass(frozen=True)
class CodeSettings:
    """A not-ready reason code or a disposition: a short code and what agents see."""

    code: str
    label: str


@dataclass(frozen=True)
class TierSettings:
    """A customer tier: the score bonus its interactions get and the response time promised."""

    name: str
    bonus: float
    response_time: float


@dataclass(frozen=True)
class Holiday:
    """A day a schedule is closed (``hours`` empty) or open only for the given hours."""

    date: dt.date
    name: str
    hours: tuple[tuple[dt.time, dt.time], ...]


@dataclass(frozen=True)
class ScheduleSettings:
    """Weekly opening hours in a time zone, with holidays.

    ``weekly[d]`` holds the open intervals of weekday ``d`` (0 = Monday) as
    ``(start, end)`` local times, ``end`` exclusive; ``dt.time.max`` stands for 24:00.
    """

    name: str
    timezone: str
    weekly: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]
    holidays: Mapping[dt.date, Holiday]


@dataclass(frozen=True)
class QueueMember:
    """An agent serving a queue; ``priority`` 0 is offered first, ``delay`` seconds of wait
    must pass before this member is offered an interaction of the queue."""

    agent: str
    priority: int
    delay: float


@dataclass(frozen=True)
class ServiceLevel:
    """The target: ``percent`` of interactions answered within ``within`` seconds."""

    percent: float
    within: float


@dataclass(frozen=True)
class Overflow:
    """Move waiting work to queue ``to`` after it waited ``after`` seconds."""

    after: float
    to: str


@dataclass(frozen=True)
class ClosedBehaviour:
    """What happens to a contact arriving while its queue is closed.

    Calls: the dialplan variable ``voice_variable`` is set to ``voice_value`` and, if
    set, ``voice_announcement`` is played. Emails: auto-reply with ``email_template`` (if
    set) and queue. Forms: accepted and queued; ``webform_template`` is the confirmation.
    """

    voice_variable: str
    voice_value: str
    voice_announcement: str | None
    email_template: str | None
    webform_template: str | None


@dataclass(frozen=True)
class QueueSettings:
    """A queue: who serves it, how agents are chosen, timers, targets, overflow, hours."""

    name: str
    label: str
    members: tuple[QueueMember, ...]
    member_skills: Mapping[str, int]
    selection: str
    offer_timeout: float
    wrap_up: float
    service_level: ServiceLevel
    overflow: Overflow | None
    schedule: ScheduleSettings | None
    closed: ClosedBehaviour
    wrap_up_by_channel: Mapping[str, float] = field(default_factory=dict)  # overrides wrap_up per channel


@dataclass(frozen=True)
class LadderStep:
    """One step of a requirements ladder: ``requirement`` (parsed ``text``) holds for
    ``duration`` seconds, then the next step applies; the last step's duration is None."""

    text: str
    requirement: Any = field(compare=False)  # equal text means an equal requirement
    duration: float | None


@dataclass(frozen=True)
class RuleConditions:
    """What a rule matches; an empty tuple or mapping means "any". Lists are alternatives,
    different keys must all hold."""

    channels: tuple[str, ...]
    to: tuple[str, ...]
    digits: tuple[str, ...]
    variables: Mapping[str, tuple[str, ...]]
    tiers: tuple[str, ...]
    attributes: Mapping[str, tuple[str, ...]]
    languages: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class RuleSettings:
    """An ordered routing rule; ``conditions`` None marks the default rule."""

    id: str
    conditions: RuleConditions | None
    queue: str
    priority: int
    tier_bonus: float | None
    ladder: tuple[LadderStep, ...]
    fallback: str | None


@dataclass(frozen=True)
class RoutingPolicy:
    """Routing settings that are not per queue.

    After ``max_no_answer`` missed offers in a row an agent is set not ready with reason
    ``no_answer_reason``; after one missed offer the agent is skipped for
    ``no_answer_backoff`` seconds, and a rejected interaction is not offered to the same
    agent again for ``reject_delay`` seconds. A customer's last agent is preferred for
    ``preferred_agent_for`` seconds. A waiting interaction's score grows by ``aging_rate``
    per second waited; ``strict_priority`` orders by priority first, then score.
    """

    no_answer_reason: str
    max_no_answer: int
    no_answer_backoff: float
    reject_delay: float
    preferred_agent_for: float
    aging_rate: float
    strict_priority: bool


@dataclass(frozen=True)
class AmiSettings:
    """The Asterisk Manager Interface login (disabled unless a PBX is there)."""

    enabled: bool
    host: str
    port: int
    username: str
    secret: str


@dataclass(frozen=True)
class TelephonySettings:
    """Call channel: AMI link, FastAGI server switch, and the bearer token of the CTI API."""

    ami: AmiSettings
    fastagi_enabled: bool
    cti_token: str | None


@dataclass(frozen=True)
class ImapSettings:
    """Where and how a mailbox is polled over IMAP."""

    enabled: bool
    host: str
    port: int
    tls: bool
    username: str
    password: str
    folder: str
    poll_interval: float


@dataclass(frozen=True)
class MailboxSettings:
    """An inbound mailbox: its address (mail to it arrives by the SMTP listener, or by IMAP
    polling when ``imap`` is set) and the auto-acknowledgement template."""

    name: str
    address: str
    auto_ack_template: str | None
    imap: ImapSettings | None


@dataclass(frozen=True)
class SmtpRelaySettings:
    """The relay outbound email is sent through."""

    enabled: bool
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    from_address: str


@dataclass(frozen=True)
class EmailSettings:
    """Email channel: mailboxes, outbound relay, SMTP listener switch, agents' reply template.

    The SMTP listener (``server.smtp_host``/``smtp_port``) accepts mail for the mailboxes'
    addresses only.
    """

    mailboxes: Mapping[str, MailboxSettings]
    relay: SmtpRelaySettings
    listener_enabled: bool
    reply_template: str | None
    # A customer's reply to finished work: ``reopen`` it, or a ``new-linked`` interaction.
    closed_reply_policy: str = "reopen"
    # At most ``auto_reply_cap`` automatic replies per address within ``auto_reply_window`` seconds.
    auto_reply_cap: int = 10
    auto_reply_window: float = 3 * 3600.0
    max_message_bytes: int = 25 * 1024 * 1024
    # Where mail that cannot be read goes (None: the queue the rules give the mailbox's mail).
    unreadable_queue: str | None = None


FIELD_TYPES = ("text", "textarea", "email", "phone", "select", "checkbox", "file")
DEFAULT_CONTENT_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")


def _no_text() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class FormChoice:
    """One option of a ``select`` field: the submitted ``value`` and its label per language."""

    value: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class FormField:
    """One field of a web form.

    ``label``, ``help`` and ``pattern_message`` map a language (``en``, ``zh``) to text; a
    configured one always holds the fallback language. ``pattern`` (a regular expression the
    whole normalized value must match) applies to text-like fields. ``max_bytes``,
    ``max_files`` and ``content_types`` cap the attachments of a ``file`` field.
    """

    name: str
    type: str
    label: Mapping[str, str]
    required: bool
    max_length: int
    help: Mapping[str, str] = field(default_factory=_no_text)
    choices: tuple[FormChoice, ...] = ()
    pattern: str | None = None
    pattern_message: Mapping[str, str] = field(default_factory=_no_text)
    max_bytes: int = 5 * 1024 * 1024
    max_files: int = 1
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES


@dataclass(frozen=True)
class FormRate:
    """A token bucket: ``burst`` submissions at once, refilling at ``per_second``."""

    burst: int
    per_second: float


@dataclass(frozen=True)
class FormSettings:
    """A web form customers submit.

    ``identify_email``/``identify_phone`` name the fields that identify the customer and
    ``identify_name`` the one holding the customer's name; ``routing_attributes`` the fields
    whose values routing rules see as attributes. ``confirmation_template`` is mailed to the
    customer after a submission. ``allowed_origins`` may embed the form and post to it from
    the browser (CORS); ``min_fill_time``/``max_age`` bound the seconds between showing the
    form and submitting it; ``per_ip_rate``/``global_rate`` limit submissions (None: no limit);
    ``max_body_bytes`` caps a request body.
    """

    name: str
    title: Mapping[str, str]
    fields: tuple[FormField, ...]
    confirmation_template: str | None
    identify_email: str | None = None
    identify_phone: str | None = None
    identify_name: str | None = None
    routing_attributes: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    min_fill_time: float = 3.0
    max_age: float = 7200.0
    per_ip_rate: FormRate | None = FormRate(5, 1 / 60)
    global_rate: FormRate | None = FormRate(100, 5.0)
    max_body_bytes: int = 64 * 1024


@dataclass(frozen=True)
class WebformSettings:
    """Web form channel: the forms, keyed by name."""

    forms: Mapping[str, FormSettings]


@dataclass(frozen=True)
class QueueAlertSettings:
    """Alert thresholds of a queue: ``service_level_below`` is ``"target"`` (the queue's
    target percent), a percent, or None (off); ``longest_wait_above`` seconds or None."""

    service_level_below: str | float | None = "target"
    longest_wait_above: float | None = 120.0
    no_agent_logged_in: bool = True


@dataclass(frozen=True)
class SupervisionSettings:
    """Reports, alerts and the daily summary (``supervision.yaml``).

    ``short_abandon``: abandons within this many seconds are left out of the service level
    and the abandon rate. ``alert_queues`` overrides ``alert_defaults`` per queue. The daily
    summary of the previous day goes to ``summary_recipients`` at ``summary_send_at``
    (local time of ``server.timezone``) when ``summary_enabled``.
    """

    short_abandon: float = 5.0
    alert_defaults: QueueAlertSettings = QueueAlertSettings()
    alert_queues: Mapping[str, QueueAlertSettings] = field(default_factory=lambda: MappingProxyType({}))
    summary_enabled: bool = False
    summary_recipients: tuple[str, ...] = ()
    summary_send_at: dt.time = dt.time(7, 0)
    # Figures (docs/reports.md): the service-level definition in force, the targets of the
    # non-voice channels (voice uses each queue's), the dispositions that mean "resolved".
    service_level: str = "default"
    channel_targets: Mapping[str, ServiceLevel] = field(default_factory=lambda: MappingProxyType({
        "email": ServiceLevel(80.0, 4 * 3600.0), "webform": ServiceLevel(80.0, 4 * 3600.0)}))
    resolved_dispositions: tuple[str, ...] = ("resolved",)
    # /metrics: a bearer token and/or the client addresses or networks allowed (none: open).
    metrics_token: str | None = field(default=None, repr=False)
    metrics_allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration of one server."""

    config_dir: Path
    server: ServerSettings
    skills: Mapping[str, SkillSettings]
    agents: Mapping[str, AgentSettings]
    reason_codes: Mapping[str, CodeSettings]
    dispositions: Mapping[str, CodeSettings]
    tiers: Mapping[str, TierSettings]
    default_tier: str
    schedules: Mapping[str, ScheduleSettings]
    queues: Mapping[str, QueueSettings]
    rules: tuple[RuleSettings, ...]
    policy: RoutingPolicy
    telephony: TelephonySettings
    email: EmailSettings
    webform: WebformSettings
    templates: Any  # callcenter.settings.templates.TemplateSet
    supervision: SupervisionSettings = SupervisionSettings()
