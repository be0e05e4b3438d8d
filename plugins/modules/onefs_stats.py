#!/usr/bin/python
# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: onefs_stats
short_description: Read current statistics from a Dell PowerScale (OneFS) cluster
version_added: "0.1.0"
description:
  - Reads C(/platform/1/statistics/current) over the OneFS Platform API (PAPI) for the given keys and key groups and
    returns them as normalised samples (name, field, labels, value, unit, timestamp), plus per-key, per-node errors.
  - Keys are checked against the cluster's key metadata first, so one unknown key never sinks the whole query.
    Requests are batched by URL length (never above about 8 KB), with C(devid=all), C(degraded=true) and
    C(show_nodes=true).
  - Row errors are classified. Degraded results (code 3) are kept and flagged when O(include_degraded=true), transient
    errors (codes 4 to 8) and permanent ones (1, 2, 9, 10) give no sample; all of them are listed in RV(errors).
  - "Read-only. The normal use is on the controller, with C(delegate_to: localhost) or in a play on C(localhost);
    the module only needs the Python standard library, so it also runs on any target with python3."
author:
  - quadstats.stack developers (@quadstats)
extends_documentation_fragment:
  - quadstats.stack.onefs
  - quadstats.stack.attributes.READ_ONLY
options:
  keys:
    description:
      - Statistics keys to read, for example V(cluster.cpu.user.avg) or V(node.load.1min).
    type: list
    elements: str
    default: []
  groups:
    description:
      - Named key groups shipped with the collection (the stat groups of the gostats example configuration).
      - Their keys are added after O(keys); duplicates are read once.
    type: list
    elements: str
    default: []
    choices:
      - cluster_cpu_stats
      - cluster_network_traffic_stats
      - cluster_client_activity_stats
      - cluster_health_stats
      - ifs_space_stats
      - ifs_rate_stats
      - node_load_stats
      - node_disk_stats
      - node_net_stats
      - cluster_disk_rate_stats
      - cluster_proto_stats
      - cache_stats
      - heat_total_stats
  nodes:
    description:
      - V(all), or a list of node LNNs whose node-scoped samples are returned.
      - Cluster-scoped samples are always returned.
    type: list
    elements: raw
    default: [all]
  include_degraded:
    description:
      - Return degraded values (error code 3, some node input missing) as samples with C(degraded=true).
      - When V(false) they are only listed in RV(errors).
    type: bool
    default: false
  strict_keys:
    description:
      - Fail when a key is unknown to the cluster, naming the bad keys and close matches.
      - When V(false), unknown keys are reported in RV(errors) and RV(unknown_keys) with a warning, and the other keys
        are still read.
    type: bool
    default: true
  formats:
    description:
      - Also render the samples as V(prometheus) text (gostats-compatible C(isilon_stat_...) names) or V(influx) line
        protocol (measurement = key, tags C(cluster) and C(node)), each as one string.
    type: list
    elements: str
    choices: [prometheus, influx]
    default: []
notes:
  - The C(node) label is the node's LNN (logical node number), not its device ID; RV(errors) carries both.
seealso:
  - module: quadstats.stack.onefs_info
  - plugin: quadstats.stack.onefs_stat
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Read CPU and free space from the cluster, on the controller
  quadstats.stack.onefs_stats:
    host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    ca_path: /etc/pki/onefs-ca.pem
    keys:
      - cluster.cpu.user.avg
      - ifs.percent.free
  delegate_to: localhost
  register: onefs

- name: Show the user CPU in percent (the unit is permil)
  ansible.builtin.debug:
    msg: "{{ (onefs.stats | selectattr('name', 'equalto', 'cluster.cpu.user.avg') | first).value / 10 }} %"

- name: Read the gostats node load and disk groups for nodes 1 and 2, degraded values included
  quadstats.stack.onefs_stats:
    host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    groups: [node_load_stats, node_disk_stats]
    nodes: [1, 2]
    include_degraded: true
  delegate_to: localhost
  register: node_stats

- name: Render protocol statistics as Prometheus text
  quadstats.stack.onefs_stats:
    host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    groups: [cluster_proto_stats]
    formats: [prometheus]
  delegate_to: localhost
  register: proto

# Ad hoc, with the credentials in the environment instead of on the command line
# (ansible-core echoes -a arguments in its error output):
#   read -rs ONEFS_PASSWORD && export ONEFS_PASSWORD ONEFS_USERNAME=statsreader
#   ansible localhost -m quadstats.stack.onefs_stats \
#     -a 'hostname=cluster.example.com ca_path=/etc/pki/onefs-ca.pem groups=cluster_health_stats'
# or with a vaulted vars file holding onefs_password:
#   ansible localhost --ask-vault-pass -e @onefs-vault.yml -m quadstats.stack.onefs_stats \
#     -a 'hostname=cluster.example.com username=statsreader password={{ onefs_password }} keys=ifs.percent.avail'
# Later plays read the result as ansible_facts.quadstats_onefs (with a fact cache, without register).
- name: Read cluster health; later tasks use the facts
  quadstats.stack.onefs_stats:
    onefs_host: cluster.example.com
    username: statsreader
    password: "{{ vault_onefs_password }}"
    groups: [cluster_health_stats]
  delegate_to: localhost

- name: Nodes down on every cluster read so far
  ansible.builtin.debug:
    msg: "{{ ansible_facts.quadstats_onefs | dict2items | map(attribute='value.cluster.nodes_down') | list }}"
