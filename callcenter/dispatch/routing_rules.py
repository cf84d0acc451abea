"""Matching an incoming interaction against the configured routing rules, and business hours.

Pure functions of the validated :class:`~callcenter.settings.Settings` and plain data: no
I/O, no clock (the instant is passed in). An interaction is a mapping with any of these
keys (absent keys simply fail the conditions that need them):

``channel``      ``voice``, ``email`` or ``webform``
``to``           the address it came to: dialled number, mailbox name, form name
``digits``       IVR digits the caller pressed
``variables``    IVR/dialplan variables, ``{name: value}``
``tier``         the customer's tier (the configured default tier when absent)
``attributes``   the customer's attributes, ``{name: value}``
``language``     the contact's language (``zh-CN`` matches a rule's ``zh``)
``subject``, ``body``  text searched for keywords
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Mapping

from callcenter.settings.hours import schedule_open
from callcenter.settings.model import LadderStep, QueueSettings, RuleConditions, RuleSettings, Settings

_ADDRESS_NOISE = re.compile(r"[\s()-]")


@dataclass(frozen=True)
class RuleMatch:
    """The outcome of rule matching.

    ``tier_bonus`` is the rule's own bonus if it sets one, else the customer's tier bonus
    (seconds). ``skipped`` lists each earlier rule with the first reason it did not match.
    """

    rule: str
    queue: str
    priority: int
    tier: str
    tier_bonus: float
    ladder: tuple[LadderStep, ...]
    fallback: str | None
    skipped: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ClosedAction:
    """What to do with a contact on ``channel`` reaching a closed queue.

    ``queue`` says whether it is queued anyway (email and forms are; a call is handed back
    to the dialplan with ``variable`` set to ``value`` and ``announcement`` to play).
    ``template`` is the auto-reply (email) or confirmation (form) to send, if any.
    """

    channel: str
    queue: bool
    variable: str | None
    value: str | None
    announcement: str | None
    template: str | None


def _address(value: Any) -> str:
    return _ADDRESS_NOISE.sub("", str(value)).casefold()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _keyword_found(keyword: str, text: str) -> bool:
    # ASCII words match whole words only ("charge" must not match "surcharge");
    # scripts written without spaces (Chinese) can only match as substrings.
    if keyword.isascii() and re.fullmatch(r"\w+", keyword):
        return re.search(rf"\b{re.escape(keyword)}\b", text) is not None
    return keyword in text


def _mismatch(conditions: RuleConditions, interaction: Mapping[str, Any], tier: str) -> str | None:
    """The first condition ``interaction`` fails, in words; None when every one holds."""
    channel = _text(interaction.get("channel"))
    if conditions.channels and channel not in conditions.channels:
        return f"channel is {channel or 'missing'}, not {' or '.join(conditions.channels)}"
    if conditions.to:
        to = _address(interaction.get("to", ""))
        if to not in {_address(v) for v in conditions.to}:
            return f"to {interaction.get('to')!r} is not {' or '.join(conditions.to)}"
    if conditions.digits:
        digits = _text(interaction.get("digits"))
        if digits not in conditions.digits:
            return f"digits {digits!r} are not {' or '.join(conditions.digits)}"
    for label, wanted, given in (("variable", conditions.variables, interaction.get("variables") or {}),
                                 ("attribute", conditions.attributes, interaction.get("attributes") or {})):
        for name, values in wanted.items():
            if _text(given.get(name)) not in values:
                return f"{label} {name} is {given.get(name)!r}, not {' or '.join(values)}"
    if conditions.tiers and tier not in conditions.tiers:
        return f"tier is {tier}, not {' or '.join(conditions.tiers)}"
    if conditions.languages:
        language = _text(interaction.get("language")).casefold()
        primary = language.split("-")[0]
        if not any(lang.casefold() in (language, primary) for lang in conditions.languages):
            return f"language is {language or 'unknown'}, not {' or '.join(conditions.languages)}"
    if conditions.keywords:
        text = f"{_text(interaction.get('subject'))}\n{_text(interaction.get('body'))}".casefold()
        if not any(_keyword_found(k, text) for k in conditions.keywords):
            return f"none of the keywords {', '.join(conditions.keywords)} is in the subject or body"
    return None


def why_not(rule: RuleSettings, interaction: Mapping[str, Any], tier: str) -> str | None:
    """Why ``rule`` does not match ``interaction`` (None if it does; the default rule always does)."""
    if rule.conditions is None:
        return None
    return _mismatch(rule.conditions, interaction, tier)


def match_rule(settings: Settings, interaction: Mapping[str, Any]) -> RuleMatch:
    """The first rule of ``settings.rules`` that ``interaction`` satisfies.

    Always returns a match: validated settings end with a default rule.
    """
    tier = _text(interaction.get("tier")) or settings.default_tier
    skipped: list[tuple[str, str]] = []
    for rule in settings.rules:
        reason = why_not(rule, interaction, tier)
        if reason is not None:
            skipped.append((rule.id, reason))
            continue
        return _matched(settings, rule, tier, tuple(skipped))
    raise AssertionError("validated settings always end with a default rule")


def rule_match(settings: Settings, rule_id: str | None, tier: str | None) -> RuleMatch | None:
    """The match rule ``rule_id`` gives a contact of ``tier``, without checking its conditions
    (the rule matched when the contact arrived); None when no rule has that id any more."""
    for rule in settings.rules:
        if rule.id == rule_id:
            return _matched(settings, rule, tier or settings.default_tier, ())
    return None


def _matched(settings: Settings, rule: RuleSettings, tier: str, skipped: tuple[tuple[str, str], ...]) -> RuleMatch:
    tier_settings = settings.tiers.get(tier) or settings.tiers[settings.default_tier]
    bonus = rule.tier_bonus if rule.tier_bonus is not None else tier_settings.bonus
    return RuleMatch(rule.id, rule.queue, rule.priority, tier, bonus, rule.ladder, rule.fallback, skipped)


def queue_open(queue: QueueSettings, at: dt.datetime) -> bool:
    """True if ``queue`` takes contacts at the aware instant ``at`` (always, without hours).

    Raises ``ValueError`` for a naive ``at``.
    """
    if queue.schedule is None:
        if at.tzinfo is None:
            raise ValueError("queue_open needs a timezone-aware datetime")
        return True
    return schedule_open(queue.schedule, at)


def closed_action(queue: QueueSettings, channel: str) -> ClosedAction:
    """What the configuration says to do with a ``channel`` contact while ``queue`` is closed.

    Raises ``ValueError`` for an unknown channel.
    """
    closed = queue.closed
    if channel == "voice":
        return ClosedAction(channel, False, closed.voice_variable, closed.voice_value,
                            closed.voice_announcement, None)
    if channel == "email":
        return ClosedAction(channel, True, None, None, None, closed.email_template)
    if channel == "webform":
        return ClosedAction(channel, True, None, None, None, closed.webform_template)
    raise ValueError(f"unknown channel {channel!r}")
