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
extends_documentation_fragment:
  - quadstats.stack.containers
options:
  _terms:
    description: Container names or ids. None means every running container.
    type: list
    elements: str
    required: false
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
  description:
    - One dictionary per container, the same shape as the module's
      RV(quadstats.stack.container_stats#module:containers) entries (labels, counters, gauges, rates, state,
      source, timestamp, error).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import connect  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import ContainerError  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler  # noqa: E402


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        engine = None
        try:
            engine = connect(self.get_option("engine"), self.get_option("socket"), timeout=self.get_option("timeout"))
            sampler = ContainerSampler(engine, self.get_option("source"), self.get_option("metrics"))
            names = [str(name) for name in self._flatten(terms or [])]
            return sampler.collect(names, self.get_option("labels"), self.get_option("sample_seconds"))
        except ContainerError as exc:
            raise AnsibleLookupError(str(exc)) from exc
        finally:
            if engine is not None:
                engine.close()
