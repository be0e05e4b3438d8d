# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: onefs_stat
short_description: Current values of OneFS (PowerScale) statistics keys
version_added: "0.1.0"
description:
  - Reads the current value of each statistics key (term) from a OneFS cluster's Platform API, on the controller,
    with the same core as the M(quadstats.stack.onefs_stats) module (one batched request for all terms).
  - A cluster-scoped key returns its value (a number for scalar keys); a node-scoped key returns a mapping of node LNN
    to value. Keys whose values are lists or dicts (protocol, cache, heat statistics) return, per node, the list of
    their samples (C(field), C(labels), C(value)).
  - Connection options come from the lookup's keyword arguments, from the variables C(onefs_host), C(onefs_username)
    and so on, or from the environment (C(ONEFS_HOST), C(ONEFS_USERNAME), C(ONEFS_PASSWORD), ...).
author:
  - quadstats.stack developers (@quadstats)
extends_documentation_fragment:
  - quadstats.stack.onefs
  - quadstats.stack.onefs.plugin
options:
  _terms:
    description: Statistics keys.
    type: list
    elements: str
    required: true
  include_degraded:
    description:
      - Return degraded values (some node input missing). Otherwise a key without a usable value returns null
        (or has no entry for that node).
    type: bool
    default: false
notes:
  - Unknown keys fail the lookup with a message listing them and close matches.
seealso:
  - module: quadstats.stack.onefs_stats
"""

EXAMPLES = r"""
- name: Cluster user CPU (permil) and per-node 1-minute load (cents), connection from variables
  vars:
    onefs_host: cluster.example.com
    onefs_username: statsreader
    onefs_password: "{{ vault_onefs_password }}"
    onefs_ca_path: /etc/pki/onefs-ca.pem
  ansible.builtin.debug:
    msg:
      - "CPU user: {{ lookup('quadstats.stack.onefs_stat', 'cluster.cpu.user.avg') / 10 }} %"
      - "Load per node: {{ lookup('quadstats.stack.onefs_stat', 'node.load.1min') }}"

- name: Several keys at once, connection options as keyword arguments
  ansible.builtin.set_fact:
    space: "{{ query('quadstats.stack.onefs_stat', 'ifs.bytes.free', 'ifs.percent.free',
               host='cluster.example.com', username='statsreader', password=vault_onefs_password,
               ca_path='/etc/pki/onefs-ca.pem') }}"
"""

RETURN = r"""
_raw:
  description:
    - One entry per term. Cluster-scoped keys give their value; node-scoped keys give a mapping of LNN to value;
      keys without a usable value give null.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.ansible_params import (  # noqa: E402
    CONNECTION_OPTIONS,
    client_from_options,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError, OneFSUnknownKeyError  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import scalar_view  # noqa: E402

VARIABLES = tuple("onefs_" + name for name in CONNECTION_OPTIONS)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        var_options = None
        if variables is not None:
            # Plugin variables may hold templates (for example a vaulted password variable).
            var_options = dict(variables)
            for name in VARIABLES:
                if name in var_options:
                    var_options[name] = self._templar.template(var_options[name])
        self.set_options(var_options=var_options, direct=kwargs)
        keys = [str(t) for t in terms]
        if not keys:
            return []
        options = {name: self.get_option(name) for name in CONNECTION_OPTIONS}
        try:
            client = client_from_options(options)
            with client:
                result = OneFSSampler(client, include_degraded=self.get_option("include_degraded")).read(keys)
        except (OneFSError, ValueError) as exc:
            raise AnsibleLookupError(str(exc)) from None
        if result["unknown_keys"]:
            raise AnsibleLookupError(str(OneFSUnknownKeyError(result["unknown_keys"], result["suggestions"])))
        view = scalar_view(result["stats"])
        return [view.get(key) for key in keys]
