"""Users of the web interface and their API tokens.

:class:`UserStore` owns the ``users`` and ``api_tokens`` tables (and creates ``agents`` rows
for configured agents). Roles are ``agent``, ``supervisor`` and ``admin``; an agent user is
linked to the ``agents`` row of the same login, which is how a session knows whose work it
may see.

Passwords are hashed with :mod:`callcenter.auth.passwords` (scrypt). Hashing and checking
run on the database's pool threads, never on the reactor. :meth:`UserStore.verify_password`
spends the same work for an unknown login, a disabled user or a user without a password as
for a real check, so timing does not tell which logins exist, and re-hashes a password made
with a weaker cost than the store's.

API tokens are random secrets shown once by :meth:`UserStore.create_token`; only their
SHA-256 is stored. Setting a password or disabling a user deletes that user's browser sessions
from the record in the same transaction (API tokens survive a password change; a disabled
user's tokens are refused). :meth:`UserStore.still_signed_in` tells which sessions and tokens
still sign someone in, so a server notices such changes made by another process. Everything returned is a frozen dataclass; errors are those of
:mod:`callcenter.records.errors` (NotFound, InvalidInput, Conflict), raised with nothing
changed. The ``callcenter user`` command that drives this store from the shell is
:mod:`callcenter.user_command`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from callcenter.auth import passwords
from callcenter.auth.policy import check_password
from callcenter.auth.sessions import ROLES
from callcenter.runtime.clock import Clock
from callcenter.records.errors import Conflict, InvalidInput, NotFound
from callcenter.records.schema import agents, api_tokens, users, web_sessions

TOKEN_PREFIX = "cc_"
# last_used_at is advisory: refreshing it at most this often keeps token checks read-only.
LAST_USED_GRANULARITY = timedelta(seconds=60)
MAX_LOGIN = 100


@dataclass(frozen=True)
class User:
    """A user as stored; ``agent`` is the linked agent's login (None for a user who is no agent)."""

    id: int
    login: str
    name: str
    role: str
    agent: str | None
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class ApiToken:
    """An API token's record (never its secret)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SignIn:
    """One way ``user_id`` is signed in: ``kind`` ``session`` (``key`` is the session token's
    SHA-256, as in ``web_sessions``) or ``token`` (``key`` is :func:`token_hash` of the secret)."""

    user_id: int
    kind: str
    key: str


@dataclass(frozen=True)
class SyncResult:
    """What :meth:`UserStore.sync_from_config` changed, as sorted login lists."""

    agents_added: tuple[str, ...]
    agents_renamed: tuple[str, ...]
    users_added: tuple[str, ...]
    users_linked: tuple[str, ...]


def token_hash(secret: str) -> str:
    """The stored form of an API token: SHA-256 of its UTF-8 bytes, lower-case hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_login(login: str) -> str:
    if not isinstance(login, str) or not login or len(login) > MAX_LOGIN or not login.isprintable() or login != login.strip():
        raise InvalidInput("login", f"must be 1 to {MAX_LOGIN} printable characters without surrounding spaces")
    return login


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    return role


_USER_COLUMNS = (users.c.id, users.c.login, users.c.name, users.c.role, agents.c.login.label("agent"),
                 users.c.disabled, users.c.password_hash, users.c.created_at, users.c.updated_at)


def _user_query():
    return select(*_USER_COLUMNS).select_from(users.outerjoin(agents, users.c.agent_id == agents.c.id))


def _user(row: Any) -> User:
    m = row._mapping
    return User(m["id"], m["login"], m["name"], m["role"], m["agent"], bool(m["disabled"]),
                m["password_hash"] is not None, m["created_at"], m["updated_at"])


