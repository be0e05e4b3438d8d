# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the OneFS modules and lookup (mirrors doc_fragments/onefs.py)."""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient

CONNECTION_OPTIONS = ("host", "port", "username", "password", "auth", "validate_certs", "ca_path", "timeout", "retries")


def connection_argument_spec():
    return {
        "host": {"type": "str", "required": True},
        "port": {"type": "int", "default": 8080},
        "username": {"type": "str", "required": True},
        "password": {"type": "str", "required": True, "no_log": True},
        "auth": {"type": "str", "default": "session", "choices": ["session", "basic"]},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "timeout": {"type": "float", "default": 30},
        "retries": {"type": "int", "default": 3},
    }


def client_from_options(options):
    """A :class:`PapiClient` from a mapping holding the connection options."""
    return PapiClient(
        options["host"],
        options.get("port") or 8080,
        username=options.get("username"),
        password=options.get("password"),
        auth=options.get("auth") or "session",
        validate_certs=options.get("validate_certs", True),
        ca_path=options.get("ca_path"),
        timeout=options.get("timeout") or 30,
        retries=3 if options.get("retries") is None else options["retries"],
    )
