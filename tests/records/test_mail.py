"""MailStore on SQLite and PostgreSQL: idempotent storage, threading lookups, outbox, caps, bounces."""

from __future__ import annotations

import pytest
from twisted.internet import task

from callcenter.runtime.clock import Clock
from callcenter.records.errors import NotFound
from callcenter.records.mail import MailStore
from callcenter.records.mail_messages import NewAttachment, NewMessage
from callcenter.records.mail_outbox import Backoff, MailDeliveryFailed, NewOutgoing
from tests.records.helpers import T0


@pytest.fixture
def mail(database, store):
    """A MailStore sharing the record store's fake clock (``mail.fake_clock``), cap 2 per hour."""
    m = MailStore(database, Clock(store.fake_clock), auto_reply_cap=2, auto_reply_window=3600,
                  backoff=Backoff(first=60, longest=600, max_attempts=3))
    m.fake_clock = store.fake_clock
    return m


def inbound(mid: str | None = "a@x", body: str = "hello", **kw) -> NewMessage:
    """An inbound message whose content hash is derived from ``body``."""
    return NewMessage(raw=f"Message-ID: <{mid}>\n\n{body}".encode(), direction="inbound", message_id=mid,
                      content_hash=f"h-{body}", sender="c@example.com", subject="Hi", body_text=body, **kw)


def outgoing(mid: str, iid: int | None, kind: str = "reply", auto: bool = False, to: str = "c@example.com") -> NewOutgoing:
    """An outbound message to ``to``."""
    msg = NewMessage(raw=f"Message-ID: <{mid}>\n\nanswer".encode(), direction="outbound", message_id=mid,
                     content_hash=f"out-{mid}", sender="support@example.com", subject="Re: Hi")
    return NewOutgoing(msg, iid, kind, "support@example.com", (to,), counts_as_auto_reply=auto)


async def new_interaction(store) -> int:
    """An email interaction of a fresh customer."""
    customer = await store.find_or_create_customer("email", "c@example.com")
    return (await store.create_interaction(customer.id, "email", "inbound")).id


def test_storing_twice_keeps_one_row(run, mail):
    """A re-delivered message (same Message-ID and content hash) is stored once and reported as duplicate."""
    first = run(mail.store_message(inbound()))
    again = run(mail.store_message(inbound()))
    assert not first.duplicate and again.duplicate and again.id == first.id
    other = run(mail.store_message(inbound(body="changed")))
    assert other.id != first.id and not other.duplicate


def test_unparseable_is_kept_raw_and_flagged(run, mail):
    """An unparseable message keeps its exact bytes, the flag and the reason."""
    raw = b"\x00\xffgarbage"
    stored = run(mail.store_message(NewMessage(raw=raw, direction="inbound", message_id=None, content_hash="g",
                                               unparseable=True, reason="no header section")))
    assert stored.unparseable and stored.reason == "no header section"
    assert run(mail.raw(stored.id)) == raw


def test_attachments_keep_bytes_only_under_the_cap(run, mail):
    """Attachments are listed with size and hash; skipped ones have no bytes and say why."""
    kept = NewAttachment("a.txt", "text/plain", 3, "s1", b"abc")
    skipped = NewAttachment("big.pdf", "application/pdf", 9999, "s2", None, skipped="over the cap")
    stored = run(mail.store_message(inbound(attachments=(kept, skipped))))
    found = run(mail.attachments(stored.id))
    assert [(a.filename, a.stored, a.skipped) for a in found] == [("a.txt", True, None), ("big.pdf", False, "over the cap")]
    assert run(mail.attachment_content(found[0].id)) == b"abc"
    assert run(mail.attachment_content(found[1].id)) is None


def test_message_ids_sent_and_received_find_the_interaction(run, mail, store):
    """Both a received and a sent Message-ID lead to the interaction; the first known id wins."""
    iid = run(new_interaction(store))
    stored = run(mail.store_message(inbound("in@x")))
    run(mail.assign(stored.id, iid))
    run(mail.enqueue(outgoing("out@x", iid)))
    assert run(mail.interaction_for_message_ids(["unknown@x", "out@x"])) == iid
    assert run(mail.interaction_for_message_ids(["in@x"])) == iid
    assert run(mail.interaction_for_message_ids(["unknown@x"])) is None
    assert run(mail.interaction_for_reference(iid)) == iid
    assert run(mail.interaction_for_reference(iid + 1000)) is None
    assert [m.direction for m in run(mail.messages(iid))] == ["inbound", "outbound"]


