# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python3 -m ansible_collections.quadstats.stack.services.container_exporter [--config FILE]``.

Runs until SIGTERM or SIGINT (flushing the push sinks for at most ``buffer.flush_seconds``);
SIGHUP reads the configuration again (a wrong file is logged and the running settings stay).
Configuration errors at start exit with status 2 and one line per wrong setting.
"""

from __future__ import annotations

import logging
import sys

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.common.logs import setup_logging
from ansible_collections.quadstats.stack.services.common.service import (
    argument_parser,
    config_error,
    handle_signals,
    reload_config,
)
from ansible_collections.quadstats.stack.services.container_exporter.daemon import Daemon
from ansible_collections.quadstats.stack.services.container_exporter.http_api import listen
from ansible_collections.quadstats.stack.services.container_exporter.settings import DEFAULT_CONFIG, load_settings

log = logging.getLogger("quadstats.exporter.containers")
PROG = "quadstats-container-exporter"


def main(argv=None):
    args = argument_parser(PROG, __doc__.splitlines()[0], DEFAULT_CONFIG).parse_args(argv)
    try:
        cfg = load_settings(args.config)
        daemon = Daemon(cfg)
        daemon.start()  # builds the sinks: reads their secret files
    except ConfigError as exc:
        return config_error(PROG, exc)
    setup_logging(cfg["log_level"])
    listener = None
    if cfg["listen"]["enabled"]:
        try:
            listener = listen(daemon, cfg["listen"]["host"], cfg["listen"]["port"])
        except OSError as exc:
            daemon.stop()
            daemon.close()
            where = f"{cfg['listen']['host']}:{cfg['listen']['port']}"
            return config_error(PROG, f"setting listen.port: cannot listen on {where}: {exc.strerror}")
        log.info("listening on http://%s:%d (/metrics, /containers, /healthz)", listener.host, listener.port)

    def on_reload():
        new = reload_config(load_settings, args.config, log, lambda c: c["log_level"])
        if new is not None:
            daemon.request_reload(new)

    handle_signals(daemon.stop, on_reload)
    daemon.run()
    log.info("stopping")
    if listener is not None:
        listener.close()
    daemon.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
