# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared ``attributes`` of the collection's read-only modules (they gather facts, never change a thing)."""

from __future__ import annotations


class ModuleDocFragment:
    # Modules that only read: statistics and facts from a cluster, an engine or a host.
    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode and returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  facts:
    support: full
    description: The result is also returned as namespaced C(ansible_facts) (see RV(ansible_facts)).
"""
