# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend's ASGI application: FastAPI app, connection pool, migrations at start, error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from ansible_collections.quadstats.stack.services.backend import migrations
from ansible_collections.quadstats.stack.services.backend.http import BodyLimitMiddleware
from ansible_collections.quadstats.stack.services.backend.ingest import (
    alertmanager,
    journal,
    loki,
    metric,
    remote_write,
)
from ansible_collections.quadstats.stack.services.backend.retention import retention_loop
from ansible_collections.quadstats.stack.services.backend.settings import Settings, conninfo

log = logging.getLogger("quadstats.backend")
VERSION = "0.1.0"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def open_pool(settings: Settings) -> AsyncConnectionPool:
    """Open the pool (waiting up to three connect timeouts for the first connection)."""
    db = settings.database
    pool = AsyncConnectionPool(
        conninfo(settings),
        min_size=db.pool_min_size,
        max_size=db.pool_max_size,
        kwargs={"autocommit": True},
        open=False,
        name="quadstats-backend",
    )
    try:
        await pool.open(wait=True, timeout=3 * db.connect_timeout)
    except Exception as exc:
        await pool.close()
        raise migrations.MigrationError(
            f"database {db.user}@{db.host}:{db.port}/{db.dbname} unreachable ({type(exc).__name__}):"
            " check settings database.host, database.port, database.user and database.password_file",
            kind="unreachable",
        ) from None
    return pool


# Where a value sits in a request, not a name of a field; dropped from error locations.
_LOC_NOISE = frozenset(("body", "query", "header", "path", "object", "list"))


def _field_of(err: dict) -> str:
    """``[3].host``, ``labels.job``: the field an error is about, as a client spells it."""
    out = ""
    for part in err.get("loc", ()):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _LOC_NOISE:
            out += f".{part}" if out else str(part)
    return out or "body"


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The application; the pool opens (and migrations run) in its lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = await open_pool(settings)
        try:
            if settings.database.migrate_on_start:
                async with pool.connection() as conn:
                    applied = await migrations.apply_migrations(conn)
                log.info("schema at version %d (applied now: %s)", migrations.LATEST, applied or "none")
            app.state.pool = pool
            retention = settings.retention
            task = asyncio.create_task(
                retention_loop(pool, retention.journal_days, retention.interval_seconds, app.state.clock),
                name="quadstats-retention",
            )
            app.state.retention_task = task
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await pool.close()

    app = FastAPI(
        title="quadstats backend",
        version=VERSION,
        description="Metrics, journal and alert ingest of quadstats.stack (docs/backend.md).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.add_middleware(BodyLimitMiddleware, limit=lambda: settings.ingest.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        errors = exc.errors()
        lines = [f"{_field_of(e)}: {e.get('msg', 'invalid')}" for e in errors[:20]]
        return JSONResponse(
            status_code=422,
            content={
                "detail": "; ".join(lines),
                "errors": [{"field": _field_of(e), "message": e.get("msg")} for e in errors[:20]],
            },
        )

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(_request: Request, exc: psycopg.OperationalError):
        log.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse(
            status_code=503, content={"detail": "database unavailable, retry later"}, headers={"Retry-After": "5"}
        )

    @app.get("/healthz", tags=["service"], summary="Liveness and database reachability")
    async def healthz(request: Request):
        try:
            async with request.app.state.pool.connection(timeout=5) as conn:
                cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
                version = (await cur.fetchone())[0]
        except Exception as exc:  # any failure means "not healthy", reported, never raised
            return JSONResponse(status_code=503, content={"status": "unavailable", "database": type(exc).__name__})
        return {"status": "ok", "database": "ok", "schema_version": version}

    for module in (metric, journal, loki, remote_write, alertmanager):
        app.include_router(module.router)
    return app
