"""Normalization of contact points, so one phone or address is stored and found one way.

Phones become E.164 (``+33142685300``) with the ``phonenumbers`` library; a number written
without a country code is read in the configured default region. Emails are stripped,
lower-cased and their domain IDNA-encoded (``ü.example`` -> ``xn--tda.example``), so the same
mailbox typed two ways is one contact point. Lower-casing the local part is a deliberate
simplification: practically every mail system treats it case-insensitively.
"""

from __future__ import annotations

from collections import OrderedDict

import re

import idna
import phonenumbers

from callcenter.records.errors import InvalidContact
from callcenter.records.model import CONTACT_KINDS

# Generous upper bounds: RFC 5321 limits a path to 256 octets and the local part to 64.
_MAX_EMAIL = 254
_MAX_LOCAL = 64
_MAX_PHONE_TEXT = 64
# Printable ASCII except the specials that cannot appear unquoted in a local part, and any
# non-ASCII character (RFC 6532 allows UTF-8 local parts; they are common in China).
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\u0080-\U0010ffff-]+$")
# A domain of plain ASCII letter-digit-hyphen labels (nearly every real one): IDNA with UTS 46
# mapping only lower-cases it, so it skips the library (8 us of the 9 a lookup's address costs).
# A "--" anywhere (an xn-- label, a hyphen in 3rd and 4th position) takes the full check.
_PLAIN_DOMAIN_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                              re.IGNORECASE | re.ASCII)
_MAX_DOMAIN = 253


def normalize_phone(text: object, default_region: str, field: str = "phone") -> str:
    """Return ``text`` as an E.164 number; raise :class:`InvalidContact` naming ``field`` if invalid.

    ``default_region`` is an ISO 3166 code (``"FR"``, ``"US"``) used when the number has no
    ``+`` country prefix.
    """
    if not isinstance(text, str):
        raise InvalidContact(field, "must be a string")
    text = text.strip()
    if not text or len(text) > _MAX_PHONE_TEXT:
        raise InvalidContact(field, "is not a phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidContact(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact(field, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(text: object, field: str = "email") -> str:
    """Return ``text`` stripped, lower-cased, with an IDNA (ASCII) domain.

    Raises :class:`InvalidContact` naming ``field`` for anything that is not a plain
    ``local@domain`` address (quoted local parts and address literals are refused). A
    domain without a dot (``root@localhost``) and a UTF-8 local part (RFC 6532) are valid:
    real mail comes from both.
    """
    if not isinstance(text, str):
        raise InvalidContact(field, "must be a string")
    text = text.strip()
    if not text or len(text) > _MAX_EMAIL * 4 or text.count("@") != 1:
        raise InvalidContact(field, "is not an email address")
    local, domain = text.split("@")
    if not local or len(local) > _MAX_LOCAL or not _LOCAL_RE.match(local):
        raise InvalidContact(field, "has an invalid part before @")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidContact(field, "has an invalid part before @")
    domain = domain.rstrip(".")
    if not domain:
        raise InvalidContact(field, "has an invalid domain")
    ascii_domain = ascii_domain_of(domain)
    if ascii_domain is None:
        raise InvalidContact(field, "has an invalid domain")
    address = f"{local.lower()}@{ascii_domain.lower()}"
    if len(address) > _MAX_EMAIL:
        raise InvalidContact(field, "is too long")
    return address


def ascii_domain_of(domain: str) -> str | None:
    """``domain`` as IDNA 2008 with UTS 46 mapping would encode it (lower-cased ASCII, ``xn--``
    labels for the others), or None if that encoding refuses it."""
    if len(domain) <= _MAX_DOMAIN and "--" not in domain and _PLAIN_DOMAIN_RE.fullmatch(domain):
        return domain.lower()
    try:
        # uts46 maps case and width variants the way browsers and mail clients do.
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        return None


def normalize_contact(kind: str, text: object, default_region: str, field: str | None = None) -> str:
    """Normalize ``text`` as a contact point of ``kind`` (``"phone"`` or ``"email"``).

    Raises :class:`InvalidContact` for bad values and for an unknown kind (field ``kind``).
    """
    if isinstance(text, str) and kind in CONTACT_KINDS:
        # Customers call and write again: the same raw text is parsed once. Bad values are
        # not kept (an exception is never cached), and raise naming this call's field.
        known = _normalized(kind, text, default_region)
        if known is not None:
            return known
    if kind == "phone":
        value = normalize_phone(text, default_region, field or "phone")
    elif kind == "email":
        value = normalize_email(text, field or "email")
    else:
        raise InvalidContact("kind", f"must be one of {', '.join(CONTACT_KINDS)}")
    _remember(kind, text, default_region, value)
    return value


_SEEN: "OrderedDict[tuple[str, str, str], str]" = OrderedDict()
_SEEN_LIMIT = 50_000


def _normalized(kind: str, text: str, region: str) -> str | None:
    return _SEEN.get((kind, text, region))


def _remember(kind: str, text: object, region: str, value: str) -> None:
    if isinstance(text, str) and len(text) <= 400:
        _SEEN[(kind, text, region)] = value
        if len(_SEEN) > _SEEN_LIMIT:
            _SEEN.popitem(last=False)
