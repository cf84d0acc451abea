"""Signed values the forms hand out: the timestamp token of a shown form, and references.

A form page carries a token ``v1.<issued ms>.<mac>``: the instant it was shown, signed with
HMAC-SHA256 over the form name and that instant. A submission must bring a token of its own
form that is at least the form's ``min_fill_time`` old (people take a while; scripts do not)
and at most ``max_age`` old. Bots that post without loading the form, or replay a form from
long ago, are refused without any state kept on the server.

The thank-you page's ``ref`` parameter is ``<reference>.<mac>``, signed over the form name
and the reference, so nobody can have the server show a reference it did not hand to them.

The secret is injected (32 random bytes or more); the instant is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

VERSION = "v1"
MIN_SECRET = 16


def _mac(secret: bytes, *parts: str) -> str:
    digest = hmac.new(secret, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FormSigner:
    """Issues and checks form tokens and signed references with one secret.

    Raises ``ValueError`` for a secret shorter than 16 bytes.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError("the form secret must be at least 16 bytes")
        self._secret = secret

    def issue(self, form: str, now: float) -> str:
        """A token for ``form`` shown at ``now`` (epoch seconds)."""
        issued = str(int(now * 1000))
        return f"{VERSION}.{issued}.{_mac(self._secret, 'token', form, issued)}"

    def check(self, form: str, token: str | None, now: float, min_fill_time: float, max_age: float) -> str | None:
        """None if ``token`` is a good token of ``form`` at ``now``; else the message code:
        ``token_missing``, ``token_invalid`` (malformed, another form's, forged, or from the
        future), ``too_fast`` (younger than ``min_fill_time``) or ``expired`` (older than
        ``max_age``)."""
        if not token:
            return "token_missing"
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION or not parts[1].isascii() or not parts[1].isdigit() \
                or len(parts[1]) > 16 or not parts[2].isascii():
            return "token_invalid"
        if not hmac.compare_digest(parts[2], _mac(self._secret, "token", form, parts[1])):
            return "token_invalid"
        age = now - int(parts[1]) / 1000
        if age < -1.0:  # a second of slack for clocks of several web nodes
            return "token_invalid"
        if age < min_fill_time:
            return "too_fast"
        if age > max_age:
            return "expired"
        return None

    def sign_reference(self, form: str, reference: str) -> str:
        """The ``ref`` parameter of the thank-you page for ``reference`` of ``form``."""
        return f"{reference}.{_mac(self._secret, 'ref', form, reference)}"

    def open_reference(self, form: str, signed: str | None) -> str | None:
        """The reference inside a ``ref`` parameter of ``form``; None if it is not one we signed."""
        if not signed or len(signed) > 200:
            return None
        reference, _, mac = signed.rpartition(".")
        if not reference or not mac.isascii() or not hmac.compare_digest(mac, _mac(self._secret, "ref", form, reference)):
            return None
        return reference
