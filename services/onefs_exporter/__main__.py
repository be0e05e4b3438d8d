# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python3 -m ansible_collections.quadstats.stack.services.onefs_exporter [--config FILE] [run|check|migrate TOML]``.

``run`` (the default) polls the configured OneFS clusters and serves/pushes their statistics until
SIGTERM; SIGHUP reloads the configuration (a wrong new one is logged and the running one kept).
``check`` validates the configuration (and reads the secret files) and exits. ``migrate TOML``
prints the YAML equivalent of a gostats ``idic.toml``, naming settings it does not carry over.
Configuration errors exit with status 2 and one line per wrong setting.
"""

from __future__ import annotations

import logging
import sys
import time

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.common.logs import setup_logging
from ansible_collections.quadstats.stack.services.common.service import (
    argument_parser,
    config_error,
    handle_signals,
    reload_config,
)
from ansible_collections.quadstats.stack.services.onefs_exporter.config import DEFAULT_CONFIG, load_config

log = logging.getLogger("quadstats.exporter.onefs")
PROG = "quadstats-onefs-exporter"


def run(config_path, config):
    from ansible_collections.quadstats.stack.services.onefs_exporter.app import Exporter  # noqa: PLC0415

    exporter = Exporter()
    try:
        exporter.apply(config)
    except OSError as exc:
        log.error("cannot start the listeners: %s", exc)
        return 1
    # The handlers only set flags: taking a lock in a signal handler can deadlock the main thread.
    wanted = {"stop": False, "reload": False}
    handle_signals(lambda: wanted.update(stop=True), lambda: wanted.update(reload=True))
    while not wanted["stop"]:
        time.sleep(0.2)  # a signal interrupts the sleep; its handler runs first
        if wanted["reload"] and not wanted["stop"]:
            wanted["reload"] = False
            _reload(exporter, config_path)
    log.info("stopping")
    exporter.stop()
    log.info("stopped")
    return 0


def _reload(exporter, config_path):
    config = reload_config(load_config, config_path, log, lambda c: c.log_level)
    if config is None:
        return
    try:
        exporter.apply(config)
    except OSError as exc:
        log.error("reload failed to bind a listener (%s); restoring the previous configuration", exc)
        exporter.apply(exporter.config)
        return
    log.info("configuration reloaded from %s", config_path)


def main(argv=None):
    parser = argument_parser(PROG, __doc__.splitlines()[0], DEFAULT_CONFIG)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="poll and export (default)")
    sub.add_parser("check", help="validate the configuration and exit")
    mig = sub.add_parser("migrate", help="print the YAML equivalent of a gostats idic.toml")
    mig.add_argument("toml", help="path of the gostats configuration (idic.toml)")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        from ansible_collections.quadstats.stack.services.onefs_exporter.migrate import migrate_file  # noqa: PLC0415

        try:
            text, notes = migrate_file(args.toml)
        except ConfigError as exc:
            return config_error(PROG, exc)
        sys.stdout.write(text)
        for note in notes:
            print(f"{PROG}: {note}", file=sys.stderr)
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return config_error(PROG, exc)
    if args.command == "check":
        print(f"{args.config}: {len(config.clusters)} cluster(s), {len(config.stat_groups)} stat group(s): valid")
        return 0
    setup_logging(config.log_level)
    return run(args.config, config)


if __name__ == "__main__":
    sys.exit(main())
