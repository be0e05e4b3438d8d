#!/usr/bin/python
# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: onefs_info
short_description: Identity, version, nodes and statistics key metadata of a Dell PowerScale (OneFS) cluster
version_added: "0.1.0"
description:
  - Reads C(/platform/1/cluster/config) over the OneFS Platform API (PAPI) and returns the cluster's name, GUID,
    OneFS version and its nodes (LNN, device ID, up or down).
  - For the given statistics keys, also returns their metadata (description, units, scope, type, update interval and
    cache time) from C(/platform/1/statistics/keys). Unknown keys fail the module with close matches.
  - "Read-only. The normal use is on the controller, with C(delegate_to: localhost) or in a play on C(localhost)."
author:
  - quadstats.stack developers (@quadstats)
extends_documentation_fragment:
  - quadstats.stack.onefs
  - quadstats.stack.attributes.READ_ONLY
options:
  keys:
    description:
      - Statistics keys whose metadata to return.
    type: list
    elements: str
    default: []
  min_interval:
    description:
      - Update interval in seconds for keys whose metadata has no collection policy (protostats, C(cluster.health),
        node counts), and the lowest interval ever reported.
    type: int
    default: 5
seealso:
  - module: quadstats.stack.onefs_stats
"""

EXAMPLES = r"""
- name: Fail when a node of the cluster is down
  quadstats.stack.onefs_info:
    host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    ca_path: /etc/pki/onefs-ca.pem
  delegate_to: localhost
  register: info
  failed_when: info.cluster.nodes_down | length > 0

- name: Show how often two keys are updated
  quadstats.stack.onefs_info:
    host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    keys: [ifs.bytes.free, node.load.1min]
  delegate_to: localhost
  register: meta

- name: Print the intervals
  ansible.builtin.debug:
    msg: "{{ meta.metadata | dict2items | map(attribute='value.interval') | list }}"

# Ad hoc, the password from the environment (never on the command line, which ansible-core echoes
# in its error output); the result is also the fact ansible_facts.quadstats_onefs_info:
#   read -rs ONEFS_PASSWORD && export ONEFS_PASSWORD
#   ansible localhost -m quadstats.stack.onefs_info -a 'hostname=cluster.example.com username=statsreader'
"""

RETURN = r"""
cluster:
  description: Cluster identity.
  returned: success
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      sample: prod-isilon
    guid:
      description: Cluster GUID.
      type: str
    version:
      description: OneFS release.
      type: str
      sample: v9.5.0.0
    build:
      description: OneFS build.
      type: str
    revision:
      description: OneFS revision.
      type: str
    has_quorum:
      description: Whether the cluster has quorum.
      type: bool
    local_lnn:
      description: LNN of the node that answered.
      type: int
    nodes:
      description: Nodes sorted by LNN.
      type: list
      elements: dict
      contains:
        lnn:
          description: Logical node number.
          type: int
        devid:
          description: Device ID (differs from the LNN after node replacements).
          type: int
        is_up:
          description: Whether the node is up.
          type: bool
    nodes_up:
      description: LNNs of the nodes that are up.
      type: list
      elements: int
    nodes_down:
      description: LNNs of the nodes that are down.
      type: list
      elements: int
      sample: []
metadata:
  description: Metadata per requested key.
  returned: success
  type: dict
  sample:
    ifs.bytes.free:
      description: Free bytes on /ifs
      units: bytes
      scope: cluster
      type: int64
      interval: 300
      cache_time: 7
requests:
  description: Number of HTTP requests this run made.
  returned: success
  type: int
ansible_facts:
  description: The result as a namespaced fact, so later plays (and a fact cache) see it without C(register).
  returned: success
  type: dict
  contains:
    quadstats_onefs_info:
      description:
        - Keyed by the cluster's name; the value holds RV(cluster) and RV(metadata) as above.
        - A later call on the same host replaces the whole fact, as facts are not merged.
      type: dict
      sample: {"SimCluster": {"cluster": {"name": "SimCluster", "nodes_down": []}, "metadata": {}}}
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_INVALID_OPTION  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.ansible_params import (  # noqa: E402
    client_from_options,
    connection_argument_spec,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import (  # noqa: E402
    OneFSError,
    OneFSUnknownKeyError,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.metadata import update_interval  # noqa: E402

META_OUT = ("description", "units", "scope", "type", "aggregation_type", "cache_time", "policies")
CLUSTER_OUT = ("name", "guid", "version", "build", "revision", "has_quorum", "local_lnn", "nodes_up", "nodes_down")


def main():
    spec = connection_argument_spec(env_fallback)
    spec.update(
        keys={"type": "list", "elements": "str", "default": [], "no_log": False},
        min_interval={"type": "int", "default": 5},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    try:
        client = client_from_options(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc), error_kind=KIND_INVALID_OPTION)
    try:
        with client:
            identity = client.cluster_identity()
            metadata = {}
            if params["keys"]:
                metas, unknown, hints = client.key_metadata(params["keys"])
                if unknown:
                    raise OneFSUnknownKeyError(unknown, hints)
                for key, meta in metas.items():
                    entry = {name: meta.get(name) for name in META_OUT}
                    entry["interval"] = update_interval(meta, params["min_interval"])
                    metadata[key] = entry
    except OneFSError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind, status=exc.status)
    cluster = {name: identity.get(name) for name in CLUSTER_OUT}
    cluster["nodes"] = [{"lnn": n["lnn"], "devid": n["devid"], "is_up": n["is_up"]} for n in identity["nodes"]]
    facts = {"quadstats_onefs_info": {cluster["name"]: {"cluster": cluster, "metadata": metadata}}}
    module.exit_json(changed=False, cluster=cluster, metadata=metadata, requests=client.requests, ansible_facts=facts)


if __name__ == "__main__":
    main()
