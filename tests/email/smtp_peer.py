"""A real SMTP server for the outbound tests: aiosmtpd with STARTTLS and AUTH on loopback.

:func:`make_certificate` makes a throwaway self-signed certificate for ``localhost`` and
``127.0.0.1`` with the ``openssl`` command; :class:`SmtpPeer` runs aiosmtpd (in its own
thread and event loop, as a remote relay would be) requiring STARTTLS before AUTH, and
records every message it accepted. ``answer_rcpt`` makes it reply to RCPT with a given
code instead (``"550 5.1.1 no such user"``).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "contact@example.com", "s3cret-relay"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed (cert, key) pair valid for localhost and 127.0.0.1, made by openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One accepted message: envelope and exact content."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None


class _Handler:
    def __init__(self, peer: "SmtpPeer") -> None:
        self.peer = peer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.peer.answer_rcpt:
            return self.peer.answer_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = self.peer.logins[-1] if session.authenticated and self.peer.logins else None
        self.peer.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                           login))
        return "250 2.0.0 queued"


class SmtpPeer:
    """aiosmtpd on a free loopback port with STARTTLS required and AUTH PLAIN/LOGIN."""

    def __init__(self, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self.port = free_port()
        self.received: list[Received] = []
        self.answer_rcpt: str | None = None
        self.logins: list[str] = []
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True,
            authenticator=self._authenticate, auth_require_tls=True, auth_required=True,
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
            and auth_data.password.decode() == PASSWORD
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        """Start serving (returns once the server answers)."""
        self._controller.start()

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()


def client_context(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only ``cert`` and checks the host name."""
    return ssl.create_default_context(cafile=str(cert))
