"""Each class of configuration error is reported at its exact file:line:column and key path."""

from __future__ import annotations

import io
from pathlib import Path

from callcenter.settings import ConfigError, check_config_main


def test_error_renders_file_line_column_and_key_path():
    """A ConfigError prints as `file:line:col key.path: message`, or without key path for a file."""
    error = ConfigError("config/queues.yaml", 14, 7, "queues.billing.overflow.after", "must be a duration like 30s")
    assert str(error) == "config/queues.yaml:14:7 queues.billing.overflow.after: must be a duration like 30s"
    assert str(ConfigError("config/x.yaml", 1, 1, "", "file is missing")) == "config/x.yaml:1:1: file is missing"


def test_bad_duration_is_reported_at_its_key(errors_of):
    """A malformed duration names the file relative to the working directory, its key's place and path."""
    assert errors_of({"queues.yaml": """
        queues:
          support:
            members:
              skills: {technical: 1}
          billing:
            members:
              agents: [alice, bob]
            overflow:
              after: 3 minutes
              to: support
        """}) == ["cfg/queues.yaml:9:7 queues.billing.overflow.after: must be a duration like 30s"]


def test_broken_yaml_is_reported_where_the_parser_stopped(errors_of):
    """Broken YAML gives PyYAML's place and no key path."""
    errors = errors_of({"skills.yaml": "skills:\n  billing: {max_level: 3\n  technical: {}\n"})
    assert len(errors) == 1
    assert errors[0].startswith("cfg/skills.yaml:3:12: invalid YAML:")


def test_broken_yaml_says_what_is_wrong_in_words(errors_of):
    """The file is read with LibYAML; a broken one is read again to name what is wrong: an
    undefined alias by its name, a tab that starts an indentation."""
    assert errors_of({"skills.yaml": "skills:\n  billing: *billing\n"}) == [
        "cfg/skills.yaml:2:12: invalid YAML: found undefined alias 'billing'"]
    assert errors_of({"skills.yaml": "skills:\n\tbilling: {}\n"}) == [
        "cfg/skills.yaml:2:1: invalid YAML: while scanning for the next token found character '\\t' that "
        "cannot start any token"]


def test_a_control_character_is_reported_at_its_place(errors_of):
    """A control character pasted into a file (YAML allows none) is a clear error at its line and
    column, not a crash of the loader."""
    errors = errors_of({"skills.yaml": "skills:\n  billing: {}\n  tech\x07nical: {}\n"})
    assert errors == ["cfg/skills.yaml:3:7: invalid YAML: the character U+0007 is not allowed "
                      "(no control character is, but tab and line breaks)"]


def test_unknown_key_is_reported_at_the_key(errors_of):
    """An unknown key names itself and the keys that are allowed."""
    errors = errors_of({"queues.yaml": """
        queues:
          support:
            members: {skills: {technical: 1}}
            colour: blue
          billing:
            members: {agents: [alice]}
        """})
    assert errors == ["cfg/queues.yaml:4:5 queues.support.colour: unknown key; expected one of: closed, hours, "
                      "label, members, offer_timeout, overflow, selection, service_level, wrap_up"]


def test_wrong_types_are_reported_with_what_was_expected(errors_of):
    """A string where an integer belongs, and a list where a mapping belongs, are each reported."""
    errors = errors_of({
        "server.yaml": "server:\n  http_port: eighty\n",
        "skills.yaml": "skills:\n  billing: [1, 5]\n  technical: {max_level: 3}\n",
    })
    assert errors == [
        "cfg/server.yaml:2:3 server.http_port: must be an integer",
        "cfg/skills.yaml:2:3 skills.billing: must be a mapping",
    ]


def test_duplicate_yaml_key_is_reported_at_the_second_occurrence(errors_of):
    """PyYAML would keep the last `alice`; the loader reports the repeat instead."""
    errors = errors_of({"agents.yaml": """
        agents:
          alice:
            name: Alice
            skills: {billing: 5}
          bob:
            name: Bob
            skills: {technical: 3}
          alice:
            name: Alice again
        """})
    assert errors == ["cfg/agents.yaml:8:3 agents.alice: duplicate key (first defined on line 2)"]


