import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import rbd_image
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError


def test_feature_bits_round_trip():
    assert rbd_image.bits_from_features(rbd_image.DEFAULT_FEATURES) == 61  # rbd_default_features
    assert rbd_image.features_from_bits(61) == sorted(rbd_image.DEFAULT_FEATURES)


@pytest.mark.parametrize(
    ("current", "desired", "enable", "disable"),
    [
        (
            ["layering"],
            ["layering", "exclusive-lock", "object-map", "fast-diff"],
            ["exclusive-lock", "object-map", "fast-diff"],
            [],
        ),
        (
            ["layering", "exclusive-lock", "object-map", "fast-diff"],
            ["layering"],
            [],
            ["fast-diff", "object-map", "exclusive-lock"],
        ),
        (["layering", "deep-flatten"], ["layering"], [], ["deep-flatten"]),
        (["layering"], ["layering"], [], []),
    ],
)
def test_plan_features_orders_dependencies(current, desired, enable, disable):
    assert rbd_image.plan_features(current, desired) == (enable, disable)


@pytest.mark.parametrize(
    ("current", "desired"),
    [(["layering"], []), ([], ["layering"]), (["exclusive-lock"], ["exclusive-lock", "deep-flatten"])],
)
def test_plan_features_refuses_immutable(current, desired):
    with pytest.raises(ValidationError) as err:
        rbd_image.plan_features(current, desired)
    assert err.value.option == "features" and "cannot be changed on an existing image" in err.value.msg


@pytest.mark.parametrize(
    ("current", "desired", "allow", "expected"),
    [(10, 20, False, True), (10, 10, False, False), (20, 10, True, True)],
)
def test_plan_resize(current, desired, allow, expected):
    assert rbd_image.plan_resize(current, desired, allow) is expected


def test_shrink_needs_allow_shrink():
    with pytest.raises(ValidationError) as err:
        rbd_image.plan_resize(20, 10, False)
    assert err.value.option == "size" and "needs allow_shrink: true" in err.value.msg


def params(**over):
    p = {
        "pool": "rbd",
        "name": "disk",
        "state": "present",
        "size": "10G",
        "features": None,
        "allow_shrink": False,
    }
    p.update(over)
    return p


@pytest.mark.parametrize(
    ("over", "option", "rule"),
    [
        ({"size": "10Q"}, "size", "unknown unit 'Q'"),
        ({"size": -1}, "size", "must be >= 1 bytes"),
        ({"size": "-1"}, "size", "is not a size"),
        ({"size": 0}, "size", "must be >= 1 bytes"),
        ({"size": None}, "size", "is required"),
        ({"name": "a/b"}, "name", "is not an image name"),
        ({"pool": ""}, "pool", "must not be empty"),
        ({"features": ["object-map"]}, "features", "object-map requires exclusive-lock"),
        ({"features": ["striping"]}, "features", "set by Ceph itself"),
        ({"features": ["nope"]}, "features", "unknown feature(s) nope"),
    ],
)
def test_validate_params(over, option, rule):
    with pytest.raises(ValidationError) as err:
        rbd_image.validate_params(params(**over))
    assert err.value.option == option and rule in err.value.msg
