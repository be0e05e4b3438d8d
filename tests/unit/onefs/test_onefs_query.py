"""Batching statistics/current by URL length (pure)."""

from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import query
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, GROUPS, expand

GOSTATS_KEYS = expand(groups=GROUP_NAMES)


def keys_of(target):
    return parse_qs(urlsplit(target).query)["key"]


def test_gostats_set_is_116_keys_in_13_groups():
    assert len(GROUPS) == 13
    assert len(GOSTATS_KEYS) == 116


def test_116_keys_fit_one_request_at_8000():
    batches = query.plan_batches(GOSTATS_KEYS)
    assert len(batches) == 1 == query.minimum_requests(GOSTATS_KEYS)
    target, keys = batches[0]
    assert keys == GOSTATS_KEYS
    assert keys_of(target) == GOSTATS_KEYS
    qs = parse_qs(urlsplit(target).query)
    assert qs["devid"] == ["all"]
    assert qs["degraded"] == ["true"]
    assert qs["show_nodes"] == ["true"]


@pytest.mark.parametrize("limit", [400, 700, 1000, 2000, 3000])
def test_batches_never_exceed_limit_and_cover_keys_once(limit):
    batches = query.plan_batches(GOSTATS_KEYS, limit)
    assert all(len(target) <= limit for target, _keys in batches)
    assert [k for _target, ks in batches for k in ks] == GOSTATS_KEYS
    assert [k for t, _keys in batches for k in keys_of(t)] == GOSTATS_KEYS
    minimum = query.minimum_requests(GOSTATS_KEYS, limit)
    assert minimum <= len(batches) <= minimum + 1


def test_key_longer_than_budget_is_an_error():
    with pytest.raises(ValueError, match="too long"):
        query.plan_batches(["x" * 500], 300)


def test_invalid_key_message_parsing():
    assert query.invalid_keys_from_message("Invalid key: 'node.bogus'") == ["node.bogus"]
    assert query.invalid_keys_from_message("something else") == []


def test_expand_dedupes_and_rejects_unknown_group():
    assert expand(["cluster.health"], ["cluster_health_stats"]) == GROUPS["cluster_health_stats"]
    with pytest.raises(ValueError, match="unknown key group"):
        expand(groups=["nope"])
