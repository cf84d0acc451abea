"""A minimal Asterisk side of a FastAGI session for end-to-end tests.

It sends an AGI environment, answers every command with ``200 result=0`` (or ``HANGUP``
when told to hang up), records the commands and returns them when the server closes.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineOnlyReceiver


class AgiPeer(LineOnlyReceiver):
    """Plays the PBX: ``env`` lines first, then ``200 result=0`` to each command."""

    delimiter = b"\n"

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.commands: list[str] = []
        self.finished: Deferred = Deferred()
        self.first_command: Deferred = Deferred()
        self.variables: dict[str, str] = {}

    def connectionMade(self) -> None:  # noqa: N802 - twisted API
        for key, value in self.env.items():
            self.sendLine(f"{key}: {value}".encode())
        self.sendLine(b"")

    def lineReceived(self, line: bytes) -> None:  # noqa: N802 - twisted API
        text = line.decode()
        self.commands.append(text)
        if text.startswith("SET VARIABLE "):
            name, _, value = text[len("SET VARIABLE "):].partition(" ")
            self.variables[name] = value.strip('"')
        if not self.first_command.called:
            self.first_command.callback(text)
        self.sendLine(b"200 result=0")

    def hang_up(self) -> None:
        """The caller hangs up: Asterisk says HANGUP and closes."""
        self.sendLine(b"HANGUP")
        self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:  # noqa: N802 - twisted API
        if not self.finished.called:
            self.finished.callback(self.commands)


def agi_env(script: str, uniqueid: str, caller: str, dnid: str, args: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment Asterisk sends for ``AGI(agi://host/<script>,<args>)``."""
    env = {
        "agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": f"PJSIP/trunk-{uniqueid}", "agi_language": "en", "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid, "agi_version": "20.5.0", "agi_callerid": caller, "agi_calleridname": "unknown",
        "agi_callingpres": "0", "agi_callingani2": "0", "agi_callington": "0", "agi_callingtns": "0",
        "agi_dnid": dnid, "agi_rdnis": "unknown", "agi_context": "from-trunk", "agi_extension": dnid,
        "agi_priority": "2", "agi_enhanced": "0.0", "agi_accountcode": "", "agi_threadid": "140000000000000",
    }
    for n, arg in enumerate(args, start=1):
        env[f"agi_arg_{n}"] = arg
    return env


async def connect_agi(reactor, port: int, env: dict[str, str]) -> AgiPeer:
    """Open a FastAGI session to 127.0.0.1:``port`` with ``env``."""
    peer = AgiPeer(env)
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), peer)
    return peer