def test_outbox_retries_with_backoff_then_gives_up_visibly(run, mail, store, database):
    """A failing item is retried after doubling delays, then left failed with a mail_failed log entry."""
    iid = run(new_interaction(store))
    failures = []
    database.bus.subscribe(MailDeliveryFailed, failures.append)
    item = run(mail.enqueue(outgoing("o1@x", iid)))
    assert [i.id for i in run(mail.claim_due())] == [item.id]
    assert run(mail.claim_due()) == []  # leased
    after = run(mail.mark_failed(item.id, "451 try later"))
    assert after.state == "pending" and (after.next_attempt_at - T0).total_seconds() == 60
    assert run(mail.claim_due()) == []
    mail.fake_clock.advance(60)
    run(mail.claim_due())
    after = run(mail.mark_failed(item.id, "451 try later"))
    assert (after.next_attempt_at - T0).total_seconds() == 60 + 120
    mail.fake_clock.advance(120)
    run(mail.claim_due())
    final = run(mail.mark_failed(item.id, "451 still"))
    assert (final.state, final.attempts, final.last_error) == ("failed", 3, "451 still")
    assert [f.outbox_id for f in failures] == [item.id]
    events = run(store.interaction_events(iid))
    assert events[-1].kind == "mail_failed" and events[-1].details["error"] == "451 still"
    assert [i.id for i in run(mail.outbox(iid, "failed"))] == [item.id]


def test_permanent_failure_and_success(run, mail, store):
    """A permanent failure gives up at once; a sent item is stamped and logged."""
    iid = run(new_interaction(store))
    bad = run(mail.enqueue(outgoing("o2@x", iid)))
    good = run(mail.enqueue(outgoing("o3@x", iid)))
    assert run(mail.mark_failed(bad.id, "550 no such user", permanent=True)).state == "failed"
    sent = run(mail.mark_sent(good.id))
    assert sent.state == "sent" and sent.sent_at == T0
    assert [e.kind for e in run(store.interaction_events(iid))][-2:] == ["mail_failed", "mail_sent"]


def test_a_lease_that_ran_out_is_claimed_again(run, mail):
    """An item claimed by a sender that never reported back is due again after the lease."""
    item = run(mail.enqueue(outgoing("o4@x", None)))
    run(mail.claim_due(lease=30))
    mail.fake_clock.advance(31)
    assert [i.id for i in run(mail.claim_due())] == [item.id]


def test_auto_reply_cap_holds_back_then_frees(run, mail, store):
    """At most the cap of automatic replies per address per window; the window slides."""
    iid = run(new_interaction(store))
    queued = []
    for n in range(3):
        stored = run(mail.store_message(inbound(f"m{n}@x", body=str(n))))
        queued.append(run(mail.assign(stored.id, iid, outgoing(f"ack{n}@x", iid, "auto_ack", auto=True))))
    assert [q is not None for q in queued] == [True, True, False]
    assert run(mail.auto_replies_sent("C@example.com")) == 2
    assert run(store.interaction_events(iid))[-1].kind == "mail_auto_reply_capped"
    mail.fake_clock.advance(3601)
    stored = run(mail.store_message(inbound("m9@x", body="9")))
    assert run(mail.assign(stored.id, iid, outgoing("ack9@x", iid, "auto_ack", auto=True))) is not None


def test_bouncing_addresses(run, mail):
    """A permanent failure marks the address (counting repeats); clearing forgets it."""
    assert run(mail.bouncing("x@example.com")) is None
    run(mail.mark_bouncing("X@example.com", "5.1.1", "user unknown"))
    mark = run(mail.mark_bouncing("x@example.com", "5.1.1", "user unknown"))
    assert (mark.count, mark.status) == (2, "5.1.1")
    assert run(mail.clear_bouncing("x@example.com")) is True
    assert run(mail.bouncing("x@example.com")) is None


