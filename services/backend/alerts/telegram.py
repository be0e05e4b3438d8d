# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telegram delivery of the outbox: ``sendMessage`` by POST with JSON, 429 honoured, bounded retries.

:func:`deliver_one` takes the oldest due outbox row with ``FOR UPDATE SKIP LOCKED`` (another
replica skips a row being sent), sends it and records the outcome in the same transaction. A
crash between Telegram's answer and the commit sends that one message again at restart: delivery
is at-least-once at that single point, exactly-once everywhere else. The bot token is only ever
part of the request URL: never logged, never in ``last_error``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

import httpx

log = logging.getLogger("quadstats.backend")
MAX_BACKOFF_SECONDS = 300


class SendResult(NamedTuple):
    ok: bool
    retry_after: float | None = None  # Telegram's 429 parameters.retry_after
    error: str | None = None
    permanent: bool = False


class TelegramClient:
    def __init__(
        self, base_url: str, token: str, chat_id: str, *, timeout: float = 10.0, verify=True, on_result=None
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify)
        self._on_result = on_result  # e.g. the service's failure counters

    async def send(self, text: str) -> SendResult:
        result = await self._send(text)
        if self._on_result is not None:
            self._on_result(result)
        return result

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, text: str) -> SendResult:
        body = {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        try:
            answer = await self._http.post(self._url, json=body)
        except httpx.TimeoutException:
            return SendResult(False, error="timeout")
        except httpx.HTTPError as exc:  # the message of some httpx errors holds the URL, i.e. the token
            return SendResult(False, error=f"transport error ({type(exc).__name__})")
        try:
            data = answer.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if answer.status_code == 200 and data.get("ok") is True:
            return SendResult(True)
        description = str(data.get("description", ""))[:200]
        if answer.status_code == 429:
            params = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
            retry = params.get("retry_after")
            return SendResult(False, float(retry) if isinstance(retry, (int, float)) else 30.0, f"429 {description}")
        permanent = 400 <= answer.status_code < 500
        return SendResult(False, error=f"{answer.status_code} {description}".strip(), permanent=permanent)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** max(attempts - 1, 0)))


async def deliver_one(pool, client: TelegramClient, now: datetime, max_attempts: int = 8) -> SendResult | None:
    """Send the oldest due outbox row; its outcome, or None when nothing is due."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT id, text, attempts FROM outbox"
            " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= %s"
            " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (now,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        row_id, text, attempts = row
        result = await client.send(text)
        attempts += 1
        if result.ok:
            await conn.execute("UPDATE outbox SET sent_at = %s, attempts = %s WHERE id = %s", (now, attempts, row_id))
        elif result.retry_after is not None:
            due = now + timedelta(seconds=result.retry_after)
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = %s, attempts = %s, last_error = %s WHERE id = %s",
                (due, attempts, result.error, row_id),
            )
        elif result.permanent or attempts >= max_attempts:
            log.warning("telegram: giving up on outbox row %d after %d attempt(s): %s", row_id, attempts, result.error)
            await conn.execute(
                "UPDATE outbox SET failed_at = %s, attempts = %s, last_error = %s WHERE id = %s",
                (now, attempts, result.error, row_id),
            )
        else:
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = %s, attempts = %s, last_error = %s WHERE id = %s",
                (now + backoff(attempts), attempts, result.error, row_id),
            )
        return result
