"""The server's commands: ``callcenter serve`` and ``callcenter migrate``.

They load and check the configuration, prepare the data directory, check the database's
schema, take the instance lock, start logging, and run the application that
:func:`callcenter.app.build_application` builds. The asyncio reactor is installed here, before
anything imports the global reactor (which is why the application is imported inside
:func:`serve_main`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from sqlalchemy.engine import make_url
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.logger import Logger

from callcenter.runtime.logs import start_logging
from callcenter.runtime.memory import settle_after_start_up
from callcenter.runtime.reactor import install_asyncio_reactor, require_asyncio_reactor
from callcenter.records.instance_lock import AlreadyServing, hold_instance_lock
from callcenter.records.migrate import schema_state, upgrade
from callcenter.settings import ConfigErrors, load_settings

if TYPE_CHECKING:
    from callcenter.app import Application

log = Logger(namespace="callcenter.serve")

DEFAULT_CONFIG_DIR = Path("config")
SQLITE_FILE = "callcenter.sqlite3"


def database_url_for(settings: Any, override: str | None) -> str:
    """The database URL in force: the command-line override, else the config's, else SQLite in data_dir."""
    if override:
        return override
    if settings.server.database_url:
        return settings.server.database_url
    return f"sqlite:///{Path(settings.server.data_dir).resolve() / SQLITE_FILE}"


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "http_port", None) is not None:
        overrides["http_port"] = args.http_port
    if getattr(args, "http_host", None):
        overrides["http_host"] = args.http_host
    for name in ("fastagi_port", "smtp_port"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return overrides


def _load_settings_or_report(args: argparse.Namespace) -> Any | None:
    overrides = _overrides(args)
    config_dir = args.config_dir or DEFAULT_CONFIG_DIR
    try:
        return load_settings(config_dir, overrides)
    except ConfigErrors as errors:
        for error in errors.errors:
            print(str(error), file=sys.stderr)
        print(f"{len(errors.errors)} configuration error(s) in {config_dir}; nothing started", file=sys.stderr)
        return None


def _prepare_data_dir(settings: Any) -> None:
    # Customer data and secrets live here: only the server's user may enter the directory, and
    # what this process creates (the SQLite files, stored blobs) is 0600 whatever the umask was.
    os.umask(0o077)
    data_dir = Path(settings.server.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)


def migrate_main(args: argparse.Namespace) -> int:
    """``callcenter migrate``: bring the schema of the configured database to this code's version."""
    settings = _load_settings_or_report(args)
    if settings is None:
        return 1
    _prepare_data_dir(settings)
    url = database_url_for(settings, args.database_url)
    before = schema_state(url)
    if before.status == "ahead":
        print(f"the database schema ({before.current}) is newer than this code ({before.head}); "
              "upgrade the code instead", file=sys.stderr)
        return 1
    upgrade(url)
    after = schema_state(url)
    print(f"schema at {after.current} (was {before.current or 'empty'})")
    return 0


def serve_main(args: argparse.Namespace, on_serving: Callable[["Application"], Awaitable[None]] | None = None) -> int:
    """``callcenter serve``: run the server until SIGINT/SIGTERM; the exit status says how it ended.

    ``on_serving(app)`` (the demo floor's seeding) is awaited once everything serves, before
    the start-up message; its failure is logged and the server keeps serving."""
    install_asyncio_reactor()
    # Only now: the asyncio reactor must be installed before anything imports the global one,
    # and the application's modules do (twisted.mail.smtp imports it when it is imported).
    from twisted.internet import reactor

    from callcenter.app import build_application

    require_asyncio_reactor(reactor)
    settings = _load_settings_or_report(args)
    if settings is None:
        return 1
    _prepare_data_dir(settings)
    url = database_url_for(settings, args.database_url)

    state = schema_state(url)
    if state.status != "current":
        print(_schema_message(state, args), file=sys.stderr)
        return 1
    try:
        instance_lock = hold_instance_lock(url)  # held until the process ends
    except AlreadyServing as taken:
        print(str(taken), file=sys.stderr)
        return 1

    start_logging(sys.stdout, log_format=getattr(args, "log_format", "auto"))
    app = build_application(settings, reactor, url, _overrides(args))
    exit_status = [0]

    def start() -> None:
        try:
            app.service.startService()
        except Exception:
            log.failure("start-up failed; stopping")
            exit_status[0] = 1
            reactor.stop()
            return
        app.service.ready.addCallbacks(serving, failed)

    def serving(_: object) -> None:
        # Everything built at start-up lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall bursts of pushes to browsers.
        settle_after_start_up()
        log.info("callcenter serving on {host}:{port} with database {db}", host=app.http.address[0],
                 port=app.http.address[1], db=_redacted(url), pid=os.getpid())
        after = ensureDeferred(on_serving(app)) if on_serving is not None else succeed(None)
        after.addErrback(lambda f: log.failure("the step after start-up failed", f))
        if sys.stdout.isatty():  # a person is watching: say where to go; log files keep JSON only
            after.addCallback(lambda _: ensureDeferred(app.users.list())).addCallback(
                lambda users: print(welcome_text(app.http.address, users, args), flush=True)).addErrback(
                lambda f: log.failure("could not list the users for the start-up message", f))

    def failed(failure: Any) -> None:
        log.failure("start-up failed (rebuilding from the record); stopping", failure)
        exit_status[0] = 1
        reactor.stop()

    def stop() -> Deferred | None:
        if not app.service.running:
            return None
        log.info("shutting down: draining channels and writes")
        return app.service.stopService()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    if hasattr(signal, "SIGHUP"):
        def on_hup(*_: object) -> None:
            reactor.callFromThread(lambda: ensureDeferred(app.reloader.reload("SIGHUP")))
        signal.signal(signal.SIGHUP, on_hup)
    reactor.run()
    instance_lock.release()
    log.info("stopped")
    return exit_status[0]


def welcome_text(address: tuple[str, int], users: list[Any], args: argparse.Namespace) -> str:
    """What ``callcenter serve`` prints on a terminal once it serves: the URL to open and, while
    no administrator can sign in (none enabled with a password), the command that creates one."""
    host, port = address
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("", "0.0.0.0") else host)
    lines = [f"callcenter is serving at http://{shown}:{port}/"]
    if not any(u.role == "admin" and not u.disabled and u.has_password for u in users):
        options = "".join(f" {flag} {value}" for flag, value in (
            ("--config", args.config_dir), ("--data-dir", args.data_dir), ("--database-url", args.database_url))
            if value is not None)
        lines += ["Nobody can sign in as an administrator yet. Create one (it asks for the password):",
                  f"    callcenter user add NAME --role admin{options}",
                  "then agents and supervisors the same way with --role agent or --role supervisor."]
    return "\n".join(lines)


def _schema_message(state: Any, args: argparse.Namespace) -> str:
    where = "callcenter migrate" + (f" --database-url {args.database_url}" if args.database_url else "")
    if state.status == "empty":
        return f"the database has no schema yet; run `{where}` first"
    if state.status == "behind":
        return f"the database schema ({state.current}) is older than this code ({state.head}); run `{where}`"
    return (f"the database schema ({state.current}) is newer than this code ({state.head}) or unknown to it; "
            "run the matching version of callcenter, or restore a backup")


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)
