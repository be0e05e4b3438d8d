# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background rounds of the service (retention, alert evaluation, Telegram delivery).

Rounds stop through an event, not by cancelling them mid-query: psycopg turns a cancellation
during a query into a query-cancel error, which a round must not mistake for a failure to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger("quadstats.backend")
STOP_GRACE_SECONDS = 15


async def periodic(name: str, interval: float, round_: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run ``round_`` now and then every ``interval`` seconds until ``stop`` is set.

    A failing round is logged and retried next time: the service keeps serving ingest while its
    database or Telegram is away. A round answering True runs again at once (more work is due).
    """
    while not stop.is_set():
        try:
            again = await round_()
        except Exception as exc:
            log.warning("%s round failed: %s: %s", name, type(exc).__name__, exc)
            again = False
        if again is not True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


async def stop_all(stop: asyncio.Event, tasks: Iterable[asyncio.Task]) -> None:
    """Let running rounds finish (up to a grace period), then cancel what is left."""
    stop.set()
    tasks = list(tasks)
    if not tasks:
        return
    pending = (await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS))[1]
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
