# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils import errors


def test_error_dict_drops_none_fields_and_keeps_order():
    assert errors.error_dict("not_found", "no such key", key="a.b", node=None) == {
        "kind": "not_found",
        "message": "no such key",
        "key": "a.b",
    }


def test_base_error_kind_message_status_and_dict():
    class Refused(errors.QuadstatsError):
        kind = errors.KIND_PERMISSION

    exc = Refused("refused /x for user 'u'", status=403)
    assert str(exc) == "refused /x for user 'u'"
    assert exc.kind == "permission"
    assert exc.to_dict(container="web") == {
        "kind": "permission",
        "message": "refused /x for user 'u'",
        "status": 403,
        "container": "web",
    }
    assert errors.QuadstatsError("x", kind=errors.KIND_TIMEOUT).kind == "timeout"


@pytest.mark.parametrize("name", [n for n in dir(errors) if n.startswith("KIND_")])
def test_every_kind_constant_is_in_the_closed_set(name):
    assert getattr(errors, name) in errors.KINDS
