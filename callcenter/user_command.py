"""The ``callcenter user`` command: add users, set passwords, disable and enable them, issue
and revoke API tokens, list users and sync the configured agents, from the shell.

It loads the configuration, checks that the database's schema is current, and runs one
:class:`~callcenter.records.users.UserStore` call on a reactor of its own. Passwords are read
from standard input (``--password-stdin``) or asked twice on the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from callcenter.records.users import UserStore
from callcenter.runtime.clock import Clock


def user_main(args: Any, stdin: Any, stdout: Any, stderr: Any) -> int:
    """``callcenter user add|passwd|disable|enable|token|revoke|list|sync``; returns the exit status.

    ``args`` comes from :func:`callcenter.cli.build_parser`. Passwords are read from ``stdin``
    (first line) with ``--password-stdin``, else asked twice on the terminal. Exit 1 with a
    message for a bad config, a database not at the current schema, or a refused change.
    """
    from callcenter.serve import database_url_for
    from callcenter.records.errors import RecordError
    from callcenter.records.migrate import schema_state
    from callcenter.settings import ConfigErrors, load_settings

    overrides = {k: v for k, v in (("data_dir", args.data_dir), ("database_url", args.database_url)) if v}
    try:
        settings = load_settings(args.config_dir or Path("config"), overrides)
    except ConfigErrors as errors:
        for error in errors.errors:
            print(str(error), file=stderr)
        return 1
    url = database_url_for(settings, args.database_url)
    if schema_state(url).status != "current":
        print("the database schema is not current: run `callcenter migrate` first", file=stderr)
        return 1
    password = None
    if args.user_command in ("add", "passwd") and not getattr(args, "no_password", False):
        password = _read_password(args, stdin, stderr)
        if password is None:
            return 1
    try:
        return _with_store(url, lambda store: _user_action(store, args, password, settings, stdout))
    except RecordError as e:
        print(f"error: {e}", file=stderr)
        return 1


def _read_password(args: Any, stdin: Any, stderr: Any) -> str | None:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    import getpass

    if not stdin.isatty():
        print("no terminal to ask the password on: use --password-stdin", file=stderr)
        return None
    first, second = getpass.getpass("password: "), getpass.getpass("again: ")
    if first != second:
        print("the passwords differ", file=stderr)
        return None
    return first


def _with_store(url: str, action: Callable[[UserStore], Any]) -> int:
    """Run ``action(store)`` (a coroutine) on a reactor with a started database; its result is the status."""
    from callcenter.runtime.reactor import install_asyncio_reactor

    install_asyncio_reactor()
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred

    from callcenter.runtime.events import EventBus
    from callcenter.records.database import Database

    db = Database(url, reactor, EventBus())
    db.start()
    outcome: list = []

    async def run() -> int:
        try:
            return await action(UserStore(db, Clock(reactor)))
        finally:
            await db.stop()

    d = ensureDeferred(run())
    d.addBoth(outcome.append)
    if not outcome:
        d.addBoth(lambda _: reactor.stop())
        reactor.run(installSignalHandlers=False)
    if hasattr(outcome[0], "raiseException"):
        outcome[0].raiseException()
    return outcome[0]


async def _user_action(store: UserStore, args: Any, password: str | None, settings: Any, out: Any) -> int:
    command = args.user_command
    if command == "add":
        user = await store.create(args.login, args.role, name=args.name or "", password=password)
        print(f"created {user.role} {user.login}" + (f" (agent {user.agent})" if user.agent else ""), file=out)
    elif command == "passwd":
        await store.set_password(args.login, password)
        print(f"password of {args.login} changed", file=out)
    elif command in ("disable", "enable"):
        await store.set_disabled(args.login, command == "disable")
        print(f"{args.login} {command}d", file=out)
    elif command == "token":
        token, secret = await store.create_token(args.login, args.name)
        print(f"token {token.id} for {args.login} ({token.name}); shown once, keep it now:", file=out)
        print(secret, file=out)
    elif command == "revoke":
        token = await store.revoke_token(args.token_id)
        print(f"token {token.id} revoked", file=out)
    elif command == "list":
        for user in await store.list():
            flags = [f for f, on in (("disabled", user.disabled), ("no password", not user.has_password)) if on]
            print(f"{user.login}\t{user.role}\t{user.agent or '-'}\t{', '.join(flags)}", file=out)
    elif command == "sync":
        result = await store.sync_from_config((a.login, a.name) for a in settings.agents.values())
        print(f"agents added: {len(result.agents_added)}, renamed: {len(result.agents_renamed)}; "
              f"agent users added: {len(result.users_added)}, linked: {len(result.users_linked)}", file=out)
    else:
        raise AssertionError(command)
    return 0
