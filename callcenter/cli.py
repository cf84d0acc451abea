"""The ``callcenter`` command: serve, migrate, check-config, route, simulate, import-asterisk, user,
demo-floor.

Each subcommand parses its own arguments here and hands them to the module that owns the
work; those modules are imported lazily so ``callcenter --help`` stays fast and a command
never pays for another's imports. Exit status: 0 on success, 1 on a reported error
(bad config, schema mismatch, invalid input), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", dest="config_dir", type=Path, default=None,
                   help="configuration directory (default: ./config)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data directory for the SQLite database and stored files (default: ./var)")
    p.add_argument("--database-url", default=None,
                   help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the data directory)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("serve", help="run the server", description="Run the server until SIGINT/SIGTERM.")
    _add_server_options(p)
    p.add_argument("--http-port", type=int, default=None, help="HTTP port (default from config: 8080)")
    p.add_argument("--http-host", default=None, help="HTTP listen address (default from config: 127.0.0.1)")
    p.add_argument("--fastagi-port", type=int, default=None, help="FastAGI port (default from config: 4573)")
    p.add_argument("--smtp-port", type=int, default=None, help="SMTP listener port (default from config: 2525)")
    p.add_argument("--log-format", choices=("auto", "text", "json"), default="auto",
                   help="log lines for a person (text) or for a log shipper (json); "
                        "auto: text on a terminal, json otherwise (default)")

    p = sub.add_parser("migrate", help="create or upgrade the database schema",
                       description="Create or upgrade the database schema to the version this code needs.")
    _add_server_options(p)
    p.add_argument("--http-port", type=int, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("check-config", help="validate a configuration directory",
                       description="Validate every file of a configuration directory and print every error.")
    p.add_argument("config_dir", nargs="?", type=Path, default=Path("config"), help="directory (default: ./config)")

    p = sub.add_parser("route", help="show how a sample interaction would be routed",
                       description="Dry-run the routing rules against a sample interaction (JSON file).")
    p.add_argument("--dry-run", action="store_true", required=True, help="required: nothing is stored or offered")
    p.add_argument("--config", dest="config_dir", type=Path, default=Path("config"), help="configuration directory")
    p.add_argument("interaction", type=Path, help="JSON file describing the interaction")

    p = sub.add_parser("simulate", help="run a routing scenario on simulated time",
                       description="Run the routing core over a scenario file and print every decision (JSON lines "
                                   "or a table), or with a 'traffic' section a what-if summary per queue over many "
                                   "runs. The scenario format is in docs/simulator.md.")
    p.add_argument("scenario", type=Path, help="scenario file (YAML or JSON, see docs/simulator.md)")
    p.add_argument("--format", choices=("json", "table"), default="json",
                   help="json: one JSON line per decision (default); table: columns a person reads")
    p.add_argument("--runs", type=int, default=None, help="what-if: number of runs (default: the scenario's, else 1)")
    p.add_argument("--seed", type=int, default=None, help="what-if: seed of the first run (default: the scenario's)")
    p.add_argument("--clone", action="append", default=[], metavar="AGENT=N",
                   help="add N agents like AGENT (same skills, queues and start); may be repeated")

    p = sub.add_parser("import-asterisk", help="convert an Asterisk queues.conf into callcenter queues",
                       description="Read an app_queue queues.conf and print equivalent queues and agents as YAML.")
    p.add_argument("queues_conf", type=Path, help="path to queues.conf")

    p = sub.add_parser("demo-floor", help="serve a seeded demo floor (10 queues, 200 agents) on a throw-away database",
                       description="Serve a demo floor from a temporary directory (deleted at exit): 10 queues, "
                                   "200 agents in every state, contacts waiting on every channel.")
    p.add_argument("--config", dest="config_dir", type=Path, default=None,
                   help="configuration to start from (default: ./config); agents, queues and rules are replaced")
    p.add_argument("--http-port", type=int, default=8080, help="HTTP port (default: 8080)")
    p.add_argument("--http-host", default=None, help="HTTP listen address (default: 127.0.0.1)")
    p.add_argument("--fastagi-port", type=int, default=0, help="FastAGI port (default: any free port)")
    p.add_argument("--smtp-port", type=int, default=0, help="SMTP listener port (default: any free port)")
    p.add_argument("--seed", type=int, default=7, help="the same seed gives the same floor (default: 7)")
    p.add_argument("--password", default=None, help="the demo users' password (default: a random one, printed)")
    p.add_argument("--log-format", choices=("auto", "text", "json"), default="auto", help="as for serve")

    _add_user_parser(sub)
    return parser


def _add_user_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="manage web users and API tokens",
                       description="Add users, set passwords, disable them, and issue or revoke API tokens.")
    users = p.add_subparsers(dest="user_command", metavar="ACTION")
    users.required = True

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        q = users.add_parser(name, help=help_text, description=help_text)
        _add_server_options(q)
        return q

    q = action("add", "create a user (an agent user is linked to the agent of the same login)")
    q.add_argument("login")
    q.add_argument("--role", choices=("agent", "supervisor", "admin"), required=True)
    q.add_argument("--name", default="", help="display name")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    q.add_argument("--no-password", action="store_true", help="create without a password (set one later)")
    q = action("passwd", "set a user's password")
    q.add_argument("login")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    action("disable", "stop a user from logging in or using tokens").add_argument("login")
    action("enable", "allow a disabled user again").add_argument("login")
    q = action("token", "issue an API token (printed once)")
    q.add_argument("login")
    q.add_argument("--name", required=True, help="what the token is for")
    action("revoke", "revoke an API token by id").add_argument("token_id", type=int)
    action("list", "list users")
    action("sync", "create agents and agent users for every agent in the configuration")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callcenter`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from callcenter.serve import serve_main
        return serve_main(args)
    if args.command == "migrate":
        from callcenter.serve import migrate_main
        return migrate_main(args)
    if args.command == "check-config":
        from callcenter.settings import check_config_main
        return check_config_main(args.config_dir, sys.stdout)
    if args.command == "route":
        from callcenter.dispatch.dryrun import route_main
        return route_main(args.config_dir, args.interaction, sys.stdout)
    if args.command == "simulate":
        from callcenter.simulation.simulator import simulate_main
        return simulate_main(args.scenario, sys.stdout, sys.stderr, args.format, args.runs, args.seed, args.clone)
    if args.command == "user":
        from callcenter.user_command import user_main
        return user_main(args, sys.stdin, sys.stdout, sys.stderr)
    if args.command == "demo-floor":
        from callcenter.demo import demo_main
        return demo_main(args)
    if args.command == "import-asterisk":
        from callcenter.asterisk_import import import_main
        return import_main(args.queues_conf, sys.stdout)
    raise AssertionError(args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
