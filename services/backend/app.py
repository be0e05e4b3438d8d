# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend's ASGI application: FastAPI app, connection pool, migrations at start, error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from psycopg_pool import AsyncConnectionPool

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_UNREACHABLE, QuadstatsError
from ansible_collections.quadstats.stack.services.backend import journal_query, migrations
from ansible_collections.quadstats.stack.services.backend.alerts.api import install_alerts_api
from ansible_collections.quadstats.stack.services.backend.alerts.evaluate import evaluate
from ansible_collections.quadstats.stack.services.backend.alerts.telegram import TelegramClient, deliver_one
from ansible_collections.quadstats.stack.services.backend.alerts.watchdog import DatabaseWatchdog
from ansible_collections.quadstats.stack.services.backend.auth import TokenCache
from ansible_collections.quadstats.stack.services.backend.http import BodyLimitMiddleware
from ansible_collections.quadstats.stack.services.backend.ingest import (
    alertmanager,
    journal,
    loki,
    metric,
    remote_write,
)
from ansible_collections.quadstats.stack.services.backend.observability import BackendMetrics, RequestMetricsMiddleware
from ansible_collections.quadstats.stack.services.backend.relay import PrometheusRelay
from ansible_collections.quadstats.stack.services.backend.retention import retention_round
from ansible_collections.quadstats.stack.services.backend.settings import Settings, conninfo, telegram_token
from ansible_collections.quadstats.stack.services.backend.tasks import periodic, stop_all
from ansible_collections.quadstats.stack.services.backend.web.pages import install_pages
from ansible_collections.quadstats.stack.services.backend.web.session import install_web_auth

log = logging.getLogger("quadstats.backend")
VERSION = "0.1.0"


class DatabaseUnreachable(QuadstatsError):
    kind = KIND_UNREACHABLE


def utc_now() -> datetime:
    return datetime.now(UTC)


async def check_connection(conn) -> None:
    """The pool's check at checkout, a round trip only when the idle connection has something to read.

    An idle connection's socket stays silent unless the server ended it (a restart sends an error
    and closes; a killed server closes): then the full check runs, fails, and the pool opens a new
    one. The round trip on every checkout doubled the database time of a ``POST /metric``.
    """
    try:
        ready = select.poll()
        ready.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        quiet = not ready.poll(0)
    except (OSError, psycopg.OperationalError):  # no socket any more: the full check fails it
        quiet = False
    if not quiet:
        await AsyncConnectionPool.check_connection(conn)


async def open_pool(settings: Settings) -> AsyncConnectionPool:
    """Open the pool (waiting up to three connect timeouts for the first connection)."""
    db = settings.database
    pool = AsyncConnectionPool(
        conninfo(settings),
        min_size=db.pool_min_size,
        max_size=db.pool_max_size,
        kwargs={"autocommit": True},
        check=check_connection,  # a database restart leaves dead connections behind
        open=False,
        name="quadstats-backend",
    )
    try:
        await pool.open(wait=True, timeout=3 * db.connect_timeout)
    except Exception as exc:
        await pool.close()
        raise DatabaseUnreachable(
            f"database {db.user}@{db.host}:{db.port}/{db.dbname} unreachable ({type(exc).__name__}):"
            " check settings database.host, database.port, database.user and database.password_file"
        ) from None
    return pool


# Where a value sits in a request, not a name of a field; dropped from error locations.
_LOC_NOISE = frozenset(("body", "query", "header", "path", "object", "list"))


def background_tasks(app: FastAPI, settings: Settings, pool, stop: asyncio.Event) -> dict[str, asyncio.Task]:
    """Start retention, alert evaluation and (when enabled) Telegram delivery rounds and the Prometheus relay."""
    clock = app.state.clock
    retention, alerts, tg = settings.retention, settings.alerts, settings.telegram
    rules = alerts.rules()

    async def evaluation_round():
        async with pool.connection() as conn:
            await evaluate(conn, rules, clock(), notify=tg.enabled, public_url=settings.public_url)

    rounds = {
        "retention": (retention.interval_seconds, lambda: retention_round(pool, retention.journal_days, clock)),
        "evaluation": (alerts.evaluation_interval_seconds, evaluation_round),
    }
    app.state.telegram = None
    if tg.enabled:
        app.state.telegram = TelegramClient(
            tg.api_base_url,
            telegram_token(settings),
            str(tg.chat_id),
            timeout=tg.timeout_seconds,
            verify=str(tg.ca_file) if tg.ca_file else True,
            on_result=app.state.metrics.telegram_outcome,
        )

        async def delivery_round():
            return await deliver_one(pool, app.state.telegram, clock(), tg.max_attempts) is not None

        rounds["delivery"] = (tg.poll_interval_seconds, delivery_round)
        if alerts.database_unreachable_seconds > 0:
            db = settings.database
            watchdog = DatabaseWatchdog(
                lambda: conninfo(settings), f"{db.user}@{db.host}:{db.port}/{db.dbname}",
                alerts.database_unreachable_seconds, app.state.telegram.send,
            )  # fmt: skip
            rounds["database-watch"] = (watchdog.interval, watchdog.round)
    tasks = {
        name: asyncio.create_task(periodic(name, interval, round_, stop), name=f"quadstats-{name}")
        for name, (interval, round_) in rounds.items()
    }
    app.state.relay = None
    if settings.prometheus_relay is not None:
        app.state.relay = PrometheusRelay(settings.prometheus_relay, app.state.metrics)
        tasks["prometheus-relay"] = asyncio.create_task(app.state.relay.run(stop), name="quadstats-prometheus-relay")
    return tasks


async def close_clients(app: FastAPI) -> None:
    for client in (app.state.telegram, app.state.relay):
        if client is not None:
            await client.aclose()


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
            app.state.metric_writer = metric.MetricWriter(pool)
            stop = asyncio.Event()
            app.state.tasks = background_tasks(app, settings, pool, stop)
            try:
                yield
            finally:
                await stop_all(stop, app.state.tasks.values())
                await close_clients(app)
        finally:
            await pool.close()

    app = FastAPI(
        title="quadstats backend",
        version=VERSION,
        description="Metrics, journal and alert ingest of quadstats.stack (docs/backend.md).",
        lifespan=lifespan,
        # Swagger UI and ReDoc load from a CDN, which no page of ours may do; /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.metrics = BackendMetrics()
    app.state.token_cache = TokenCache()
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

    @app.get("/metrics", tags=["service"], summary="The service's own metrics (Prometheus text format)")
    async def metrics(request: Request):
        own = request.app.state.metrics
        await own.refresh_from_pool(request.app.state.pool)
        return Response(own.exposition(), media_type=CONTENT_TYPE_LATEST)

    metric.install(app)
    for module in (journal, loki, remote_write, alertmanager, journal_query):
        app.include_router(module.router)
    install_alerts_api(app, settings)
    install_web_auth(app, settings)
    install_pages(app, settings)
    # Outermost: counts and times everything, including 413s from the body limit.
    app.add_middleware(
        RequestMetricsMiddleware,
        metrics=app.state.metrics,
        routes=frozenset(route.path for route in app.routes if hasattr(route, "path")),
    )
    return app
