from ansible_collections.scloud.stack.plugins.module_utils._common.diff import (
    changed_fields,
    make_diff,
    merged,
)


def test_changed_fields_ignores_unmanaged():
    assert changed_fields({"size": 3, "min_size": 2}, {"size": 3, "min_size": None}) == []
    assert changed_fields({"size": 3, "min_size": 2}, {"size": 3, "min_size": 1}) == ["min_size"]
    assert changed_fields(None, {"size": 3}) == ["size"]


def test_make_diff_absent_sides_are_empty():
    assert make_diff(None, {"a": 1}) == {"before": {}, "after": {"a": 1}}
    assert make_diff({"a": 1}, None) == {"before": {"a": 1}, "after": {}}


def test_merged_predicts_result():
    assert merged({"a": 1, "b": 2}, {"b": 3, "c": None}) == {"a": 1, "b": 3}
