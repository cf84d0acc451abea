"""FormFlow through the real intake pipeline on a SQLite record: identity without email, bad
contacts, failing routing and mail, and content-addressed attachments that a failed submission
must not take away from others."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from pathlib import Path

import jinja2
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
from callcenter.intake.email import MailFlow
from tests.webform.conftest import CONFIG, RecordingConfirmations, _reactor

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

    def build(confirmation, intake: RecordingIntake | None = None) -> FormFlow:
        intake = intake or RecordingIntake(store, settings, store_clock(store))
        return FormFlow(admit=intake.admit, forms=settings.webform.forms, templates=settings.templates,
                        data_dir=tmp_path / "var", reactor=_reactor(), confirmation=confirmation,
                        new_reference=iter(["REF1", "REF2", "REF3"]).__next__)
    return build


def store_clock(store: RecordStore) -> Clock:
    """The clock ``store`` was built with."""
    return store._clock  # noqa: SLF001 - the fixture's own store


no_mail = None  # FormFlow without confirmations


def test_recording_confirmations_match_the_mail_flow():
    """The tests' confirmation fake has the signatures of the MailFlow the server passes to FormFlow."""
    for name in ("notice_in_write", "wake_outbox"):
        assert inspect.signature(getattr(RecordingConfirmations, name)) == inspect.signature(getattr(MailFlow, name))


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


def test_failing_routing_and_confirmation_template_do_not_undo_the_submission(store, tmp_path):
    """A routing core that fails and a confirmation template that fails to render are logged; the
    receipt is returned and the interaction kept, queued (for the next rebuild to put in line),
    without a confirmation."""
    calls = []
    settings = load_settings(CONFIG)
    intake = RecordingIntake(store, settings, store_clock(store))

    def broken_submit(spec, now):
        calls.append("routing")
        raise RuntimeError("router down")

    intake.switchboard.router.submit = broken_submit
    templates = settings.templates
    broken = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string("Subject: {{ no_such_field }}")
    templates = dataclasses.replace(templates, templates={**templates.templates, ("form_confirmation", "zh", "txt"): broken})
    confirmations = RecordingConfirmations()
    flow = FormFlow(admit=intake.admit, forms=settings.webform.forms, templates=templates, data_dir=tmp_path / "var",
                    reactor=_reactor(), confirmation=confirmations, new_reference=iter(["REF1"]).__next__)
    receipt = run_on_reactor(flow.submit_form(submission()))
    stored = run_on_reactor(store.get_interaction(receipt.interaction_id))
    assert (stored.payload["reference"], stored.state) == ("REF1", "queued")
    assert calls == ["routing"] and confirmations.queued == [] and confirmations.woken == 0


def test_confirmation_is_queued_in_the_submissions_write(flow_of, store, sqlite_database):
    """The confirmation is part of the submission's one write: queued with it (and the sender
    woken after the commit), and when it cannot be queued nothing of the submission is stored."""
    confirmations = RecordingConfirmations()
    receipt = run_on_reactor(flow_of(confirmations).submit_form(submission()))
    assert confirmations.queued == [("lin@example.com", "联系我们：我们已收到您的请求 [#REF1]",
                                     confirmations.queued[0][2], receipt.interaction_id)]
    assert confirmations.woken == 1

    class FullOutbox(RecordingConfirmations):
        """Confirmations whose queueing fails inside the write."""

        def notice_in_write(self, to, subject, body, kind):
            """A unit of work that fails."""
            def queue(conn, uow, interaction):
                raise OSError("outbox full")
            return queue

    count = lambda conn: conn.execute(text("SELECT count(*) FROM interactions")).scalar_one()  # noqa: E731
    before = run_on_reactor(sqlite_database.read(count))
    with pytest.raises(OSError):
        run_on_reactor(flow_of(FullOutbox()).submit_form(submission(email="other@example.com")))
    assert run_on_reactor(sqlite_database.read(count)) == before
    assert run_on_reactor(store.find_customer_by_email("other@example.com")) is None


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
