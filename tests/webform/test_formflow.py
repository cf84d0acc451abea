"""FormFlow through the real intake pipeline on a SQLite record: identity without email, bad
contacts, failing routing and mail, and content-addressed attachments that a failed submission
must not take away from others."""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import pytest
from sqlalchemy import text
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.intake.webform import FormFlow, store_blob
from callcenter.records.store import RecordStore
from callcenter.settings import load_settings
from channels.webform.submission import Attachment, FormSubmission, SubmissionRejected
from tests.conftest import run_on_reactor
from tests.records.helpers import T0
from tests.support.intake import RecordingIntake
from tests.webform.conftest import CONFIG, _reactor

PDF = b"%PDF-1.4 shared\n"


def submission(**changes) -> FormSubmission:
    """A contact-form submission as the channel would hand it over."""
    base = dict(form="contact", fields={"name": "Lin", "message": "Hi"}, email="lin@example.com",
                phone="+12125550123", name="Lin", attributes={}, attachments=(), client_ip="192.0.2.1",
                language="zh")
    return FormSubmission(**{**base, **changes})


@pytest.fixture
def store(sqlite_database) -> RecordStore:
    """A RecordStore (region US) on a fresh SQLite record, its clock at T0."""
    clock = task.Clock()
    clock.advance(T0.timestamp())
    return RecordStore(sqlite_database, Clock(clock), "US")


@pytest.fixture
def flow_of(store, tmp_path):
    """Builds a FormFlow on ``store`` through a real intake pipeline, with the given mail callback."""
    settings = load_settings(CONFIG)

    def build(send_confirmation, intake: RecordingIntake | None = None) -> FormFlow:
        intake = intake or RecordingIntake(store, settings, store_clock(store))
        return FormFlow(admit=intake.admit, forms=settings.webform.forms, templates=settings.templates,
                        data_dir=tmp_path / "var", reactor=_reactor(), send_confirmation=send_confirmation,
                        new_reference=iter(["REF1", "REF2", "REF3"]).__next__)
    return build


def store_clock(store: RecordStore) -> Clock:
    """The clock ``store`` was built with."""
    return store._clock  # noqa: SLF001 - the fixture's own store


async def no_mail(to_address: str, subject: str, body: str, interaction) -> None:
    """A send_confirmation that does nothing."""


def test_fake_matches_the_documented_callback_signature():
    """The recording mail callback takes exactly the parameters FormFlow passes."""
    assert list(inspect.signature(no_mail).parameters) == ["to_address", "subject", "body", "interaction"]


def test_phone_only_and_anonymous_submissions(flow_of, store):
    """Without an email the phone identifies the customer; with neither, a provisional named customer."""
    flow = flow_of(no_mail)
    first = run_on_reactor(flow.submit_form(submission(email=None)))
    second = run_on_reactor(flow.submit_form(submission(email=None, phone=None, name="Mei")))
    one = run_on_reactor(store.get_interaction(first.interaction_id))
    two = run_on_reactor(store.get_interaction(second.interaction_id))
    by_phone = run_on_reactor(store.find_customer_by_phone("+12125550123"))
    assert one.customer_id == by_phone.id
    anonymous = run_on_reactor(store.get_customer(two.customer_id))
    assert (anonymous.display_name, anonymous.provisional, anonymous.contact_points) == ("Mei", True, ())
    assert (first.reference, second.reference) == ("REF1", "REF2")


def test_contact_the_record_refuses_is_a_field_error(flow_of):
    """An email the record cannot normalize is rejected naming the form's email field."""
    flow = flow_of(no_mail)
    with pytest.raises(SubmissionRejected) as caught:
        run_on_reactor(flow.submit_form(submission(email="not an address")))
    assert [(e.field, e.code) for e in caught.value.errors] == [("email", "invalid_email")]


def test_failing_routing_and_mail_do_not_undo_the_submission(flow_of, store):
    """A routing core that fails and a mail that fails are logged; the receipt is returned and the
    interaction kept, queued, for the next rebuild to put in line."""
    calls = []
    intake = RecordingIntake(store, load_settings(CONFIG), store_clock(store))

    def broken_submit(spec, now):
        calls.append("routing")
        raise RuntimeError("router down")

    intake.switchboard.router.submit = broken_submit

    async def broken_mail(to_address: str, subject: str, body: str, interaction) -> None:
        calls.append(("mail", to_address, subject))
        raise OSError("outbox full")

    flow = flow_of(broken_mail, intake)
    receipt = run_on_reactor(flow.submit_form(submission()))
    stored = run_on_reactor(store.get_interaction(receipt.interaction_id))
    assert (stored.payload["reference"], stored.state) == ("REF1", "queued")
    assert calls == ["routing", ("mail", "lin@example.com", "联系我们：我们已收到您的请求 [#REF1]")]


def test_failed_submission_keeps_a_blob_another_submission_stored(flow_of, sqlite_database, tmp_path):
    """A blob already stored is shared: a later failed submission of the same bytes leaves it."""
    flow = flow_of(no_mail)
    with_pdf = submission(attachments=(Attachment("attachment", "a.pdf", "application/pdf", PDF),))
    run_on_reactor(flow.submit_form(with_pdf))
    blob = tmp_path / "var" / "attachments" / hashlib.sha256(PDF).hexdigest()
    assert blob.read_bytes() == PDF
    run_on_reactor(sqlite_database.write(lambda conn, uow: conn.execute(text("DROP TABLE interaction_events"))))
    with pytest.raises(Exception):
        run_on_reactor(flow.submit_form(with_pdf))
    assert blob.exists()


def test_store_blob_is_content_addressed(tmp_path: Path):
    """The same bytes twice are one file; only the first write reports it new; no temp files stay."""
    assert store_blob(tmp_path, b"abc") == (hashlib.sha256(b"abc").hexdigest(), True)
    assert store_blob(tmp_path, b"abc") == (hashlib.sha256(b"abc").hexdigest(), False)
    assert [p.name for p in tmp_path.iterdir()] == [hashlib.sha256(b"abc").hexdigest()]