"""

RETURN = r"""
cluster:
  description:
    - Identity of the cluster that answered, with the fields of M(quadstats.stack.onefs_info)'s RV(cluster) named here.
    - C(name), C(version), C(guid), C(nodes_up) and C(nodes_down) (LNNs).
  returned: success
  type: dict
  sample: {"name": "prod-isilon", "version": "v9.5.0.0", "guid": "0007433...", "nodes_up": [1, 2, 3], "nodes_down": []}
stats:
  description:
    - Normalised samples. Node-scoped keys give one sample per up node (label C(node) = LNN); list and dict values
      (protocol, cache, heat, client statistics) give one sample per numeric sub-field, string sub-fields become labels.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The statistics key.
      type: str
      sample: cluster.protostats.nfs
    field:
      description: Numeric sub-field of a multi-field value, null for single values.
      type: str
      sample: op_rate
    labels:
      description: C(cluster) (lower-cased name), C(node) (LNN) for node-scoped keys, plus string sub-fields.
      type: dict
      sample: {"cluster": "prod-isilon", "op_name": "read", "class_name": "read"}
    value:
      description: The number as the API returned it (uint64 counters stay exact).
      type: raw
      sample: 1234.5
    unit:
      description: Unit from the key metadata (for example C(permil), C(bytes), C(operations per second)).
      type: str
      sample: permil
    timestamp:
      description: Epoch seconds at which the cluster computed the value.
      type: int
      sample: 1700000000
    degraded:
      description: True when the value is a degraded result (some node input missing).
      type: bool
      sample: false
errors:
  description: Per key and node problems with the OneFS error code, its meaning and class.
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: V(degraded), V(transient) (retried next cycle), V(permanent), V(unknown), or V(not_found) for a key
        the cluster does not know.
      type: str
    message:
      description: What the code means (for unknown keys, the key with close matches).
      type: str
    key:
      description: The statistics key.
      type: str
    node:
      description: LNN of the node; absent for cluster-scoped keys.
      type: int
      returned: for node-scoped keys
    devid:
      description: Device ID of the node; absent for cluster-scoped keys.
      type: int
      returned: for node-scoped keys
    code:
      description: OneFS row error code (1 to 10), or C(unknown_key).
      type: raw
      sample: 3
    name:
      description: Short name of the code, for example C(degraded), C(stale), C(not_configured), C(unknown_key).
      type: str
    error:
      description: The cluster's own error text for the row.
      type: str
      returned: when the cluster sent one
    kept:
      description: Whether the value was still returned in RV(stats) (degraded with O(include_degraded)).
      type: bool
unknown_keys:
  description: Requested keys the cluster does not know.
  returned: success
  type: list
  elements: str
  sample: []
requests:
  description: Number of HTTP requests this run made (login, identity, metadata, statistics, logout).
  returned: success
  type: int
  sample: 5
prometheus:
  description: Prometheus text exposition of RV(stats).
  returned: when O(formats) contains V(prometheus)
  type: str
influx:
  description: InfluxDB line protocol of RV(stats), one line per point, each ending with a newline.
  returned: when O(formats) contains V(influx)
  type: str
ansible_facts:
  description: The result as a namespaced fact, so later plays (and a fact cache) see it without C(register).
  returned: success
  type: dict
  contains:
    quadstats_onefs:
      description:
        - Keyed by the cluster's name; the value holds RV(cluster), RV(stats), RV(errors) and RV(unknown_keys) as
          above.
        - A later call on the same host replaces the whole fact, as facts are not merged.
      type: dict
      sample: {"SimCluster": {"cluster": {"name": "SimCluster"}, "stats": [], "errors": [], "unknown_keys": []}}
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
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import to_influx, to_prometheus  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, expand  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler, parse_nodes  # noqa: E402

FACT_FIELDS = ("cluster", "stats", "errors", "unknown_keys")


def main():
    spec = connection_argument_spec(env_fallback)
    spec.update(
        keys={"type": "list", "elements": "str", "default": [], "no_log": False},
        groups={"type": "list", "elements": "str", "default": [], "choices": list(GROUP_NAMES)},
        nodes={"type": "list", "elements": "raw", "default": ["all"]},
        include_degraded={"type": "bool", "default": False},
        strict_keys={"type": "bool", "default": True},
        formats={"type": "list", "elements": "str", "default": [], "choices": ["prometheus", "influx"]},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_one_of=[("keys", "groups")],
    )
    params = module.params
    keys = expand(params["keys"], params["groups"])
    try:
        nodes = parse_nodes(params["nodes"])
        client = client_from_options(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc), error_kind=KIND_INVALID_OPTION)
    try:
        with client:
            sampler = OneFSSampler(client, include_degraded=params["include_degraded"], nodes=nodes)
            result = sampler.read(keys)
            if result["unknown_keys"] and params["strict_keys"]:
                raise OneFSUnknownKeyError(result["unknown_keys"], result["suggestions"])
    except OneFSError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind, status=exc.status)
    if result["unknown_keys"]:
        module.warn(str(OneFSUnknownKeyError(result["unknown_keys"], result["suggestions"])))
    out = {name: result[name] for name in FACT_FIELDS}
    facts = {"quadstats_onefs": {result["cluster"]["name"]: dict(out)}}
    out.update(changed=False, requests=client.requests, ansible_facts=facts)
    if "prometheus" in params["formats"]:
        out["prometheus"] = to_prometheus(
            result["stats"], {k: m.get("description") for k, m in result["metadata"].items()}
        )
    if "influx" in params["formats"]:
        out["influx"] = to_influx(result["stats"])
    module.exit_json(**out)


if __name__ == "__main__":
    main()
