"""Loading a configuration directory: every file read and every check run in one pass.

The directory holds ``server.yaml``, ``skills.yaml``, ``agents.yaml``, ``codes.yaml``,
``tiers.yaml``, ``hours.yaml``, ``queues.yaml``, ``routing.yaml``, ``channels.yaml``,
``supervision.yaml`` and ``templates/`` (see docs/configuration.md). ``skills``, ``agents``, ``queues`` and
``routing`` are required; the others have defaults. :func:`load_settings` returns a
:class:`Settings` only when nothing is wrong; otherwise it raises :class:`ConfigErrors`
with every error found, so a caller never applies half a configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from callcenter.settings.channels import read_email, read_telephony, read_webform
from callcenter.settings.errors import ConfigErrors
from callcenter.settings.hours import read_schedules
from callcenter.settings.model import Settings
from callcenter.settings.queues import read_queues
from callcenter.settings.rules import RuleContext, read_rules
from callcenter.settings.sections import frozen_map, read_agents, read_codes, read_server, read_skills, read_tiers
from callcenter.settings.source import Checker, Node
from callcenter.settings.supervision import read_supervision
from callcenter.settings.templates import TemplateReferences, load_templates

REQUIRED_FILES = ("skills", "agents", "queues", "routing")
OPTIONAL_FILES = ("server", "codes", "tiers", "hours", "channels", "supervision")


def _roots(config_dir: Path, checker: Checker) -> dict[str, Node | None]:
    roots: dict[str, Node | None] = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        roots[name] = checker.load(config_dir / f"{name}.yaml", required=name in REQUIRED_FILES)
    known = {f"{name}.yaml" for name in roots}
    for path in sorted(config_dir.glob("*.y*ml")) if config_dir.is_dir() else ():
        if path.name not in known:
            checker.file_error(str(path), 1, 1, "unknown configuration file; expected: "
                               + ", ".join(sorted(known)))
    return roots


def _required(root: Node | None) -> Node:
    if root is None:
        raise AssertionError("a missing required file is reported before sections are read")
    return root


def validate(config_dir: Path, overrides: Mapping[str, object] | None = None) -> tuple[Settings | None, Checker]:
    """Read and check everything; the settings are None when the checker holds errors."""
    checker = Checker()
    if not config_dir.is_dir():
        checker.file_error(str(config_dir), 1, 1, "configuration directory not found")
        return None, checker
    roots = _roots(config_dir, checker)
    if checker.errors:
        # A missing or unreadable file makes every reference into it look wrong; report the
        # files alone rather than bury them under that noise.
        return None, checker
    required = {name: _required(roots[name]) for name in REQUIRED_FILES}
    server = read_server(roots["server"], checker, overrides or {})
    fallback = server.languages[0]
    templates = load_templates(config_dir / "templates", fallback, checker)
    refs = TemplateReferences(checker, templates, fallback)
    skills = read_skills(required["skills"], checker)
    queues_node = required["queues"].get("queues")
    queue_names = frozenset(queues_node.keys()) if queues_node is not None else frozenset()
    agents = read_agents(required["agents"], checker, skills, queue_names)
    reason_codes = read_codes(roots["codes"], checker, "reason_codes")
    dispositions = read_codes(roots["codes"], checker, "dispositions")
    tiers, default_tier = read_tiers(roots["tiers"], checker)
    schedules = read_schedules(roots["hours"], checker)
    channels = roots["channels"]
    top = checker.mapping(channels, optional=("telephony", "email", "webform")) if channels is not None else {}
    telephony = read_telephony(top.get("telephony"), checker)
    email = read_email(top.get("email"), checker, refs, queue_names)
    webform = read_webform(top.get("webform"), checker, refs)
    queues = read_queues(required["queues"], checker, agents, skills, schedules, refs)
    addresses = {"email": frozenset(email.mailboxes), "webform": frozenset(webform.forms)}
    ctx = RuleContext(queues, agents, skills, tiers, reason_codes, addresses)
    rules, policy = read_rules(required["routing"], checker, ctx)
    supervision = read_supervision(roots["supervision"], checker, queue_names)
    if checker.errors:
        return None, checker
    settings = Settings(
        config_dir=config_dir,
        server=server,
        skills=frozen_map(skills),
        agents=frozen_map(agents),
        reason_codes=frozen_map(reason_codes),
        dispositions=frozen_map(dispositions),
        tiers=frozen_map(tiers),
        default_tier=default_tier,
        schedules=frozen_map(schedules),
        queues=frozen_map(queues),
        rules=rules,
        policy=policy,
        telephony=telephony,
        email=email,
        webform=webform,
        templates=templates,
        supervision=supervision,
    )
    return settings, checker


def load_settings(config_dir: Path, overrides: Mapping[str, object] | None = None) -> Settings:
    """The validated settings of ``config_dir``, with ``overrides`` of server keys applied.

    ``overrides`` may set ``http_host``, ``http_port``, ``fastagi_port``, ``smtp_port``, ``data_dir``
    and ``database_url``
    (a ``ValueError`` for any other key: that is a programming error, not a config error).
    Raises :class:`ConfigErrors` holding every problem found.
    """
    settings, checker = validate(Path(config_dir), overrides)
    if settings is None:
        raise ConfigErrors(checker.errors)
    return settings
