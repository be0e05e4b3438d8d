# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /api/v2/alerts``: Alertmanager's API, so Prometheus or vmalert can route rule alerts here.

Each alert is identified by its label set (the fingerprint: sha256 of the sorted labels). A firing
alert is re-sent every evaluation with a future ``endsAt``; a resolved one arrives with ``endsAt``
in the past. The current state per fingerprint is upserted into ``external_alerts`` and, in the
same transaction, the alert engine turns changes into transitions (``alert_events``) and outbox
rows through the same silences and maintenance windows as metric alerts: a re-sent firing alert
is no transition, so it notifies once. The evaluation round resolves alerts whose ``endsAt``
passes (or that are no longer sent) and sends reminders.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from ansible_collections.quadstats.stack.services.backend.alerts.evaluate import Round, external_round
from ansible_collections.quadstats.stack.services.backend.alerts.silences import active_mutes
from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    bad_request,
    clean_json,
    clean_text,
    require_host,
)
from ansible_collections.quadstats.stack.services.backend.ingest.labels import host_of
from ansible_collections.quadstats.stack.services.backend.ingest.metric import to_utc

router = APIRouter(tags=["ingest"])
MAX_LABEL = 1024
MAX_ANNOTATION = 16 * 1024


class AlertIn(BaseModel):
    """One alert, as Prometheus posts it to Alertmanager (``postableAlert``)."""

    model_config = ConfigDict(extra="ignore")

    labels: dict[StrictStr, StrictStr] = Field(min_length=1, description="identify the alert")
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: StrictStr = Field("", max_length=MAX_LABEL)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k or len(k) > MAX_LABEL or len(v) > MAX_LABEL for k, v in value.items()):
            raise ValueError(f"label names must be non-empty; names and values at most {MAX_LABEL} characters")
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(k) > MAX_LABEL or len(v) > MAX_ANNOTATION for k, v in value.items()):
            raise ValueError(f"annotation values must be at most {MAX_ANNOTATION} characters")
        return value

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value)


def fingerprint(labels: dict[str, str]) -> bytes:
    return hashlib.sha256(json.dumps(labels, sort_keys=True, ensure_ascii=False).encode()).digest()


UPSERT = """
INSERT INTO external_alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (fingerprint) DO UPDATE SET
    annotations = EXCLUDED.annotations,
    starts_at = CASE WHEN external_alerts.ends_at < EXCLUDED.starts_at THEN EXCLUDED.starts_at
                     ELSE least(external_alerts.starts_at, EXCLUDED.starts_at) END,
    ends_at = EXCLUDED.ends_at,
    generator_url = EXCLUDED.generator_url,
    received_at = EXCLUDED.received_at
"""


@router.post(
    "/api/v2/alerts",
    status_code=200,
    response_class=Response,
    summary="Alertmanager API v2: post alerts (firing or resolved)",
    responses=AUTH_RESPONSES,
)
async def post_alerts(
    request: Request,
    alerts: Annotated[list[AlertIn], Body()],
    who: Sender,
) -> Response:
    limit = request.app.state.settings.ingest.max_batch_items
    if len(alerts) > limit:
        raise bad_request("body", f"{len(alerts)} alerts, more than {limit} (ingest.max_batch_items)", 413)
    now = request.app.state.clock()
    rows = {}
    for i, alert in enumerate(alerts):
        labels = clean_json(alert.labels)
        require_host(who, host_of(labels), f"[{i}].labels.host")
        starts = alert.startsAt or now
        if alert.endsAt is not None and alert.endsAt < starts:
            starts = alert.endsAt
        key = fingerprint(labels)
        rows[key] = (key, Jsonb(labels), Jsonb(clean_json(alert.annotations)), starts, alert.endsAt,
                     clean_text(alert.generatorURL), now)  # fmt: skip
    if rows:
        settings = request.app.state.settings
        keys = sorted(rows)  # the lock order of the evaluation round, too
        async with request.app.state.pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(UPSERT, [rows[k] for k in keys])
            decide = Round(conn, now, await active_mutes(conn, now), settings.telegram.enabled, settings.public_url)
            await external_round(decide, settings.alerts.rules(), keys)
    return Response(status_code=200)