def test_duplicate_rule_id_is_reported(errors_of):
    """Two rules with one id: the second is reported at its id."""
    errors = errors_of({"routing.yaml": """
        rules:
          - id: billing
            match: {digits: "1"}
            queue: billing
          - id: billing
            match: {digits: "2"}
            queue: billing
          - id: default
            queue: support
        """})
    assert errors == ["cfg/routing.yaml:5:5 rules[1].id: duplicate rule id (first defined on line 2)"]


def test_unknown_references_are_each_reported(errors_of):
    """Unknown skill, agent, schedule, queue, tier, template and reason code: one error each, in place."""
    errors = errors_of({
        "agents.yaml": "agents:\n  alice:\n    name: Alice\n    skills: {billing: 5, french: 2}\n"
                       "  bob:\n    name: Bob\n    skills: {technical: 3}\n    queues: [sales]\n",
        "queues.yaml": "queues:\n  support:\n    members: {agents: [bob, zoe]}\n    hours: office\n"
                       "    closed: {email: {template: nope}}\n  billing:\n    members: {agents: [alice]}\n",
        "routing.yaml": "policy:\n  no_answer_reason: asleep\nrules:\n  - id: vip\n    match: {tier: diamond}\n"
                        "    queue: vip\n  - id: default\n    queue: support\n",
    })
    assert errors == [
        "cfg/agents.yaml:4:26 agents.alice.skills.french: unknown skill 'french' (not in skills.yaml)",
        "cfg/agents.yaml:8:14 agents.bob.queues[0]: unknown queue 'sales' (not in queues.yaml)",
        "cfg/queues.yaml:3:29 queues.support.members.agents[1]: unknown agent 'zoe' (not in agents.yaml)",
        "cfg/queues.yaml:4:5 queues.support.hours: unknown schedule 'office' (not in hours.yaml)",
        "cfg/queues.yaml:5:22 queues.support.closed.email.template: unknown template 'nope' "
        "(no templates/nope.en.txt or .html)",
        "cfg/routing.yaml:2:3 policy.no_answer_reason: unknown reason code 'asleep' (not in codes.yaml)",
        "cfg/routing.yaml:5:13 rules[0].match.tier: unknown tier 'diamond' (not in tiers.yaml)",
        "cfg/routing.yaml:6:5 rules[0].queue: unknown queue 'vip' (not in queues.yaml)",
    ]


def test_overflow_cycle_is_reported_once(errors_of):
    """billing -> support -> billing is one error, at the first queue's overflow target."""
    errors = errors_of({"queues.yaml": """
        queues:
          support:
            members: {skills: {technical: 1}}
            overflow: {after: 5m, to: billing}
          billing:
            members: {agents: [alice]}
            overflow: {after: 5m, to: support}
        """})
    assert errors == ["cfg/queues.yaml:7:27 queues.billing.overflow.to: overflow cycle: billing -> support -> billing"]


def test_ladder_step_with_zero_duration_is_reported(errors_of):
    """A step that lasts 0s is an impossible ladder."""
    errors = errors_of({"routing.yaml": """
        rules:
          - id: default
            queue: billing
            ladder:
              - {require: "billing >= 4", for: 0s}
        """})
    assert errors == ["cfg/routing.yaml:5:35 rules[0].ladder[0].for: must be a duration longer than 0s"]


def test_ladder_step_without_duration_before_the_last_is_reported(errors_of):
    """Only the last step may omit `for`."""
    errors = errors_of({"routing.yaml": """
        rules:
          - id: default
            queue: billing
            ladder:
              - {require: "billing >= 4"}
              - {require: "billing >= 2"}
        """})
    assert errors == ["cfg/routing.yaml:5:9 rules[0].ladder[0]: every step but the last needs 'for' "
                      "(how long it applies)"]


def test_template_syntax_error_is_reported_at_its_line(errors_of):
    """A Jinja2 syntax error is found at load time, at the template's line."""
    errors = errors_of({"templates/ack.en.txt": "Subject: hi\n\nHello {{ name }\n"})
    assert len(errors) == 1
    assert errors[0].startswith("cfg/templates/ack.en.txt:3:1: template syntax error: ")


def test_default_rule_is_required_and_must_be_last(errors_of):
    """No catch-all rule is reported at `rules`; a catch-all before others at that rule."""
    assert errors_of({"routing.yaml": "rules:\n  - id: a\n    match: {channel: voice}\n    queue: billing\n"}) == [
        "cfg/routing.yaml:1:1 rules: a default rule (one without match) is required as the last rule"]
    assert errors_of({"routing.yaml": "rules:\n  - id: a\n    queue: billing\n  - id: b\n"
                                      "    match: {channel: voice}\n    queue: support\n"}) == [
        "cfg/routing.yaml:2:5 rules[0]: a rule without match catches everything: it must be the last rule"]


