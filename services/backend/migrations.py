# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Versioned, idempotent schema migrations, applied at start under a PostgreSQL advisory lock.

Each migration is ``(version, name, sql)``; ``schema_migrations`` records what ran with a checksum
of its SQL. :func:`apply_migrations` takes a session advisory lock (so several replicas starting
at once apply each migration exactly once), applies the missing ones in order, each in its own
transaction, and refuses to start when an applied migration's SQL changed since (a release must
add a migration instead of editing one). Never edit or reorder a released entry of MIGRATIONS.
"""

from __future__ import annotations

import hashlib
import logging
from typing import NamedTuple

from ansible_collections.quadstats.stack.plugins.module_utils.errors import QuadstatsError

log = logging.getLogger("quadstats.backend")

# pg_advisory_lock key: the first 8 bytes of sha256("quadstats.backend.migrations"), as a signed bigint.
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"quadstats.backend.migrations").digest()[:8], "big", signed=True)


class Migration(NamedTuple):
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(QuadstatsError):
    """The database schema is not one this release can use."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "metrics and ingest tokens",
        """
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- The current state per (host, name), as the seed keeps it: one row, upserted by every report.
CREATE TABLE metrics (
    host        text NOT NULL,
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('disk', 'ping')),
    value       text,
    reported_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'alert')),
    PRIMARY KEY (host, name)
);

-- Ingest tokens, stored only as sha256 of the token. host '*' may report for any host.
CREATE TABLE ingest_tokens (
    token_sha256 bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    host         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_tokens_host ON ingest_tokens (host);
""",
    ),
    Migration(
        2,
        "journal hypertable",
        """
CREATE TABLE journal (
    time      timestamptz NOT NULL,
    hash      bytea NOT NULL,
    host      text,
    unit      text,
    container text,
    priority  smallint,
    message   text NOT NULL,
    source    text NOT NULL CHECK (source IN ('journal', 'loki')),
    fields    jsonb NOT NULL DEFAULT '{}'
);
SELECT create_hypertable('journal', by_range('time', INTERVAL '1 day'));
-- Duplicates (the seed's overlapping 1-minute client windows, retried pushes) hit this index.
CREATE UNIQUE INDEX journal_dedup ON journal (hash, time);
CREATE INDEX journal_host_time ON journal (host, time DESC);
""",
    ),
    Migration(
        3,
        "alerts received through the Alertmanager API",
        """
CREATE TABLE external_alerts (
    fingerprint   bytea PRIMARY KEY,
    labels        jsonb NOT NULL,
    annotations   jsonb NOT NULL DEFAULT '{}',
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz,
    generator_url text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX external_alerts_ends_at ON external_alerts (ends_at);
""",
    ),
    Migration(
        4,
        "alert engine: states, events, silences, outbox",
        """
-- condition_since: when the rule's condition started to hold (the sustained-for window runs from it).
ALTER TABLE metrics ADD COLUMN condition_since timestamptz, ADD COLUMN state_since timestamptz;

-- Every state transition, also the silenced ones.
CREATE TABLE alert_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    host        text NOT NULL,
    name        text NOT NULL,
    transition  text NOT NULL CHECK (transition IN ('ok', 'alert')),
    value       text,
    silenced    boolean NOT NULL DEFAULT false
);
CREATE INDEX alert_events_at ON alert_events (at DESC);

CREATE TABLE silences (
    id           bigserial PRIMARY KEY,
    host_pattern text NOT NULL DEFAULT '*',
    name_pattern text NOT NULL DEFAULT '*',
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by   text NOT NULL,
    comment      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: a notification row commits together with its transition.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    event_id        bigint REFERENCES alert_events (id) ON DELETE SET NULL,
    channel         text NOT NULL DEFAULT 'telegram',
    text            text NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
""",
    ),
    Migration(
        5,
        "silences with reasons and early expiry, maintenance windows, reminders, Alertmanager alert states",
        """
-- Silences: a reason is required; who ended one early. Expiring one that has not started yet
-- makes it empty (starts_at = ends_at = the expiry time), hence >= instead of >.
ALTER TABLE silences RENAME COLUMN comment TO reason;
ALTER TABLE silences ADD COLUMN expired_by text;
ALTER TABLE silences DROP CONSTRAINT silences_check;
ALTER TABLE silences ADD CONSTRAINT silences_window CHECK (ends_at >= starts_at);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- Maintenance windows: one-off (starts_at..ends_at) or weekly (ISO weekdays 1 = Monday, a local
-- start time in an IANA time zone, a duration).
CREATE TABLE maintenance_windows (
    id           bigserial PRIMARY KEY,
    host_pattern text NOT NULL DEFAULT '*',
    name_pattern text NOT NULL DEFAULT '*',
    starts_at    timestamptz,
    ends_at      timestamptz,
    weekdays     smallint[],
    start_time   time,
    duration     interval,
    time_zone    text,
    created_by   text NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT maintenance_windows_kind CHECK (
        (starts_at IS NOT NULL AND ends_at > starts_at
         AND weekdays IS NULL AND start_time IS NULL AND duration IS NULL AND time_zone IS NULL)
        OR (starts_at IS NULL AND ends_at IS NULL AND cardinality(weekdays) > 0
            AND start_time IS NOT NULL AND duration > interval '0' AND time_zone IS NOT NULL))
);

-- Reminders: when the last notification about a firing alert was queued.
ALTER TABLE metrics ADD COLUMN notified_at timestamptz;

-- Alerts posted through the Alertmanager API get a state like metrics, so the engine dedups them.
ALTER TABLE external_alerts
    ADD COLUMN state text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'alert')),
    ADD COLUMN state_since timestamptz,
    ADD COLUMN notified_at timestamptz;
ALTER TABLE alert_events ADD COLUMN source text NOT NULL DEFAULT 'metric' CHECK (source IN ('metric', 'alertmanager'));
""",
    ),
    Migration(
        6,
        "web login: local users, server-side sessions",
        """
-- Local accounts of the web pages (the local admin): an argon2 hash, never the password.
CREATE TABLE web_users (
    username      text PRIMARY KEY,
    password_hash text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per logged-in browser. The cookie holds a signed random id; only its sha256 is stored,
-- so reading this table gives no usable cookie. Logout deletes the row: a replayed cookie is dead.
CREATE TABLE web_sessions (
    id_sha256   bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    user_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('local', 'oidc')),
    email       text,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
""",
    ),
    Migration(
        7,
        "journal query indexes: filters with time order, message substrings (pg_trgm)",
        """
-- Each filter of the journal query API with the time order it is read in (the pages ask for the
-- newest or oldest 100): host+unit, unit, container, priority; messages by trigram, so a substring
-- search reads the matching rows, not the table. pg_trgm is a trusted extension (PostgreSQL >= 13):
-- the database owner may create it; Debian's postgresql-17 ships it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX journal_v7_host_unit_time ON journal (host, unit, time DESC);
CREATE INDEX journal_v7_unit_time ON journal (unit, time DESC);
CREATE INDEX journal_v7_container_time ON journal (container, time DESC) WHERE container IS NOT NULL;
CREATE INDEX journal_v7_priority_time ON journal (priority, time DESC);
CREATE INDEX journal_v7_message_trgm ON journal USING gin (message gin_trgm_ops);
""",
    ),
)

