# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: container_stats
short_description: Statistics of the controller's (or DOCKER_HOST's) Docker or Podman containers
version_added: "0.1.0"
description:
  - Returns one dictionary per container with its labels, counters, gauges and (with O(sample_seconds) > 0) rates,
    the same shape as the RV(quadstats.stack.container_stats#module:containers) list of the module.
  - Runs on the controller. Local engines are read through their unix socket (cgroup-direct fast path, engine
    API fallback); a C(tcp://) or C(ssh://) O(socket) or C(DOCKER_HOST) needs the C(docker) Python SDK and uses
    the engine API only.
  - Use with P(ansible.builtin.query#lookup) (or C(wantlist=true)) to always get a list.
author:
  - quadstats.stack developers (@quadstats)
options:
  _terms:
    description: Container names or ids. None means every running container.
    type: list
    elements: str
    required: false
  engine:
    description: Which engine to talk to; V(auto) takes the first engine that answers.
    type: str
    choices: [auto, docker, podman]
    default: auto
  socket:
    description:
      - Engine endpoint (C(unix:///run/podman/podman.sock), a path, C(tcp://host:2376), C(ssh://user@host)).
      - When not set, tried in order are C(DOCKER_HOST), the user's podman socket, the system podman socket and
        the Docker socket.
    type: str
  labels:
    description: Only containers whose engine labels contain all these key and value pairs (empty value, key only).
    type: dict
    default: {}
  metrics:
    description: Metric groups to read.
    type: list
    elements: str
    choices: [cpu, memory, network, blkio, pids, state]
    default: [cpu, memory, network, blkio, pids, state]
  sample_seconds:
    description: V(0) reads counters once; a positive value samples twice and adds rates.
    type: float
    default: 0
  source:
    description: V(auto) (cgroups when readable, else the API), V(cgroup) or V(api).
    type: str
    choices: [auto, cgroup, api]
    default: auto
  timeout:
    description: Seconds to wait for each engine API answer.
    type: float
    default: 10
notes:
  - An unknown container name fails the lookup and names it; a container that stops while being sampled comes
    back with C(state=gone) instead of failing.
seealso:
  - module: quadstats.stack.container_stats
"""

EXAMPLES = r"""
- name: Working set of the web container on the controller
  ansible.builtin.debug:
    msg: "{{ (query('quadstats.stack.container_stats', 'web', metrics=['memory']) | first)
             .gauges.memory_working_set_bytes }}"

- name: CPU percent of every running container over one second
  ansible.builtin.debug:
    msg: "{{ query('quadstats.stack.container_stats', sample_seconds=1, metrics=['cpu'])
             | items2dict(key_name='name', value_name='rates') }}"

- name: Through a remote Docker engine (needs the docker SDK on the controller)
  ansible.builtin.debug:
    msg: "{{ query('quadstats.stack.container_stats', socket='ssh://deploy@build01') | map(attribute='name') }}"
"""

RETURN = r"""
_list:
  description: One dictionary per container.
  type: list
  elements: dict
  contains:
    id:
      description: Full container id.
      type: str
    name:
      description: Container name.
      type: str
    state:
      description: C(running), C(gone) or the engine's state of a stopped container.
      type: str
    source:
      description: C(cgroup-v1), C(cgroup-v2), C(api-libpod) or C(api-compat).
      type: str
    labels:
      description: Series labels (id, name, image, and pod, unit, compose_project where present).
      type: dict
    counters:
      description: Cumulative counters (CPU ns, network and block IO bytes and operations, OOM kills).
      type: dict
    gauges:
      description: Current values (memory usage, working set, limit, pids, restart count).
      type: dict
    rates:
      description: CPU percent (100 = one core) and per-second rates when O(sample_seconds) > 0.
      type: dict
"""

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers.collector import Collector  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import connect  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import ContainerStatsError  # noqa: E402


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        sample_seconds = self.get_option("sample_seconds")
        if sample_seconds < 0:
            raise AnsibleLookupError(f"sample_seconds must be 0 or more (got {sample_seconds})")
        engine = None
        try:
            engine = connect(self.get_option("engine"), self.get_option("socket"), timeout=self.get_option("timeout"))
            collector = Collector(engine, self.get_option("source"), self.get_option("metrics"))
            names = [str(name) for name in self._flatten(terms or [])]
            result = collector.collect(names, self.get_option("labels"), sample_seconds)
        except ContainerStatsError as exc:
            raise AnsibleLookupError(str(exc)) from exc
        finally:
            if engine is not None:
                engine.close()
        return [{k: v for k, v in entry.items() if k != "mono_ns"} for entry in result["containers"]]
