"""Pure logic of rbd_snapshot, rbd_backup and rbd_restore: names, options and retention, refused
before any session opens (the modules' integration tests prove the rest on a real cluster)."""

from __future__ import annotations

import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rbd_backup, rbd_snapshot
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError


def backup_params(**over):
    return {
        "pool": "volumes",
        "image": "db1",
        "snapshot": "n1",
        "backup_pool": "backups",
        "backup_image": None,
        "state": "present",
        "keep": None,
        "allow_same_pool": False,
        **over,
    }


@pytest.mark.parametrize(
    ("keep", "snaps", "dropped"),
    [
        (None, ["a", "b", "c"], []),
        (3, ["a", "b", "c"], []),
        (2, ["a", "b", "c"], ["a"]),
        (1, ["a", "b", "c"], ["a", "b"]),
    ],
)
def test_retention_keeps_the_newest(keep, snaps, dropped):
    assert rbd_backup._retention(snaps, keep) == dropped


@pytest.mark.parametrize(
    ("over", "option", "fragment"),
    [
        ({"backup_pool": "volumes"}, "backup_pool", "another pool"),
        ({"keep": 0}, "keep", "1 or more"),
        ({"snapshot": None}, "snapshot", "is required"),
        ({"snapshot": "a@b"}, "snapshot", "not a name"),
        ({"image": "x/y"}, "image", "not a name"),
        ({"backup_image": "has space"}, "backup_image", "not a name"),
        ({"pool": ""}, "pool", "must not be empty"),
    ],
)
def test_bad_backup_input_names_the_option(over, option, fragment):
    with pytest.raises(ValidationError) as err:
        rbd_backup.validate_backup(backup_params(**over))
    assert err.value.option == option and fragment in str(err.value)


def test_same_pool_only_when_asked_and_absent_needs_no_snapshot():
    rbd_backup.validate_backup(backup_params(backup_pool="volumes", allow_same_pool=True))
    rbd_backup.validate_backup(backup_params(state="absent", snapshot=None))
    assert rbd_backup.backup_name("volumes", "db1") == "volumes.db1"


@pytest.mark.parametrize(
    ("over", "option"),
    [
        ({"state": "absent", "rollback": True}, "rollback"),
        ({"state": "absent", "protected": True}, "protected"),
        ({"name": ""}, "name"),
        ({"image": "a b"}, "image"),
    ],
)
def test_bad_snapshot_input_names_the_option(over, option):
    params = {"pool": "volumes", "image": "db1", "name": "s1", "state": "present", "rollback": False, **over}
    with pytest.raises(ValidationError) as err:
        rbd_snapshot.validate_params(params)
    assert err.value.option == option
