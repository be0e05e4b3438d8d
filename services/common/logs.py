# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logging set-up for a service entry point: one line per record on stderr (the journal keeps it)."""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
# These log request URLs at INFO/DEBUG, and some URLs carry a secret (Telegram's bot token).
URL_LOGGERS = ("httpx", "httpcore")


def setup_logging(level: str = "info") -> None:
    """Send every ``quadstats.*`` record at ``level`` or above to stderr (services only; cores never do this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
