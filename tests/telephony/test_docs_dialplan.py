"""The dialplan shipped in docs/telephony.md is the one the live recordings were made with, and it
matches what the FastAGI server reads and sets."""

from __future__ import annotations

import re
from pathlib import Path

import asterisk.config

from channels.telephony.fastagi import DEFAULT_PORT, DIALPLAN_VARIABLES, SCRIPTS
from tests.telephony.transcripts import fixtures_dir

DOC = Path(__file__).resolve().parents[2] / "docs" / "telephony.md"
LAB = fixtures_dir() / "lab" / "pbx" / "extensions.conf"


def _dialplan() -> str:
    blocks = re.findall(r"```asterisk\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if "[callcenter-inbound]" in b)


def test_the_recorded_lab_runs_the_documented_dialplan_verbatim():
    """The lab Asterisk of the recordings ran the documented block, CALLCENTER being 127.0.0.1."""
    lab = LAB.read_text(encoding="utf-8")
    between = lab.split("; --- documented dialplan: begin ---\n", 1)[1].split("; --- documented dialplan: end ---", 1)[0]
    assert between == _dialplan().replace("CALLCENTER:", "127.0.0.1:")


def test_dialplan_parses_as_asterisk_config(tmp_path):
    """pyst2's Asterisk config parser reads the example: its four contexts, every line an exten."""
    path = tmp_path / "extensions.conf"
    path.write_text(_dialplan(), encoding="utf-8")
    config = asterisk.config.Config(str(path))
    assert [c.name for c in config.categories] == ["from-pstn", "callcenter-inbound", "callcenter-answered",
                                                   "callcenter-hangup"]
    assert {item.name for c in config.categories for item in c.items} == {"exten", "same"}


def test_every_agi_url_is_served_on_the_default_port():
    """Each AGI() URL in the example uses port 4573 and a script the server serves; every script is used."""
    urls = re.findall(r"AGI\(agi://CALLCENTER:(\d+)/(\w+)", _dialplan())
    assert {path for _, path in urls} == set(SCRIPTS)
    assert {int(port) for port, _ in urls} == {DEFAULT_PORT}


def test_dialplan_reads_every_variable_the_server_sets():
    """Every channel variable the server sets for the dialplan is read there as ${NAME}."""
    plan = _dialplan()
    assert [v for v in DIALPLAN_VARIABLES if "${" + v + "}" not in plan] == []


def test_the_answer_and_the_hang_up_reach_the_server():
    """Dial() carries the U() subroutine and the caller channel gets the hangup handler: without
    them an answered call is never marked answered nor ended."""
    plan = _dialplan()
    assert "Dial(${CC_AGENT_ENDPOINT},${CC_DIAL_TIMEOUT},U(callcenter-answered^${CC_INTERACTION_ID}))" in plan
    assert "Set(CHANNEL(hangup_handler_push)=callcenter-hangup,s,1)" in plan
