# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Daemon plumbing the services share: configuration and secret files, logging, the entry point's
argument/exit/signal handling (``service``), the HTTP listener and push sinks (``http_sink``)."""
