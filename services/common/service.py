# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every service's ``__main__`` does the same way: ``--config``, exit status 2 for a wrong
configuration (one line per wrong setting on stderr), SIGTERM/SIGINT to stop, SIGHUP to reload a
configuration that is checked first (a wrong one is logged and the running one stays)."""

from __future__ import annotations

import argparse
import signal
import sys

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.common.logs import setup_logging

CONFIG_ERROR_EXIT = 2


def argument_parser(prog, description, default_config):
    """An argument parser with ``--config FILE`` (subcommands are the caller's)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", default=default_config, help=f"YAML settings file (default {default_config})")
    return parser


def config_error(prog, exc):
    """Say what is wrong in the configuration on stderr; the exit status for it."""
    print(f"{prog}: {exc}", file=sys.stderr)
    return CONFIG_ERROR_EXIT


def handle_signals(on_stop, on_reload):
    """SIGTERM and SIGINT call ``on_stop()``, SIGHUP ``on_reload()``, on the main thread between two
    bytecodes: keep them short (set a flag, wake a loop); a lock taken there can deadlock the main thread."""

    def on_signal(signum, _frame):
        (on_reload if signum == signal.SIGHUP else on_stop)()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)


def reload_config(load, path, logger, log_level):
    """The configuration in ``path`` (logging set to ``log_level(config)``), or None when it is wrong:
    that is logged and the running configuration stays."""
    try:
        config = load(path)
    except ConfigError as exc:
        logger.error("reload refused: configuration not reloaded, the running one stays:\n%s", exc)
        return None
    setup_logging(log_level(config))
    return config
