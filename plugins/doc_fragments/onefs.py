# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the OneFS PAPI connection options."""

from __future__ import annotations


class ModuleDocFragment:
    # For modules.
    DOCUMENTATION = r"""
options:
  host:
    description:
      - Name or address of the OneFS cluster (a SmartConnect name or a node address) serving the Platform API.
      - Sessions are bound to the node that issued them; prefer a fixed node address over round-robin SmartConnect.
    type: str
    required: true
  port:
    description: TCP port of the Platform API.
    type: int
    default: 8080
  username:
    description:
      - OneFS user. Its role needs C(ISI_PRIV_LOGIN_PAPI) and C(ISI_PRIV_STATISTICS), both read-only.
    type: str
    required: true
  password:
    description:
      - Password of O(username). Never logged and never part of a result or an error message.
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

    # For lookup plugins: the same options, also from variables and the environment.
    PLUGIN = r"""
options:
  host:
    description:
      - Name or address of the OneFS cluster serving the Platform API.
    type: str
    required: true
    env:
      - name: ONEFS_HOST
    vars:
      - name: onefs_host
  port:
    description: TCP port of the Platform API.
    type: int
    default: 8080
    env:
      - name: ONEFS_PORT
    vars:
      - name: onefs_port
  username:
    description:
      - OneFS user. Its role needs C(ISI_PRIV_LOGIN_PAPI) and C(ISI_PRIV_STATISTICS), both read-only.
    type: str
    required: true
    env:
      - name: ONEFS_USERNAME
    vars:
      - name: onefs_username
  password:
    description:
      - Password of O(username). Never logged and never part of a result or an error message.
    type: str
    required: true
    env:
      - name: ONEFS_PASSWORD
    vars:
      - name: onefs_password
  auth:
    description:
      - V(session) logs in once and logs out at the end; V(basic) sends basic authentication with every request.
    type: str
    choices: [session, basic]
    default: session
    env:
      - name: ONEFS_AUTH
    vars:
      - name: onefs_auth
  validate_certs:
    description:
      - Verify the cluster's TLS certificate. Prefer O(ca_path) for self-signed clusters.
    type: bool
    default: true
    env:
      - name: ONEFS_VALIDATE_CERTS
    vars:
      - name: onefs_validate_certs
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the cluster's certificate.
    type: path
    env:
      - name: ONEFS_CA_PATH
    vars:
      - name: onefs_ca_path
  timeout:
    description:
      - Read timeout in seconds for each HTTP request.
    type: float
    default: 30
    env:
      - name: ONEFS_TIMEOUT
    vars:
      - name: onefs_timeout
  retries:
    description:
      - Retries, with exponential backoff, after a connection error or an HTTP 502, 503 or 504 answer.
    type: int
    default: 3
    env:
      - name: ONEFS_RETRIES
    vars:
      - name: onefs_retries
"""
