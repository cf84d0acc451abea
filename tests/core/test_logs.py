"""Log lines: JSON for log shippers, text for a person at a terminal, and which one is chosen."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess

import pytest
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from callcenter.runtime.logs import chosen_format, event_as_json, event_as_text
from tests.web.test_first_run import ROOT, read_until, serve_command, stop

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR|CRITICAL) \S+  ")


def test_event_rendered_with_fields():
    """A log event becomes one JSON object with time, level, namespace, message and its fields."""
    line = event_as_json({
        "log_time": 0.0, "log_level": LogLevel.warn, "log_namespace": "callcenter.x",
        "log_format": "agent {agent} paused", "agent": "a1", "reason": ("no", "answer"),
    })
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00.000+00:00", "level": "warn", "ns": "callcenter.x",
        "msg": "agent a1 paused", "agent": "a1", "reason": ["no", "answer"],
    }


def test_unserializable_field_is_repr():
    """A field that JSON cannot hold is written as its repr, never dropped or crashing."""
    record = json.loads(event_as_json({"log_time": 0.0, "log_format": "x", "obj": object}))
    assert record["obj"] == repr(object)


def test_text_line_has_time_level_component_message_and_the_other_fields():
    """A text line reads time (UTC, ms), level, component without ``callcenter.``, the message,
    then the fields the message does not show as key=value, quoted when they hold spaces."""
    line = event_as_text({
        "log_time": 1772442900.25, "log_level": LogLevel.warn, "log_namespace": "callcenter.web.pages",
        "log_format": "agent {agent} paused", "agent": "a1", "reason": "no answer", "tries": 2, "queue": None,
    })
    assert line == ('2026-03-02 09:15:00.250Z WARN  web.pages  agent a1 paused  '
                    'reason="no answer" tries=2 queue=null')


def test_twisted_legacy_messages_read_as_twisted():
    """A message from Twisted's legacy log API names its component ``twisted``."""
    line = event_as_text({"log_time": 0.0, "log_level": LogLevel.info, "log_namespace": "log_legacy",
                          "log_format": "Site starting on {port}", "port": 8080})
    assert line == "1970-01-01 00:00:00.000Z INFO  twisted  Site starting on 8080"


def test_text_line_keeps_one_line_per_event_and_indents_a_traceback():
    """A message with line breaks stays on one line; a failure adds its error and an indented traceback."""
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        failure = Failure()
    lines = event_as_text({"log_time": 0.0, "log_level": LogLevel.critical, "log_namespace": "switchboard",
                           "log_format": "write failed\nfor {iid}", "iid": 7, "log_failure": failure}).splitlines()
    assert lines[0] == '1970-01-01 00:00:00.000Z CRITICAL switchboard  write failed\\nfor 7  error="disk full"'
    assert len(lines) > 2 and all(row.startswith("    ") for row in lines[1:])
    assert lines[-1].strip() == "builtins.RuntimeError: disk full"


class Tty(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always true."""
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere():
    """``auto`` gives text on a terminal and JSON on anything else; an explicit format wins;
    an unknown one is refused by name."""
    assert [chosen_format(f, Tty()) for f in ("auto", "json", "text")] == ["text", "json", "text"]
    assert [chosen_format(f, io.StringIO()) for f in ("auto", "json", "text")] == ["json", "json", "text"]
    with pytest.raises(ValueError, match="'xml'"):
        chosen_format("xml", io.StringIO())


def serve_on_a_terminal(command: list[str]) -> list[str]:
    """Run ``command`` on a pseudo-terminal until it serves; the lines it wrote up to then."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        out = read_until(leader, b"callcenter is serving at").decode("utf-8", "replace")
    finally:
        stop(process)
        os.close(leader)
    return [line for line in out.replace("\r", "").splitlines() if line.strip()]


def test_the_server_logs_text_on_a_terminal(tmp_path):
    """``callcenter serve`` on a terminal writes its log as text lines, not JSON."""
    lines = serve_on_a_terminal(serve_command(tmp_path / "var"))
    logged = [line for line in lines if TEXT_LINE.match(line)]
    assert any(" serve  callcenter serving on 127.0.0.1:" in line for line in logged), lines
    assert not any(line.startswith("{") for line in lines)


def test_log_format_json_on_a_terminal_writes_json_lines(tmp_path):
    """``--log-format json`` keeps JSON lines even on a terminal (the welcome text aside)."""
    lines = serve_on_a_terminal(serve_command(tmp_path / "var") + ["--log-format", "json"])
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["msg"].startswith("callcenter serving on") for r in records)
    assert not any(TEXT_LINE.match(line) for line in lines)
