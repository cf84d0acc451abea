"""diff_settings summaries for the reload record, and the compiled templates."""

from __future__ import annotations

import jinja2
import pytest

from callcenter.settings import diff_settings
from callcenter.settings.templates import TemplateNotFound


def test_identical_settings_have_no_differences(settings_of):
    """Loading the same tree twice reports nothing changed."""
    assert diff_settings(settings_of({}), settings_of({})) == []


def test_diff_names_added_removed_and_changed_entries(settings_of):
    """Server values, queues, agents, rules, secrets and templates are each summarised."""
    old = settings_of({})
    new = settings_of({
        "server.yaml": "server:\n  http_port: 8081\n",
        "queues.yaml": """
            queues:
              support: {members: {skills: {technical: 1}}, offer_timeout: 30s}
              billing: {members: {agents: [alice]}}
              sales: {members: {agents: [bob]}}
            """,
        "routing.yaml": """
            rules:
              - {id: sales, match: {digits: "2"}, queue: sales}
              - {id: default, queue: support}
            """,
        "channels.yaml": "telephony:\n  ami: {secret: s3cr3t-value}\n",
        "templates/ack.en.txt": "Subject: changed {{ name }}\n",
    })
    assert diff_settings(old, new) == [
        "server.http_port: 8080 -> 8081",
        "queues: added sales",
        "queues.billing: changed members",
        "queues.support: changed offer_timeout",
        "rules: added sales",
        "rules: removed billing",
        "telephony.ami.secret: changed",
        "templates: changed ack.en.txt",
    ]


def test_rule_order_change_is_reported(settings_of):
    """Swapping two rules changes routing even though no rule changed."""
    rules = ['- {id: a, match: {digits: "1"}, queue: billing}', '- {id: b, match: {digits: "2"}, queue: support}']
    old = settings_of({"routing.yaml": "rules:\n  " + "\n  ".join(rules) + "\n  - {id: default, queue: support}\n"})
    new = settings_of({"routing.yaml": "rules:\n  " + "\n  ".join(rules[::-1]) + "\n  - {id: default, queue: support}\n"})
    assert diff_settings(old, new) == ["rules: order changed"]


def test_templates_render_with_language_fallback(settings_of):
    """A missing language falls back to the first server language; the subject line is split off."""
    templates = settings_of({}).templates
    assert templates.render_email("ack", "zh", {"name": "Li"}) == ("Hello Li", "Hi Li.\n")
    with pytest.raises(TemplateNotFound):
        templates.get("nothing", "en")


def test_templates_are_strict_and_html_is_escaped(settings_of):
    """An undefined variable raises; HTML templates escape values, text templates do not."""
    templates = settings_of({
        "templates/page.en.html": "<p>{{ text }}</p>",
        "templates/page.en.txt": "{{ text }}",
    }).templates
    with pytest.raises(jinja2.UndefinedError):
        templates.render("ack", "en", {})
    assert templates.render("page", "en", {"text": "<b>"}, kind="html") == "<p>&lt;b&gt;</p>"
    assert templates.render("page", "en", {"text": "<b>"}) == "<b>"


def test_badly_named_template_file_is_reported(errors_of):
    """A template file must be <name>.<language>.txt|html."""
    assert errors_of({"templates/Ack.txt": "x"}) == [
        "cfg/templates/Ack.txt:1:1: template files must sit directly in templates/ and be named "
        "<name>.<language>.txt or <name>.<language>.html"]
