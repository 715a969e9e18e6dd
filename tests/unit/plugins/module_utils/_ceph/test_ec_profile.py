import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import ec_profile
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError

from tests.unit.plugins.module_utils._ceph._samples import crush


def params(**over):
    p = {
        "name": "p",
        "state": "present",
        "k": 2,
        "m": 1,
        "plugin": "jerasure",
        "technique": None,
        "crush_root": "default",
        "crush_failure_domain": "host",
        "crush_device_class": None,
    }
    p.update(over)
    return p


@pytest.mark.parametrize(
    ("raw", "params_over"),
    [
        # what `osd erasure-code-profile get` shows for Ceph's own default profile
        ({"k": "2", "m": "2", "plugin": "jerasure", "technique": "reed_sol_van"}, {"k": 2, "m": 2}),
        # a profile set with k and m only: Ceph fills in the rest
        (
            {
                "crush-device-class": "",
                "crush-failure-domain": "host",
                "crush-root": "default",
                "jerasure-per-chunk-alignment": "false",
                "k": "2",
                "m": "1",
                "plugin": "jerasure",
                "technique": "reed_sol_van",
                "w": "8",
            },
            {},
        ),
        ({"k": "4", "m": "2", "plugin": "isa"}, {"k": 4, "m": 2, "plugin": "isa"}),
        ({"k": "4", "m": "3", "plugin": "shec", "c": "2"}, {"k": 4, "m": 3, "plugin": "shec"}),
        ({"k": "2", "m": "1", "crush-device-class": "ssd"}, {"crush_device_class": "ssd"}),
    ],
)
def test_defaults_filled_in_by_ceph_compare_equal(raw, params_over):
    assert ec_profile.normalise_profile("p", raw) == ec_profile.desired_profile(params(**params_over))


@pytest.mark.parametrize(
    ("over", "option", "rule"),
    [
        ({"k": 1}, "k", "must be >= 2"),
        ({"m": 0}, "m", "must be >= 1"),
        ({"k": None}, "k", "is required"),
        ({"technique": "cauchy", "plugin": "shec"}, "technique", "not a technique of plugin shec"),
        ({"technique": "x", "plugin": "clay"}, "technique", "plugin clay takes no technique"),
    ],
)
def test_validate_params(over, option, rule):
    with pytest.raises(ValidationError) as err:
        ec_profile.validate_params(params(**over))
    assert err.value.option == option and rule in err.value.msg


@pytest.mark.parametrize(
    ("over", "option", "rule"),
    [
        ({"k": 2, "m": 2}, "k", "k+m=4 must be <= the number of host failure domains under root default (3)"),
        ({"crush_failure_domain": "rack"}, "k", "rack failure domains under root default (2)"),
        ({"crush_device_class": "ssd"}, "k", "under root default class ssd (1)"),
        ({"crush_root": "nowhere"}, "crush_root", "does not exist"),
        ({"crush_failure_domain": "planet"}, "crush_failure_domain", "is not a CRUSH type"),
        ({"crush_device_class": "nvme"}, "crush_device_class", "does not exist"),
    ],
)
def test_validate_against_crush(over, option, rule):
    with pytest.raises(ValidationError) as err:
        ec_profile.validate_against_crush(ec_profile.desired_profile(params(**over)), crush())
    assert err.value.option == option and rule in err.value.msg


def test_fits_when_enough_domains():
    ec_profile.validate_against_crush(ec_profile.desired_profile(params(k=2, m=1)), crush())
    ec_profile.validate_against_crush(
        ec_profile.desired_profile(params(k=1 + 1, m=1, crush_failure_domain="osd")), crush()
    )


def test_profile_arguments():
    args = ec_profile.profile_arguments(ec_profile.desired_profile(params(crush_device_class="hdd")))
    assert args == [
        "k=2",
        "m=1",
        "plugin=jerasure",
        "technique=reed_sol_van",
        "crush-root=default",
        "crush-failure-domain=host",
        "crush-device-class=hdd",
    ]
