"""A private Dovecot IMAP server for the tests, with its own config, users and maildirs.

:class:`PrivateDovecot` writes a configuration under a fresh temporary directory (plain
IMAP on a free loopback port, a passwd-file with one user, maildirs in the directory),
starts ``dovecot -F`` and waits until it answers; :meth:`PrivateDovecot.stop` stops it and
removes the directory. As an ordinary user every Dovecot process runs as that user. As root
(CI), Dovecot refuses to run its login processes or mail sessions as root, so those use the
``dovenull`` and ``dovecot`` accounts the Debian package creates, and the directory is made
traversable for them.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "support", "imap-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateDovecot:
    """One Dovecot instance; ``port`` is its IMAP port on 127.0.0.1."""

    def __init__(self) -> None:
        if shutil.which("dovecot") is None:
            raise RuntimeError("dovecot is not installed (scripts/system-deps installs dovecot-imapd)")
        self.dir = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
        self.port = _free_port()
        self._process: subprocess.Popen | None = None

    def _accounts(self) -> tuple[str, str, str, int, int]:
        """(login user, internal user, internal group, mail uid, mail gid)."""
        if os.getuid() != 0:
            me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
            return me, me, group, os.getuid(), os.getgid()
        mail = pwd.getpwnam("dovecot")
        return "dovenull", "root", "root", mail.pw_uid, mail.pw_gid

    def start(self) -> None:
        """Write the configuration, start Dovecot, and wait until it greets."""
        login_user, internal_user, internal_group, uid, gid = self._accounts()
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir()
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        if os.getuid() == 0:
            os.chmod(self.dir, 0o755)
            for sub in ("mail", "home"):
                os.chown(self.dir / sub, uid, gid)
        (self.dir / "dovecot.conf").write_text(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%u
first_valid_uid = {min(uid, 100)}
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
""")
        self._process = subprocess.Popen(["dovecot", "-F", "-c", str(self.dir / "dovecot.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {self._process.stderr.read().decode()}") from None
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on port {self.port}")

    def client(self) -> imaplib.IMAP4:
        """A logged-in imaplib client with INBOX selected."""
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(USER, PASSWORD)
        conn.select("INBOX")
        return conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver ``raw`` into ``folder`` with IMAP APPEND."""
        conn = self.client()
        try:
            typ, data = conn.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, str]:
        """UID -> the FLAGS text of every message in ``folder``."""
        conn = self.client()
        try:
            conn.select(folder)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            out = {}
            for line in data:
                if isinstance(line, bytes) and b"UID" in line:
                    text = line.decode()
                    uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                    out[uid] = text.split("FLAGS (")[1].split(")")[0]
            return out
        finally:
            conn.logout()

    def stop(self) -> None:
        """Stop Dovecot (waiting for it to exit) and remove its directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._process is not None and self._process.stderr:
            self._process.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
