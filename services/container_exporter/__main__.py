# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python3 -m ansible_collections.quadstats.stack.services.container_exporter [--config FILE]``.

Runs until SIGTERM or SIGINT (flushing the push sinks for at most ``buffer.flush_seconds``);
SIGHUP reads the configuration again (a wrong file is logged and the running settings stay).
Configuration errors at start exit with status 2 and one line per wrong setting.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from ansible_collections.quadstats.stack.services.common.config import ConfigError
from ansible_collections.quadstats.stack.services.common.logs import setup_logging
from ansible_collections.quadstats.stack.services.container_exporter.daemon import Daemon
from ansible_collections.quadstats.stack.services.container_exporter.http_api import listen
from ansible_collections.quadstats.stack.services.container_exporter.settings import DEFAULT_CONFIG, load_settings

log = logging.getLogger("quadstats.exporter.containers")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="quadstats-container-exporter", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML settings file (default {DEFAULT_CONFIG})")
    args = parser.parse_args(argv)
    try:
        cfg = load_settings(args.config)
        daemon = Daemon(cfg)
        daemon.start()  # builds the sinks: reads their secret files
    except ConfigError as exc:
        print(f"quadstats-container-exporter: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg["log_level"])
    listener = None
    if cfg["listen"]["enabled"]:
        try:
            listener = listen(daemon, cfg["listen"]["host"], cfg["listen"]["port"])
        except OSError as exc:
            print(f"quadstats-container-exporter: setting listen.port: cannot listen on "
                  f"{cfg['listen']['host']}:{cfg['listen']['port']}: {exc.strerror}", file=sys.stderr)  # fmt: skip
            daemon.stop()
            daemon.close()
            return 2
        log.info("listening on http://%s:%d (/metrics, /containers, /healthz)", listener.host, listener.port)

    def on_term(signum, _frame):
        log.info("signal %d: stopping", signum)
        daemon.stop()

    def on_hup(_signum, _frame):
        try:
            new = load_settings(args.config)
        except ConfigError as exc:
            log.error("SIGHUP: configuration not reloaded, the running settings stay:\n%s", exc)
            return
        setup_logging(new["log_level"])
        daemon.request_reload(new)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    daemon.run()
    if listener is not None:
        listener.close()
    daemon.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