def test_missing_file_is_reported_alone(errors_of):
    """A required file that is absent is reported without the noise of references into it."""
    assert errors_of({"skills.yaml": None}) == ["cfg/skills.yaml:1:1: file is missing"]


def test_missing_key_is_reported_at_its_mapping(errors_of):
    """A required key that is absent is reported at the entry that lacks it."""
    errors = errors_of({"agents.yaml": "agents:\n  alice:\n    languages: [en]\n"
                                       "  bob:\n    name: Bob\n    skills: {technical: 3}\n"})
    assert errors == ["cfg/agents.yaml:2:3 agents.alice: missing required key 'name'"]


def test_enabled_channel_with_placeholder_secret_is_reported(errors_of):
    """Turning AMI on while the secret is still CHANGE-ME is an error at the secret."""
    errors = errors_of({"channels.yaml": """
        telephony:
          ami:
            enabled: true
            secret: CHANGE-ME
        """})
    assert errors == ["cfg/channels.yaml:4:5 telephony.ami.secret: set 'secret' (not the CHANGE-ME placeholder) "
                      "before enabling this"]


def test_unknown_file_is_reported(errors_of):
    """A misspelt file name would be silently ignored; it is reported instead."""
    assert errors_of({"queue.yaml": "queues: {}\n"})[0].startswith(
        "cfg/queue.yaml:1:1: unknown configuration file; expected: ")


def test_check_config_prints_every_error_and_exits_1(config_dir):
    """check-config lists the errors one per line and a final count, exit status 1."""
    (config_dir / "server.yaml").write_text("server:\n  http_port: -1\n  timezone: Mars/Olympus\n")
    out = io.StringIO()
    assert check_config_main(config_dir, out) == 1
    assert out.getvalue().splitlines() == [
        "cfg/server.yaml:2:3 server.http_port: must be an integer from 0 to 65535",
        "cfg/server.yaml:3:3 server.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Paris)",
        "2 error(s) in cfg",
    ]


def test_missing_directory_is_one_error(tmp_path: Path):
    """check-config on a directory that does not exist says so and fails."""
    out = io.StringIO()
    assert check_config_main(tmp_path / "nowhere", out) == 1
    assert "configuration directory not found" in out.getvalue()


def test_ids_must_be_plain_lower_case_names(errors_of):
    """An agent login with capitals or spaces is reported at its key."""
    errors = errors_of({"agents.yaml": "agents:\n  Alice Smith:\n    name: Alice\n  bob:\n    name: Bob\n"
                                       "    skills: {technical: 3}\n"})
    assert errors[0] == "cfg/agents.yaml:2:3 agents.Alice Smith: must be an id (lower-case letters, digits, '_', '-')"


def test_queue_without_members_is_reported(errors_of):
    """A queue whose skill criteria no agent meets has no members."""
    errors = errors_of({"queues.yaml": """
        queues:
          support:
            members: {skills: {billing: 5, technical: 3}}
          billing:
            members: {agents: [alice]}
        """})
    assert errors == ["cfg/queues.yaml:2:3 queues.support: has no members "
                      "(list agents, skills, or the queue in agents' queues)"]


def test_crm_url_must_be_http(errors_of):
    """A CRM link template that is not an http(s) URL is reported at its key."""
    assert errors_of({"server.yaml": """
        server:
          crm_url: "javascript:alert(1)"
        """}) == ["cfg/server.yaml:2:3 server.crm_url: must be an http(s) URL such as "
                  "https://crm.example.com/customers/{id}"]


def test_email_reply_policy_and_cap_are_checked(errors_of):
    """An unknown closed-reply policy and a zero-length cap window are reported at their keys."""
    errors = errors_of({"channels.yaml": """
        email:
          closed_reply: ignore
          auto_reply_cap: {count: 5, per: 0s}
        """})
    assert any(e.startswith("cfg/channels.yaml:2:") and "email.closed_reply" in e and "reopen" in e for e in errors), errors
    assert any("email.auto_reply_cap.per" in e for e in errors), errors
