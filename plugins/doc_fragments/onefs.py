# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the OneFS PAPI connection options.

Types, defaults, choices, aliases and environment variables follow the one table
``module_utils/onefs/papi_client.py`` ``CONNECTION_OPTIONS`` (tests/unit/onefs/test_onefs_docs.py
checks that they agree).
"""

from __future__ import annotations


class ModuleDocFragment:
    # The options, for the modules and the lookup.
    DOCUMENTATION = r"""
options:
  host:
    description:
      - Name or address of the OneFS cluster (a SmartConnect name or a node address) serving the Platform API.
      - Sessions are bound to the node that issued them; prefer a fixed node address over round-robin SmartConnect.
      - The modules fall back to the environment variable E(ONEFS_HOST) of the host that runs them.
    type: str
    required: true
    aliases: [onefs_host, hostname]
  port:
    description: TCP port of the Platform API.
    type: int
    default: 8080
  username:
    description:
      - OneFS user. Its role needs C(ISI_PRIV_LOGIN_PAPI) and C(ISI_PRIV_STATISTICS), both read-only.
      - The modules fall back to the environment variable E(ONEFS_USERNAME) of the host that runs them.
    type: str
    required: true
  password:
    description:
      - Password of O(username). Never logged and never part of a result or an error message.
      - The modules fall back to the environment variable E(ONEFS_PASSWORD) of the host that runs them, so an
        ad-hoc command needs no password on its command line.
    type: str
    required: true
  auth:
    description:
      - V(session) logs in once (cookie and CSRF token, re-login before the session expires, logout at the end).
      - V(basic) sends HTTP basic authentication with every request.
    type: str
    choices: [session, basic]
    default: session
  validate_certs:
    description:
      - Verify the cluster's TLS certificate. Set to V(false) only for tests; prefer O(ca_path) for self-signed
        clusters.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the cluster's certificate (used when O(validate_certs=true)).
    type: path
  timeout:
    description:
      - Read timeout in seconds for each HTTP request (the connect timeout is the smaller of this and 10 seconds).
    type: float
    default: 30
  retries:
    description:
      - How many times a request is retried, with exponential backoff from 0.5 seconds, after a connection error or
        an HTTP 502, 503 or 504 answer.
    type: int
    default: 3
"""

    # Added for the lookup: where each option may also come from (keyword arguments win over
    # variables, variables over the environment): variable onefs_<option>, environment ONEFS_<OPTION>.
    # Merged into DOCUMENTATION option by option.
    PLUGIN = r"""
options:
  host: {env: [{name: ONEFS_HOST}], vars: [{name: onefs_host}]}
  port: {env: [{name: ONEFS_PORT}], vars: [{name: onefs_port}]}
  username: {env: [{name: ONEFS_USERNAME}], vars: [{name: onefs_username}]}
  password: {env: [{name: ONEFS_PASSWORD}], vars: [{name: onefs_password}]}
  auth: {env: [{name: ONEFS_AUTH}], vars: [{name: onefs_auth}]}
  validate_certs: {env: [{name: ONEFS_VALIDATE_CERTS}], vars: [{name: onefs_validate_certs}]}
  ca_path: {env: [{name: ONEFS_CA_PATH}], vars: [{name: onefs_ca_path}]}
  timeout: {env: [{name: ONEFS_TIMEOUT}], vars: [{name: onefs_timeout}]}
  retries: {env: [{name: ONEFS_RETRIES}], vars: [{name: onefs_retries}]}
"""
