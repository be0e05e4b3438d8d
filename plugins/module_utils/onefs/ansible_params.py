# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OneFS connection options as Ansible sees them, derived from ``papi_client.CONNECTION_OPTIONS``.

No Ansible import here: a module passes ``env_fallback`` in, so the core stays importable without
Ansible.
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import (
    CONNECTION_OPTIONS,
    DEFAULTS,
    MODULE_ENV_FALLBACK,
    PapiClient,
)

# Keys of a CONNECTION_OPTIONS entry that are argument spec keys as they stand.
_SPEC_KEYS = ("type", "default", "required", "no_log", "choices", "aliases")


def connection_argument_spec(env_fallback=None):
    """The modules' argument spec of the connection options.

    With ``env_fallback`` (``ansible.module_utils.basic.env_fallback``), host, username and
    password fall back to ``ONEFS_HOST``, ``ONEFS_USERNAME`` and ``ONEFS_PASSWORD`` in the
    module's environment.
    """
    spec = {}
    for name, option in CONNECTION_OPTIONS.items():
        entry = {key: option[key] for key in _SPEC_KEYS if key in option}
        if isinstance(entry.get("choices"), list):
            entry["choices"] = list(entry["choices"])
        if isinstance(entry.get("aliases"), list):
            entry["aliases"] = list(entry["aliases"])
        if env_fallback is not None and name in MODULE_ENV_FALLBACK:
            entry["fallback"] = (env_fallback, [option["env"]])
        spec[name] = entry
    return spec


def client_from_options(options, **kwargs):
    """A :class:`PapiClient` from a mapping holding the connection options (missing or None → default)."""

    def value(name):
        given = options.get(name)
        return DEFAULTS[name] if given is None else given

    return PapiClient(
        options.get("host"),
        value("port"),
        username=options.get("username"),
        password=options.get("password"),
        auth=value("auth"),
        validate_certs=value("validate_certs"),
        ca_path=options.get("ca_path"),
        timeout=value("timeout"),
        retries=value("retries"),
        **kwargs,
    )
