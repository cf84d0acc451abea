"""``callcenter-agi``: a classic (stdin/stdout) AGI script that forwards the call to the FastAGI server.

For PBXs where FastAGI cannot be used, the dialplan runs this program instead::

    exten => _X.,n,AGI(callcenter-agi,inbound,support,${IVR_DIGITS})

The first argument is the FastAGI script (``inbound`` or ``dialresult``), the rest are its
arguments. The program reads Asterisk's environment with pyst2's :class:`asterisk.agi.AGI`,
connects to the server (``CALLCENTER_FASTAGI``, default ``127.0.0.1:4573``), sends the same
environment a FastAGI request would carry, and then relays lines: each command from the server
goes to Asterisk on stdout, each answer from stdin goes back to the server. The server therefore
runs exactly the logic it runs for FastAGI; this program holds no call logic.

Asterisk signals a hang-up to a classic AGI with SIGHUP (pyst2 records it): the relay then closes
the socket, which the server takes as the caller hanging up.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import IO, Callable, Mapping

DEFAULT_SERVER = "127.0.0.1:4573"


class ForwardingError(Exception):
    """The FastAGI server could not be reached, or the arguments name no script."""


def fastagi_environment(env: Mapping[str, str], host: str, port: int) -> bytes:
    """The FastAGI environment for a classic AGI ``env``: the first ``agi_arg`` becomes the script.

    Raises :class:`ForwardingError` when there is no first argument. Values holding CR/LF/NUL
    are dropped (they cannot be written on one line).
    """
    script = env.get("agi_arg_1", "")
    if not script:
        raise ForwardingError("callcenter-agi needs the FastAGI script as its first argument")
    out: list[tuple[str, str]] = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", f"agi://{host}:{port}/{script}"),
    ]
    args: list[tuple[int, str]] = []
    for key, value in env.items():
        if key.startswith("agi_arg_") and key[8:].isdigit():
            args.append((int(key[8:]), value))
        elif key not in ("agi_network", "agi_network_script", "agi_request"):
            out.append((key, value))
    out += [(f"agi_arg_{n - 1}", value) for n, value in sorted(args) if n > 1]
    lines = [f"{key}: {value}\n" for key, value in out if not any(ch in key + value for ch in "\r\n\x00")]
    return ("".join(lines) + "\n").encode("utf-8")


def relay(server: socket.socket, agi_in: IO[str], agi_out: IO[str], hung_up: Callable[[], bool] = lambda: False) -> None:
    """Copy each command line from ``server`` to ``agi_out`` and each answer line from ``agi_in``
    back, until the server closes the session, stdin ends, or ``hung_up()`` turns true.
    ``HANGUP`` notices are forwarded without waiting for a command."""
    reader = server.makefile("rb")
    try:
        while not hung_up():
            command = reader.readline()
            if not command:
                return
            agi_out.write(command.decode("utf-8", "surrogateescape"))
            agi_out.flush()
            while True:
                answer = agi_in.readline()
                if not answer or hung_up():
                    return
                server.sendall(answer.encode("utf-8", "surrogateescape"))
                if answer.strip() != "HANGUP" and not answer.startswith("520-"):
                    break
    finally:
        reader.close()


def _server_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``callcenter-agi``; returns the process exit status (0 on a normal end)."""
    from asterisk.agi import AGI

    agi = AGI()
    host, port = _server_address(os.environ.get("CALLCENTER_FASTAGI", DEFAULT_SERVER))
    try:
        env = fastagi_environment(agi.env, host, port)
        server = socket.create_connection((host, port), timeout=10)
    except (ForwardingError, OSError) as exc:
        sys.stderr.write(f"callcenter-agi: {exc}\n")
        return 1
    server.settimeout(None)
    try:
        server.sendall(env)
        relay(server, agi.stdin, agi.stdout, lambda: bool(getattr(agi, "_got_sighup", False)))
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
