"""Routing rules matched against sample interactions, on the shipped example center."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.dispatch.routing_rules import match_rule
from callcenter.settings import load_settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def settings():
    return load_settings(SHIPPED)


def test_dialled_number_selects_the_billing_line(settings):
    """A call to the billing number matches the first rule and carries its two-step ladder."""
    match = match_rule(settings, {"channel": "voice", "to": "+1 800 555 0102"})
    assert (match.rule, match.queue, match.priority) == ("voice-billing-line", "billing", 0)
    assert [(s.text, s.duration) for s in match.ladder] == [("billing >= 4", 30.0), ("billing >= 2", 60.0)]
    assert match.skipped == ()


def test_ivr_digits_select_the_menu_rule_and_earlier_rules_say_why_not(settings):
    """Digit 2 goes to sales; the skipped rules each give their first failing condition."""
    match = match_rule(settings, {"channel": "voice", "to": "+18005550100", "digits": "2"})
    assert (match.rule, match.queue, match.fallback) == ("voice-menu-sales", "sales", "support")
    assert match.skipped == (
        ("voice-billing-line", "to '+18005550100' is not +18005550102"),
        ("voice-vip", "tier is basic, not gold or platinum"),
        ("voice-menu-billing", "digits '2' are not 1"),
    )


def test_tier_gives_priority_and_the_tier_bonus(settings):
    """A platinum caller matches the VIP rule and gets the platinum bonus of 180 s."""
    match = match_rule(settings, {"channel": "voice", "to": "+18005550100", "tier": "platinum"})
    assert (match.rule, match.priority, match.tier, match.tier_bonus) == ("voice-vip", 10, "platinum", 180.0)


def test_email_keywords_are_whole_words_and_case_insensitive(settings):
    """'Refund' in the subject routes a support email to billing; 'refunded' alone does not."""
    hit = match_rule(settings, {"channel": "email", "to": "support", "subject": "Refund please", "body": ""})
    assert (hit.rule, hit.queue) == ("email-billing-words", "billing")
    miss = match_rule(settings, {"channel": "email", "to": "support", "subject": "I was refunded"})
    assert miss.rule == "default"


def test_chinese_keywords_match_inside_text(settings):
    """Keywords in a script without spaces match as substrings of the body."""
    match = match_rule(settings, {"channel": "email", "to": "support", "body": "请帮我开发票，谢谢"})
    assert match.rule == "email-billing-words"


def test_language_matches_its_primary_subtag(settings):
    """An email in zh-CN to an address without its own rule goes to the Mandarin rule."""
    match = match_rule(settings, {"channel": "email", "to": "info", "language": "zh-CN", "subject": "你好"})
    assert (match.rule, match.queue) == ("email-mandarin", "support")


def test_form_name_selects_the_form_rule(settings):
    """The contact form goes to support, the quote form to sales."""
    assert match_rule(settings, {"channel": "webform", "to": "contact"}).rule == "form-contact"
    assert match_rule(settings, {"channel": "webform", "to": "quote"}).queue == "sales"


def test_contact_form_billing_topic_goes_to_billing(settings):
    """The contact form's topic (one of its routing attributes) sends billing questions to billing."""
    facts = {"channel": "webform", "to": "contact", "attributes": {"topic": "billing"}}
    assert (match_rule(settings, facts).rule, match_rule(settings, facts).queue) == ("form-contact-billing", "billing")
    other = {"channel": "webform", "to": "contact", "attributes": {"topic": "support"}}
    assert match_rule(settings, other).queue == "support"


def test_anything_else_falls_to_the_default_rule(settings):
    """An empty interaction still matches: the default rule catches it."""
    match = match_rule(settings, {})
    assert (match.rule, match.queue, match.tier) == ("default", "support", "basic")
    assert len(match.skipped) == len(settings.rules) - 1


def test_variables_and_attributes_conditions(settings_of):
    """Variables and customer attributes must equal one of the listed values."""
    settings = settings_of({"routing.yaml": """
        rules:
          - id: enterprise
            match: {variables: {LANG: [zh, cn]}, attributes: {segment: enterprise}}
            queue: billing
            tier_bonus: 5m
          - id: default
            queue: support
        """})
    hit = match_rule(settings, {"variables": {"LANG": "cn"}, "attributes": {"segment": "enterprise"}})
    assert (hit.rule, hit.tier_bonus) == ("enterprise", 300.0)
    miss = match_rule(settings, {"variables": {"LANG": "cn"}, "attributes": {"segment": "smb"}})
    assert miss.skipped == (("enterprise", "attribute segment is 'smb', not enterprise"),)
