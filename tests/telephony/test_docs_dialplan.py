"""The dialplan shipped in docs/telephony.md matches what the FastAGI server reads and sets."""

from __future__ import annotations

import re
from pathlib import Path

import asterisk.config
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from channels.telephony.callhandling import DialAgent
from channels.telephony.fastagi import DEFAULT_PORT, DIALPLAN_VARIABLES, SCRIPTS, FastAgiFactory
from tests.telephony.fakes import ScriptedCallHandling

DOC = Path(__file__).resolve().parents[2] / "docs" / "telephony.md"


def _dialplan() -> str:
    blocks = re.findall(r"```asterisk\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if "[from-pstn]" in b)


def test_the_documented_agi_line_is_shipped():
    """The docs carry the exact FastAGI line of the dialplan example."""
    assert "exten => _X.,n,AGI(agi://CALLCENTER:4573/inbound)\n" in _dialplan()


def test_dialplan_parses_as_asterisk_config(tmp_path):
    """pyst2's Asterisk config parser reads the example: one context, every line an exten."""
    path = tmp_path / "extensions.conf"
    path.write_text(_dialplan(), encoding="utf-8")
    config = asterisk.config.Config(str(path))
    (category,) = config.categories
    assert category.name == "from-pstn"
    assert {item.name for item in category.items} == {"exten"}
    assert len(category.items) == _dialplan().count("exten =>")


def test_every_agi_url_is_served_on_the_default_port():
    """Each AGI() URL in the example uses port 4573 and a script the server serves."""
    urls = re.findall(r"AGI\(agi://CALLCENTER:(\d+)/(\w+)", _dialplan())
    assert {path for _, path in urls} == set(SCRIPTS)
    assert {int(port) for port, _ in urls} == {DEFAULT_PORT}


def test_dialplan_reads_every_variable_the_server_sets():
    """Every channel variable the server sets for the dialplan is read there as ${NAME}."""
    plan = _dialplan()
    assert [v for v in DIALPLAN_VARIABLES if "${" + v + "}" not in plan] == []


def test_documented_request_without_arguments_reads_ivr_digits_from_the_channel():
    """The bare /inbound request gets the IVR digits through GET VARIABLE and dials as told."""
    app = ScriptedCallHandling([DialAgent("PJSIP/1001", 20, "i-1")])
    proto = FastAgiFactory(app, Clock()).buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(
        b"agi_network: yes\nagi_network_script: inbound\nagi_request: agi://CALLCENTER:4573/inbound\n"
        b"agi_callerid: +4930123456\nagi_uniqueid: 17.1\nagi_dnid: 4930999\n\n"
    )
    proto.dataReceived(b"200 result=1 (2)\n" + b"200 result=1\n" * 3)
    assert transport.value() == (
        b"GET VARIABLE IVR_DIGITS\nSET VARIABLE CC_AGENT_ENDPOINT \"PJSIP/1001\"\n"
        b"SET VARIABLE CC_DIAL_TIMEOUT 20\nSET VARIABLE CC_INTERACTION_ID i-1\n"
    )
    (call,) = app.arrived
    assert (call.ivr_digits, call.queue_hint, call.dialed_number) == ("2", None, "4930999")