def _find(conn: Connection, login: str | None = None, user_id: int | None = None) -> Any:
    query = _user_query()
    query = query.where(users.c.login == login) if login is not None else query.where(users.c.id == user_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("user", login if login is not None else user_id)
    return row


def _token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(m["id"], m["user_id"], m["name"], m["created_at"], m["last_used_at"], m["revoked_at"])


class UserStore:
    """Users, passwords and API tokens on a :class:`~callcenter.records.database.Database`.

    ``clock`` stamps every change; ``cost`` is the scrypt cost new hashes get (and below
    which stored hashes are upgraded at the next successful login); ``token_source(n)``
    returns a random URL-safe string from ``n`` bytes (injected so tests are repeatable).
    """

    def __init__(self, db: Any, clock: Clock, cost: passwords.ScryptCost = passwords.DEFAULT_COST,
                 token_source: Callable[[int], str] = secrets.token_urlsafe) -> None:
        self._db = db
        self._clock = clock
        self._cost = cost
        self._token_source = token_source
        # A hash of a random password: checking against it costs what a real check costs.
        self._decoy = passwords.hash_password(token_source(16), cost)

    # --- users ---

    async def create(self, login: str, role: str, name: str = "", password: str | None = None) -> User:
        """Create a user; an ``agent`` user is linked to the agents row of the same login (created if missing).

        InvalidInput for a bad login, role or password; Conflict when the login is taken.
        """
        _check_login(login)
        _check_role(role)
        hashed = await self._hashed(password, login) if password is not None else None
        return await self._db.write(self._create, login, role, name, hashed, self._clock.utcnow())

    @staticmethod
    def _create(conn: Connection, _uow: Any, login: str, role: str, name: str, hashed: str | None,
                now: datetime) -> User:
        if conn.execute(select(users.c.id).where(users.c.login == login)).first() is not None:
            raise Conflict(f"a user with login {login!r} exists")
        agent_id = _agent_id(conn, login, name, now) if role == "agent" else None
        conn.execute(insert(users).values(login=login, name=name, role=role, agent_id=agent_id, created_at=now,
                                          password_hash=hashed, disabled=False, updated_at=now))
        return _user(_find(conn, login=login))

    async def get(self, login: str) -> User:
        """The user with ``login``; NotFound otherwise."""
        return await self._db.read(lambda conn: _user(_find(conn, login=login)))

    async def get_by_id(self, user_id: int) -> User:
        """The user with id ``user_id``; NotFound otherwise."""
        return await self._db.read(lambda conn: _user(_find(conn, user_id=user_id)))

    async def list(self) -> list[User]:
        """Every user, ordered by login."""
        return await self._db.read(lambda conn: [_user(r) for r in conn.execute(_user_query().order_by(users.c.login))])

    async def set_password(self, login: str, password: str) -> User:
        """Replace ``login``'s password and end their browser sessions; NotFound for an unknown
        login, InvalidInput for one the password policy refuses (:mod:`callcenter.auth.policy`)."""
        return await self._db.write(self._update, login, {"password_hash": await self._hashed(password, login)}, self._clock.utcnow(),
                                    True)

    async def set_disabled(self, login: str, disabled: bool = True) -> User:
        """Disable (or re-enable) ``login``: a disabled user can neither log in nor use a token, and
        their browser sessions end. NotFound."""
        return await self._db.write(self._update, login, {"disabled": disabled}, self._clock.utcnow(), disabled)

    @staticmethod
    def _update(conn: Connection, _uow: Any, login: str, values: dict, now: datetime, end_sessions: bool) -> User:
        user_id = _find(conn, login=login)._mapping["id"]
        conn.execute(update(users).where(users.c.login == login).values(updated_at=now, **values))
        if end_sessions:
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
        return _user(_find(conn, login=login))

    async def still_signed_in(self, sign_ins: Iterable[SignIn], sessions_in_record: bool = True) -> set[SignIn]:
        """The members of ``sign_ins`` that still hold, in one read: the user exists and is enabled,
        a token is unrevoked and a session is in the record (not checked with
        ``sessions_in_record=False``, for sessions kept only in memory)."""
        wanted = list(sign_ins)
        if not wanted:
            return set()

        def run(conn: Connection) -> set[SignIn]:
            user_ids = {s.user_id for s in wanted}
            enabled = set(conn.execute(select(users.c.id).where(users.c.id.in_(user_ids),
                                                                users.c.disabled.is_(False))).scalars())
            tokens = {s.key for s in wanted if s.kind == "token"}
            live_tokens = {tuple(r) for r in conn.execute(select(api_tokens.c.user_id, api_tokens.c.token_hash).where(
                api_tokens.c.token_hash.in_(tokens), api_tokens.c.revoked_at.is_(None)))} if tokens else set()
            sessions = {s.key for s in wanted if s.kind == "session"}
            live_sessions = {tuple(r) for r in conn.execute(select(web_sessions.c.user_id, web_sessions.c.token_hash).where(
                web_sessions.c.token_hash.in_(sessions)))} if sessions and sessions_in_record else set()
            held = set()
            for s in wanted:
                if s.user_id not in enabled:
                    continue
                if s.kind == "token" and (s.user_id, s.key) in live_tokens:
                    held.add(s)
                elif s.kind == "session" and (not sessions_in_record or (s.user_id, s.key) in live_sessions):
                    held.add(s)
            return held
        return await self._db.read(run)

    async def _hashed(self, password: str, login: str) -> str:
        # The policy is checked at once; scrypt runs on a pool thread (a read holds no writer).
        try:
            check_password(password, login)
        except ValueError as e:
            raise InvalidInput("password", str(e)) from None
        return await self._db.read(lambda _conn: self._hash(password))

    def _hash(self, password: str) -> str:
        try:
            return passwords.hash_password(password, self._cost)
        except ValueError as e:
            raise InvalidInput("password", str(e)) from None

    async def verify_password(self, login: str, password: str) -> User | None:
        """The user when ``password`` is ``login``'s and the user is enabled; None otherwise.

        Unknown, disabled and password-less users cost the same scrypt work as a real check.
        A hash weaker than the store's cost is replaced after a successful check.
        """
        user, stored, ok, fresh = await self._db.read(self._check, login, password)
        if not ok:
            return None
        if fresh is not None:
            await self._db.write(self._rehash, user.id, stored, fresh, self._clock.utcnow())
        return user

    def _check(self, conn: Connection, login: str, password: str) -> tuple[User | None, str | None, bool, str | None]:
        row = conn.execute(_user_query().where(users.c.login == login)).first() if len(login) <= MAX_LOGIN else None
        stored = row._mapping["password_hash"] if row is not None else None
        try:
            matches = passwords.verify_password(password, stored or self._decoy)
        except passwords.MalformedHash:
            # A damaged hash refuses the login, after the same work as any other check.
            passwords.verify_password(password, self._decoy)
            matches = False
        ok = matches and stored is not None and not row._mapping["disabled"]
        fresh = None
        if ok and passwords.needs_rehash(stored, self._cost):
            fresh = passwords.hash_password(password, self._cost)
        return (_user(row) if row is not None else None), stored, ok, fresh

    @staticmethod
    def _rehash(conn: Connection, _uow: Any, user_id: int, old: str, new: str, now: datetime) -> None:
        # Only if nobody changed the password meanwhile.
        conn.execute(update(users).where(users.c.id == user_id, users.c.password_hash == old)
                     .values(password_hash=new, updated_at=now))

    # --- API tokens ---

    async def create_token(self, login: str, name: str) -> tuple[ApiToken, str]:
        """A new token for ``login`` named ``name``: its record and the secret, which is never shown again.

        NotFound for an unknown login; InvalidInput for an empty or overlong name.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise InvalidInput("name", "must be 1 to 100 characters")
        secret = TOKEN_PREFIX + self._token_source(32)
        token = await self._db.write(self._create_token, login, name, token_hash(secret), self._clock.utcnow())
        return token, secret

    @staticmethod
    def _create_token(conn: Connection, _uow: Any, login: str, name: str, hashed: str, now: datetime) -> ApiToken:
        user_id = _find(conn, login=login)._mapping["id"]
        new_id = conn.execute(insert(api_tokens).values(user_id=user_id, name=name, token_hash=hashed,
                                                        created_at=now)).inserted_primary_key[0]
        return ApiToken(new_id, user_id, name, now, None, None)

    async def authenticate_token(self, secret: str) -> User | None:
        """The enabled user owning the unrevoked token ``secret``, or None; refreshes its last use."""
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        found = await self._db.read(self._token_owner, token_hash(secret))
        if found is None:
            return None
        user, token = found
        now = self._clock.utcnow()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
            await self._db.write(self._touch, token.id, now)
        return user

    @staticmethod
    def _token_owner(conn: Connection, hashed: str) -> tuple[User, ApiToken] | None:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == hashed,
                                                    api_tokens.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        user = _user(_find(conn, user_id=row._mapping["user_id"]))
        return None if user.disabled else (user, _token(row))

    @staticmethod
    def _touch(conn: Connection, _uow: Any, token_id: int, now: datetime) -> None:
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))

    async def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke a token (idempotent: the first revocation time is kept); NotFound for an unknown id."""
        return await self._db.write(self._revoke, token_id, self._clock.utcnow())

    @staticmethod
    def _revoke(conn: Connection, _uow: Any, token_id: int, now: datetime) -> ApiToken:
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                     .values(revoked_at=now))
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound("api token", token_id)
        return _token(row)

    async def tokens(self, login: str) -> list[ApiToken]:
        """Every token of ``login`` (revoked ones included), oldest first; NotFound for an unknown login."""
        def run(conn: Connection) -> list[ApiToken]:
            user_id = _find(conn, login=login)._mapping["id"]
            rows = conn.execute(select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))
            return [_token(r) for r in rows]
        return await self._db.read(run)

    # --- configuration ---

    async def sync_from_config(self, configured: Iterable[tuple[str, str]]) -> SyncResult:
        """Upsert the configured agents, given as (login, name) pairs, and give each an agent user.

        Missing agents rows are created and names updated; an agent without a user gets an
        ``agent`` user with no password (an admin sets one); an existing user of the same login
        without an agent link is linked. Nothing is deleted: agents removed from the
        configuration keep their history and their users. InvalidInput for a bad login.
        """
        pairs = sorted({_check_login(login): name for login, name in configured}.items())
        return await self._db.write(self._sync, pairs, self._clock.utcnow())

    @staticmethod
    def _sync(conn: Connection, _uow: Any, pairs: list[tuple[str, str]], now: datetime) -> SyncResult:
        existing = {r.login: (r.id, r.name) for r in conn.execute(select(agents.c.id, agents.c.login, agents.c.name))}
        user_rows = {r.login: r for r in conn.execute(select(users.c.id, users.c.login, users.c.agent_id))}
        added, renamed, users_added, linked = [], [], [], []
        for login, name in pairs:
            if login not in existing:
                added.append(login)
            elif existing[login][1] != name:
                conn.execute(update(agents).where(agents.c.id == existing[login][0]).values(name=name))
                renamed.append(login)
            agent_id = _agent_id(conn, login, name, now)
            row = user_rows.get(login)
            if row is None:
                conn.execute(insert(users).values(login=login, name=name, role="agent", agent_id=agent_id,
                                                  created_at=now, password_hash=None, disabled=False, updated_at=now))
                users_added.append(login)
            elif row.agent_id is None:
                conn.execute(update(users).where(users.c.id == row.id).values(agent_id=agent_id, updated_at=now))
                linked.append(login)
        return SyncResult(tuple(added), tuple(renamed), tuple(users_added), tuple(linked))

    async def count(self) -> int:
        """How many users exist."""
        return await self._db.read(lambda conn: conn.execute(select(func.count()).select_from(users)).scalar_one())


def _agent_id(conn: Connection, login: str, name: str, now: datetime) -> int:
    """The id of the agents row for ``login``, inserting it (with ``name``) when missing."""
    found = conn.execute(select(agents.c.id).where(agents.c.login == login)).first()
    if found is not None:
        return found.id
    return conn.execute(insert(agents).values(login=login, name=name, created_at=now)).inserted_primary_key[0]

