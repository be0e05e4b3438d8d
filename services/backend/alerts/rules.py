# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert rules and the state machine, as pure functions (no I/O, no clock of their own).

The seed's two rules: a disk metric alerts when its value is above the threshold (90 by default;
exactly 90 is fine; a value that is not a number alerts), a ping alerts when it is older than
``value`` minutes (or the default, 5). On top: per host/name overrides, a **sustained-for**
window (the condition must hold that long before the alert fires; recovery is immediate).
Silences and maintenance windows (``silences.py``) mute notifications, never transitions.
"""

from __future__ import annotations

import fnmatch
import html
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import quote

OK, ALERT = "ok", "alert"
TELEGRAM_MAX = 4096
MAX_PART = 250  # 3 parts x 250 x 5 (escaped "&") + the frame < TELEGRAM_MAX; a link only where it fits


@dataclass(frozen=True)
class Override:
    host: str = "*"
    name: str = "*"
    disk_threshold_percent: float | None = None
    ping_minutes: float | None = None
    sustained_seconds: int | None = None
    reminder_minutes: float | None = None

    def matches(self, host: str, name: str) -> bool:
        return fnmatch.fnmatchcase(host, self.host) and fnmatch.fnmatchcase(name, self.name)


@dataclass(frozen=True)
class Rules:
    disk_threshold_percent: float = 90.0
    ping_default_minutes: float = 5.0
    sustained_seconds: int = 0
    overrides: tuple[Override, ...] = ()
    expire_after_days: float = 0  # 0: never
    reminder_minutes: float = 0  # 0: no reminders
    alertmanager_resolve_minutes: float = 5  # Alertmanager's resolve_timeout default

    def for_metric(self, host: str, name: str) -> tuple[float, float | None, int]:
        """(disk threshold, ping minutes override or None, sustained seconds) for one metric; later overrides win."""
        threshold, minutes, sustained = self.disk_threshold_percent, None, self.sustained_seconds
        for o in self.overrides:
            if o.matches(host, name):
                threshold = threshold if o.disk_threshold_percent is None else o.disk_threshold_percent
                minutes = minutes if o.ping_minutes is None else o.ping_minutes
                sustained = sustained if o.sustained_seconds is None else o.sustained_seconds
        return threshold, minutes, sustained

    def reminder_for(self, host: str, name: str) -> timedelta | None:
        """How often a firing alert of ``host``/``name`` is repeated; None: never. Later overrides win."""
        minutes = self.reminder_minutes
        for o in self.overrides:
            if o.reminder_minutes is not None and o.matches(host, name):
                minutes = o.reminder_minutes
        return timedelta(minutes=minutes) if minutes > 0 else None


class Metric(NamedTuple):
    host: str
    name: str
    type: str
    value: str | None
    reported_at: datetime
    state: str
    condition_since: datetime | None


class Decision(NamedTuple):
    state: str
    condition_since: datetime | None
    transition: str | None  # "alert" or "ok" when the state changes now


def parse_number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def is_bad(metric: Metric, rules: Rules, now: datetime) -> bool:
    """The seed's rule for one metric at ``now``."""
    threshold, ping_override, _sustained = rules.for_metric(metric.host, metric.name)
    if metric.type == "disk":
        value = parse_number(metric.value)
        return value is None or value > threshold
    minutes = parse_number(metric.value)
    if ping_override is not None:
        minutes = ping_override
    if minutes is None or minutes <= 0:
        minutes = rules.ping_default_minutes
    return now - metric.reported_at > timedelta(minutes=minutes)


def decide(metric: Metric, rules: Rules, now: datetime) -> Decision:
    """Next state of ``metric``: fire after the condition held ``sustained`` seconds, recover at once."""
    bad = is_bad(metric, rules, now)
    sustained = rules.for_metric(metric.host, metric.name)[2]
    if not bad:
        return Decision(OK, None, OK if metric.state == ALERT else None)
    since = metric.condition_since or now
    if metric.state == ALERT:
        return Decision(ALERT, since, None)
    if now - since >= timedelta(seconds=sustained):
        return Decision(ALERT, since, ALERT)
    return Decision(OK, since, None)


REMINDER = "reminder"
_HEADS = {ALERT: "Alert", OK: "OK again", REMINDER: "Still firing"}
MAX_LINK = 1500


class Subject(NamedTuple):
    """What a message is about: a metric, or an alert posted through the Alertmanager API."""

    host: str
    name: str
    value: str | None


def message_html(kind: str, subject: Subject | Metric, *, public_url: str | None = None, since=None) -> str:
    """The seed's text (``Alert: host - name Value: v`` / ``OK again: …``; reminders ``Still firing …``),
    HTML-escaped for Telegram; with ``public_url`` a link to the host's page."""
    text = f"<b>{_HEADS[kind]}:</b> {_clip(subject.host)} - {_clip(subject.name)}"
    if subject.value:
        text += f" Value: {_clip(subject.value)}"
    if since is not None:
        text += f" (since {since:%Y-%m-%d %H:%M} UTC)"
    link = host_link(public_url, subject.host)
    anchor = f'\n<a href="{html.escape(link, quote=True)}">host view</a>' if link else ""
    return text + anchor if len(text) + len(anchor) <= TELEGRAM_MAX else text


def host_link(public_url: str | None, host: str) -> str | None:
    """``<public_url>/hosts/<host>`` (host percent-encoded), None without a URL/host or when too long."""
    if not public_url or not host:
        return None
    link = f"{public_url.rstrip('/')}/hosts/{quote(host, safe='')}"
    return link if len(link) <= MAX_LINK else None


def _clip(text: str) -> str:
    """Escaped for Telegram's HTML mode; at most ``MAX_PART`` characters before escaping (``&`` grows to 5),
    so three parts always fit Telegram's 4096."""
    if len(text) > MAX_PART:
        text = text[: MAX_PART - 1] + "…"
    return html.escape(text, quote=False)
