# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python3 -m ansible_collections.quadstats.stack.services.backend [--config FILE] [COMMAND]``.

COMMAND: ``serve`` (the default) runs the web service; ``migrate`` applies the schema migrations and exits;
``token-add HOST`` creates an ingest token for ``HOST`` (``*`` = any host), prints it once and
stores only its hash; ``admin-password`` sets the web pages' local admin password (read from
standard input, never from the command line) and ends that user's sessions. Configuration
errors exit with status 2 and one line per wrong setting.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from ansible_collections.quadstats.stack.plugins.module_utils.errors import QuadstatsError
from ansible_collections.quadstats.stack.services.backend.settings import DEFAULT_CONFIG, Settings, load_settings
from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.common.logs import setup_logging
from ansible_collections.quadstats.stack.services.common.service import argument_parser, config_error

log = logging.getLogger("quadstats.backend")
MIN_ADMIN_PASSWORD = 12
PROG = "quadstats-backend"


async def _with_connection(settings: Settings, work):
    from ansible_collections.quadstats.stack.services.backend import app, migrations  # noqa: PLC0415

    pool = await app.open_pool(settings)
    try:
        async with pool.connection() as conn:
            await migrations.apply_migrations(conn)
            return await work(conn)
    finally:
        await pool.close()


def serve(settings: Settings) -> None:
    import uvicorn  # noqa: PLC0415

    from ansible_collections.quadstats.stack.services.backend.app import create_app  # noqa: PLC0415

    listen = settings.listen
    uvicorn.run(
        create_app(settings),
        host=listen.host,
        port=listen.port,
        ssl_certfile=str(listen.tls_cert_file) if listen.tls_cert_file else None,
        ssl_keyfile=str(listen.tls_key_file) if listen.tls_key_file else None,
        log_config=None,  # our handlers (setup_logging), not uvicorn's
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(PROG, __doc__.splitlines()[0], DEFAULT_CONFIG)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the web service (default)")
    sub.add_parser("migrate", help="apply schema migrations and exit")
    add = sub.add_parser("token-add", help="create an ingest token for a host and print it once")
    add.add_argument("host", help="host name the token may report for, or * for any host")
    add.add_argument("--description", default="")
    pw = sub.add_parser("admin-password", help="set the local web admin's password (from stdin); ends its sessions")
    pw.add_argument("--username", help="local user name (default: the setting web.admin_username)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return config_error(PROG, exc)
    setup_logging(settings.log_level)
    try:
        if args.command in (None, "serve"):
            serve(settings)
        elif args.command == "migrate":
            asyncio.run(_with_connection(settings, _noop))
        elif args.command == "admin-password":
            return _admin_password(settings, args.username or settings.web.admin_username)
        else:
            from ansible_collections.quadstats.stack.services.backend.auth import add_token  # noqa: PLC0415

            token = asyncio.run(_with_connection(settings, lambda conn: add_token(conn, args.host, args.description)))
            print(token)
    except QuadstatsError as exc:
        log.error("%s", exc)
        return 1
    return 0


def _read_new_password() -> str:
    if sys.stdin.isatty():
        import getpass  # noqa: PLC0415

        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().removesuffix("\n")


def _admin_password(settings: Settings, username: str) -> int:
    from ansible_collections.quadstats.stack.services.backend.web.login import set_password  # noqa: PLC0415

    try:
        password = _read_new_password()
        if len(password) < MIN_ADMIN_PASSWORD:
            raise ValueError(f"the password must have at least {MIN_ADMIN_PASSWORD} characters")
    except ValueError as exc:
        print(f"quadstats-backend: admin-password: {exc}", file=sys.stderr)
        return 2
    ended = asyncio.run(_with_connection(settings, lambda conn: set_password(conn, username, password)))
    print(f"password of local user {username!r} set; {ended} session(s) ended")
    return 0


async def _noop(_conn) -> None:
    return None


if __name__ == "__main__":
    sys.exit(main())