LATEST = MIGRATIONS[-1].version


def _check_order(migrations: tuple[Migration, ...]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1..{len(versions)} in order, got {versions}")


async def applied_versions(conn) -> dict[int, str]:
    """``{version: checksum}`` of the migrations recorded in the database (empty on a new one)."""
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row[0]:
        return {}
    cur = await conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return dict(await cur.fetchall())


async def apply_migrations(
    conn, target: int | None = None, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Bring the schema to ``target`` (default: the latest); returns the versions applied now.

    ``conn`` is an autocommit ``psycopg.AsyncConnection``; the advisory lock is held on it for the
    whole run and released at the end, also on error.
    """
    _check_order(migrations)
    target = migrations[-1].version if target is None else target
    if not 0 <= target <= len(migrations):
        raise MigrationError(f"migration target {target} is not between 0 and {len(migrations)}")
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = await applied_versions(conn)
        newest_known = len(migrations)
        if done and max(done) > newest_known:
            raise MigrationError(
                f"the database schema is at version {max(done)}, newer than this release knows ({newest_known}):"
                " run the newer release or restore a matching backup"
            )
        for m in migrations:
            if m.version in done and done[m.version] != m.checksum:
                raise MigrationError(
                    f"migration {m.version} ({m.name}) differs from the one applied to this database:"
                    " released migrations must never change"
                )
        applied = []
        for m in migrations[:target]:
            if m.version in done:
                continue
            log.info("applying schema migration %d: %s", m.version, m.name)
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (m.version, m.name, m.checksum),
                )
            applied.append(m.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
