"""The user store: users, roles, passwords, API tokens and the agents from configuration."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from callcenter.auth.passwords import ScryptCost, hash_password
from callcenter.runtime.clock import Clock
from callcenter.records.errors import Conflict, InvalidInput, NotFound
from callcenter.records.schema import agents, api_tokens, users as users_table
from callcenter.records.users import LAST_USED_GRANULARITY, UserStore, token_hash
from tests.authn.conftest import CHEAP, counting_tokens


def test_agent_user_is_linked_to_an_agents_row(run, users, database):
    """Creating an agent user creates (or reuses) the agents row of the same login and links it."""
    alice = run(users.create("alice", "agent", name="Alice", password="s3cret-passphrase"))
    assert (alice.login, alice.role, alice.agent, alice.has_password, alice.disabled) == ("alice", "agent", "alice", True, False)
    rows = run(database.read(lambda c: c.execute(select(agents.c.login, agents.c.name)).all()))
    assert [tuple(r) for r in rows] == [("alice", "Alice")]
    boss = run(users.create("boss", "supervisor"))
    assert boss.agent is None and not boss.has_password


def test_bad_input_and_duplicates_are_refused(run, users):
    """Unknown roles, bad logins, empty passwords and taken logins raise typed errors."""
    with pytest.raises(InvalidInput):
        run(users.create("x", "root"))
    with pytest.raises(InvalidInput):
        run(users.create(" x", "agent"))
    with pytest.raises(InvalidInput):
        run(users.create("x", "agent", password=""))
    run(users.create("x", "admin"))
    with pytest.raises(Conflict):
        run(users.create("x", "agent"))
    with pytest.raises(NotFound):
        run(users.get("nobody"))


def test_lookup_by_login_and_id_and_list(run, users):
    """Users are found by login and by id; the list is ordered by login."""
    b = run(users.create("bob", "agent"))
    run(users.create("ann", "supervisor"))
    assert run(users.get_by_id(b.id)) == run(users.get("bob"))
    assert [u.login for u in run(users.list())] == ["ann", "bob"]
    assert run(users.count()) == 2


def test_password_verification(run, users):
    """Right password -> the user; wrong, unknown, password-less or disabled -> None."""
    run(users.create("alice", "agent", password="right-passphrase"))
    run(users.create("nopw", "agent"))
    assert run(users.verify_password("alice", "right-passphrase")).login == "alice"
    assert run(users.verify_password("alice", "wrong")) is None
    assert run(users.verify_password("ghost", "right-passphrase")) is None
    assert run(users.verify_password("nopw", "")) is None
    run(users.set_disabled("alice"))
    assert run(users.verify_password("alice", "right-passphrase")) is None
    run(users.set_disabled("alice", False))
    run(users.set_password("alice", "new-passphrase"))
    assert run(users.verify_password("alice", "right-passphrase")) is None
    assert run(users.verify_password("alice", "new-passphrase")) is not None


def test_weak_hash_is_upgraded_on_login(run, users, database):
    """A hash made with a lower cost than the store's is replaced after a successful check."""
    run(users.create("alice", "agent"))
    weak = hash_password("pw", ScryptCost(n=2 ** 2, r=8, p=1))
    run(database.write(lambda c, u: c.execute(update(users_table).values(password_hash=weak))))
    assert run(users.verify_password("alice", "pw")) is not None
    stored = run(database.read(lambda c: c.execute(select(users_table.c.password_hash)).scalar_one()))
    assert stored != weak and stored.startswith(f"scrypt${CHEAP.n}$")
    assert run(users.verify_password("alice", "pw")) is not None


def test_malformed_stored_hash_refuses_login(run, users, database):
    """A damaged password hash refuses the login instead of raising."""
    run(users.create("alice", "agent", password="pw-long-passphrase"))
    run(database.write(lambda c, u: c.execute(update(users_table).values(password_hash="garbage"))))
    assert run(users.verify_password("alice", "pw-long-passphrase")) is None


def test_tokens_authenticate_until_revoked(run, users, fake_clock, database):
    """A token's secret is shown once, stored as SHA-256, works until revoked or its user is disabled."""
    run(users.create("crm", "admin"))
    token, secret = run(users.create_token("crm", "crm sync"))
    assert secret.startswith("cc_")
    stored = run(database.read(lambda c: c.execute(select(api_tokens.c.token_hash)).scalar_one()))
    assert stored == token_hash(secret) and secret not in stored
    assert run(users.authenticate_token(secret)).login == "crm"
    assert run(users.authenticate_token(secret + "x")) is None
    assert run(users.authenticate_token("not-a-token")) is None
    run(users.set_disabled("crm"))
    assert run(users.authenticate_token(secret)) is None
    run(users.set_disabled("crm", False))
    revoked = run(users.revoke_token(token.id))
    assert revoked.revoked_at is not None
    assert run(users.authenticate_token(secret)) is None
    with pytest.raises(NotFound):
        run(users.revoke_token(999))


