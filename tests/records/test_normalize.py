"""Normalization of phones and emails into their one stored form."""

from __future__ import annotations

import pytest
import idna
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.records.errors import InvalidContact
from callcenter.records.normalize import ascii_domain_of, normalize_contact, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("+33 1 42 68 53 00", "US", "+33142685300"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("030 901820", "DE", "+4930901820"),
        ("0033142685300", "FR", "+33142685300"),
        ("  +1 650-253-0000  ", "FR", "+16502530000"),
    ],
)
def test_valid_phones_become_e164(raw, region, expected):
    """A valid number in national or international form becomes E.164 in the given region."""
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "12", "abc", "+1 202 555", "01 42 68 53 00 00 00", "+999 123456", "9" * 80])
def test_invalid_phones_raise_naming_the_field(raw):
    """Numbers that are empty, too short, too long or in no country raise InvalidContact."""
    with pytest.raises(InvalidContact) as caught:
        normalize_phone(raw, "FR", field="caller")
    assert caught.value.field == "caller"


def test_phone_must_be_text():
    """A non-string phone is refused rather than coerced."""
    with pytest.raises(InvalidContact, match="string"):
        normalize_phone(33142685300, "FR")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("jane+tag@example.org", "jane+tag@example.org"),
        ("kunde@Bücher.example", "kunde@xn--bcher-kva.example"),
        ("kunde@xn--bcher-kva.example", "kunde@xn--bcher-kva.example"),
        ("a@mail.example.", "a@mail.example"),
        ("root@localhost", "root@localhost"),
        ("a@b", "a@b"),
        ("用户@例子.中国", "用户@xn--fsqu00a.xn--fiqs8s"),
        ("José@Example.es", "josé@example.es"),
    ],
)
def test_emails_are_stripped_lowered_and_idna_encoded(raw, expected):
    """Case, surrounding space and Unicode domains map to one form; dotless domains and UTF-8 local parts are valid."""
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "plain", "a@", "a@.", "@example.com", "a@@example.com", "a b@example.com", ".a@example.com",
     "a..b@example.com", "a@exa mple.com", "x" * 65 + "@example.com", "a@-bad-.example"],
)
def test_invalid_emails_raise(raw):
    """Addresses without one @, with bad local parts or bad domains raise InvalidContact."""
    with pytest.raises(InvalidContact) as caught:
        normalize_email(raw)
    assert caught.value.field == "email"


def test_unknown_contact_kind_names_the_kind_field():
    """A contact kind other than phone or email is refused on the 'kind' field."""
    with pytest.raises(InvalidContact) as caught:
        normalize_contact("fax", "123", "FR")
    assert caught.value.field == "kind"


@given(st.emails())
def test_email_normalization_is_idempotent(raw):
    """Normalizing an already normalized address gives it back unchanged."""
    try:
        once = normalize_email(raw)
    except InvalidContact:
        return
    assert normalize_email(once) == once
    assert once == once.strip().lower()


@given(st.sampled_from(["FR", "US", "GB", "DE", "JP"]), st.integers(min_value=10**7, max_value=10**11))
def test_phone_normalization_is_idempotent(region, digits):
    """An E.164 result reads back as itself in any default region."""
    try:
        once = normalize_phone(str(digits), region)
    except InvalidContact:
        return
    assert once.startswith("+")
    assert normalize_phone(once, "US") == once


def _idna_or_none(domain):
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        return None


@settings(max_examples=3000)
@given(st.one_of(
    st.text(alphabet="abcXYZ019-.", min_size=1, max_size=80),
    st.text(alphabet="aZ9-.\u00fc\u212a\u00df_ ", min_size=1, max_size=20),
    st.lists(st.text(alphabet="aB3-", min_size=1, max_size=70), min_size=1, max_size=6).map(".".join),
    st.lists(st.sampled_from(["xn--tda", "XN--bcher-kva", "ab--c", "a" * 63, "a" * 64, "-a", "a-", "1"]),
             min_size=1, max_size=5).map(".".join),
))
def test_plain_domains_encode_as_the_idna_library_does(domain):
    """The fast path for plain ASCII domains gives exactly what IDNA with UTS 46 gives, refusals included."""
    assert ascii_domain_of(domain) == _idna_or_none(domain)


def test_long_plain_domains_are_refused_as_idna_refuses_them():
    """A plain domain past 253 characters is refused, one at the limit accepted, as the library does."""
    at_limit = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(at_limit) == 253
    assert ascii_domain_of(at_limit) == at_limit == _idna_or_none(at_limit)
    assert ascii_domain_of(at_limit + "c") is None
    assert _idna_or_none(at_limit + "c") is None