def test_unknown_ids_raise_not_found(run, mail):
    """Reading or assigning unknown messages raises NotFound."""
    with pytest.raises(NotFound):
        run(mail.raw(999))
    with pytest.raises(NotFound):
        run(mail.mark_sent(999))


def _form_contact(run, store, mail, n: int, to: str, customer_id: int | None = None):
    """A form contact whose own write queues its confirmation ``conf{n}@x`` to ``to``."""
    from callcenter.records.admissions import ContactWrite

    iid, cid = run(store.ids.take("interactions"))[0], run(store.ids.take("customers"))[0]
    notice = mail.queue_in_write(lambda i: outgoing(f"conf{n}@x", i.id, "form_confirmation", auto=True, to=to))
    points = () if customer_id is not None else (("email", to.lower()),)
    return ContactWrite(interaction_id=iid, new_customer_id=cid, now=T0, points=points,
                        customer_id=customer_id, extra=notice,
                        fields={"channel": "webform", "direction": "inbound", "state": "queued", "queue": "support",
                                "subject": f"form {n}", "queued_at": T0, "payload": {}})


def _outbox_rows(run, database):
    from sqlalchemy import select

    from callcenter.records.schema import mail_messages, mail_outbox

    query = (select(mail_outbox.c.interaction_id, mail_outbox.c.recipients, mail_messages.c.message_id,
                    mail_messages.c.interaction_id.label("message_interaction"))
             .join(mail_messages, mail_messages.c.id == mail_outbox.c.message_id).order_by(mail_outbox.c.id))
    return run(database.read(lambda c: [tuple(r) for r in c.execute(query)]))


@pytest.mark.parametrize("with_a_bad_contact", [False, True], ids=["together", "one-fails"])
def test_confirmations_admitted_together_count_against_the_cap_in_order(run, mail, store, database,
                                                                          with_a_bad_contact):
    """Form contacts of one moment queue their confirmations in their own write, all in one go:
    the cap (2 per address) counts the ones queued earlier in the same commit, another address
    has its own count, each outbox row points at its own message and interaction. With a contact
    that fails (an unknown customer) the others are stored one by one, with the same outcome."""
    from twisted.internet.defer import DeferredList, ensureDeferred

    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from callcenter.records.schema import mail_auto_replies

    run(database.write(lambda c, _: c.execute(insert(mail_auto_replies), [
        {"address": "a@example.com", "at": T0 - timedelta(hours=2)}])))   # out of the window: pruned at the cap
    writes = [_form_contact(run, store, mail, n, to) for n, to in
              enumerate(["a@example.com", "a@example.com", "b@example.com", "A@example.com"])]
    if with_a_bad_contact:
        writes.insert(1, _form_contact(run, store, mail, 9, "a@example.com", customer_id=999_999))

    async def burst():
        return await DeferredList([ensureDeferred(store.admit_contact(w)) for w in writes], consumeErrors=True)

    results = run(burst())
    if with_a_bad_contact:
        assert not results[1][0] and results[1][1].check(NotFound)
        del results[1], writes[1]
    assert [ok for ok, _ in results] == [True] * 4
    assert [admitted.extra for _, admitted in results] == [True, True, True, False]
    iids = [w.interaction_id for w in writes]
    assert _outbox_rows(run, database) == [
        (iids[0], ["a@example.com"], "conf0@x", iids[0]),
        (iids[1], ["a@example.com"], "conf1@x", iids[1]),
        (iids[2], ["b@example.com"], "conf2@x", iids[2])]
    assert run(mail.auto_replies_sent("a@example.com")) == 2 and run(mail.auto_replies_sent("b@example.com")) == 1
    kept = select(func.count()).select_from(mail_auto_replies).where(mail_auto_replies.c.address == "a@example.com")
    assert run(database.read(lambda c: c.execute(kept).scalar_one())) == 2
    capped = [e for e in run(store.interaction_events(iids[3])) if e.kind == "mail_auto_reply_capped"]
    assert [e.details for e in capped] == [{"recipients": ["A@example.com"]}]