def test_token_last_use_is_refreshed_coarsely(run, users, fake_clock):
    """last_used_at is set on first use and refreshed only after the granularity has passed."""
    run(users.create("crm", "admin"))
    _, secret = run(users.create_token("crm", "t"))
    run(users.authenticate_token(secret))
    first = run(users.tokens("crm"))[0].last_used_at
    assert first is not None
    fake_clock.advance(1)
    run(users.authenticate_token(secret))
    assert run(users.tokens("crm"))[0].last_used_at == first
    fake_clock.advance(LAST_USED_GRANULARITY.total_seconds())
    run(users.authenticate_token(secret))
    assert run(users.tokens("crm"))[0].last_used_at > first


def test_sync_from_config_upserts_agents_and_users(run, users, database):
    """Configured agents get agents rows and password-less agent users; names follow the config."""
    run(users.create("bob", "supervisor"))
    first = run(users.sync_from_config([("alice", "Alice"), ("bob", "Bob")]))
    assert (first.agents_added, first.users_added, first.users_linked) == (("alice", "bob"), ("alice",), ("bob",))
    alice = run(users.get("alice"))
    assert (alice.role, alice.agent, alice.has_password) == ("agent", "alice", False)
    again = run(users.sync_from_config([("alice", "Alice Liddell"), ("bob", "Bob")]))
    assert (again.agents_added, again.agents_renamed, again.users_added, again.users_linked) == ((), ("alice",), (), ())
    assert run(users.get("bob")).role == "supervisor"
    names = run(database.read(lambda c: dict(c.execute(select(agents.c.login, agents.c.name)).all())))
    assert names == {"alice": "Alice Liddell", "bob": "Bob"}


def test_token_source_is_injected(database, run, fake_clock):
    """Two stores with the same token source produce the same secrets (repeatable tests)."""
    a = UserStore(database, Clock(fake_clock), cost=CHEAP, token_source=counting_tokens())
    run(a.create("u", "admin"))
    _, secret = run(a.create_token("u", "t"))
    assert secret == "cc_tok0001" + "x" * 32


def test_password_change_and_disable_end_sessions_and_still_signed_in_says_so(run, users, database):
    """A password change or a disable deletes the user's sessions in the same write; still_signed_in
    then keeps only the sign-ins that hold (enabled user, session in the record, unrevoked token)."""
    from callcenter.auth.sessions import Session
    from callcenter.records.sessions import SessionRecords
    from callcenter.records.users import SignIn

    alice = run(users.create("alice", "agent", password="first passphrase"))
    bob = run(users.create("bob", "agent", password="first passphrase"))
    records = SessionRecords(database)
    for user, key in ((alice, "a" * 64), (bob, "b" * 64)):
        run(records.save(key, Session("", "csrf", str(user.id), "agent", 1.0e9, 1.0e9)))
    token, secret = run(users.create_token("bob", "crm"))
    a_session, b_session = SignIn(alice.id, "session", "a" * 64), SignIn(bob.id, "session", "b" * 64)
    b_token, forged = SignIn(bob.id, "token", token_hash(secret)), SignIn(alice.id, "token", token_hash(secret))
    everything = [a_session, b_session, b_token, forged]
    assert run(users.still_signed_in(everything)) == {a_session, b_session, b_token}
    run(users.set_password("alice", "second passphrase"))
    assert run(users.still_signed_in(everything)) == {b_session, b_token}
    run(users.set_disabled("bob"))
    assert run(users.still_signed_in(everything)) == set()
    run(users.set_disabled("bob", False))
    assert run(users.still_signed_in(everything)) == {b_token}
    run(users.revoke_token(token.id))
    assert run(users.still_signed_in(everything)) == set()
    assert [key for key, _ in run(records.live())] == []


@pytest.mark.parametrize("password, rule", [
    ("short1!", "at least 10 characters"),
    ("aaaaaaaaaaaa", "one character repeated"),
    ("qwertyuiop", "common passwords"),
    ("Password123!", "common passwords"),
    ("CallCenter123", "common passwords"),
    ("alice-the-agent", None),
    ("alicealice", None),
])
def test_the_password_policy_refuses_short_repeated_and_common_passwords(run, users, password, rule):
    """create refuses a password under 10 characters, one repeated character or a common one, naming the rule."""
    if rule is None:
        assert run(users.create("alice", "agent", password=password)).has_password
        return
    with pytest.raises(InvalidInput) as refused:
        run(users.create("alice", "agent", password=password))
    assert refused.value.field == "password" and rule in str(refused.value)
    with pytest.raises(NotFound):
        run(users.get("alice"))


def test_a_password_equal_to_the_login_is_refused_and_nothing_changes(run, users):
    """set_password refuses the login itself (with digits appended too) and keeps the old password."""
    run(users.create("frederick", "agent", password="first passphrase"))
    for weak in ("frederick", "Frederick2024"):
        with pytest.raises(InvalidInput):
            run(users.set_password("frederick", weak))
    assert run(users.verify_password("frederick", "first passphrase")) is not None


def test_the_shipped_common_password_list_is_read_lower_case():
    """The list file loads, has its entries lower-cased, and skips comments."""
    from callcenter.auth.policy import MIN_LENGTH, common_passwords

    listed = common_passwords()
    assert "qwertyuiop" in listed and all(e == e.lower() and not e.startswith("#") for e in listed)
    assert MIN_LENGTH == 10
