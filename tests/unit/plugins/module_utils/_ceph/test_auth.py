import pytest
from ansible_collections.scloud.stack.plugins.module_utils._ceph import auth
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError


def test_caps_whitespace_normalised_and_sorted():
    assert auth.normalise_caps({"osd": " profile  rbd ", "mon": "allow r"}) == {
        "mon": "allow r",
        "osd": "profile rbd",
    }
    assert list(auth.normalise_caps({"osd": "a", "mgr": "b", "mon": "c"})) == ["mgr", "mon", "osd"]


def test_caps_args_and_keyring_text():
    caps = {"osd": "profile rbd", "mon": "profile rbd"}
    assert auth.caps_args(caps) == ["mon", "profile rbd", "osd", "profile rbd"]
    text = auth.keyring_text("client.x", "KEY==", caps)
    assert text == '[client.x]\n\tkey = KEY==\n\tcaps mon = "profile rbd"\n\tcaps osd = "profile rbd"\n'


@pytest.mark.parametrize(
    ("over", "option", "rule"),
    [
        ({"name": "cinder"}, "name", "not an entity name"),
        ({"name": "user.x"}, "name", "not an entity name"),
        ({"caps": {"rgw": "allow"}}, "caps", "'rgw' is not a service"),
        ({"caps": {"mon": "  "}}, "caps", "must be a non-empty string"),
        ({"dest": "/no/such/dir/keyring"}, "dest", "does not exist"),
    ],
)
def test_validate_params(over, option, rule):
    p = {"name": "client.x", "state": "present", "caps": None, "dest": None}
    p.update(over)
    with pytest.raises(ValidationError) as err:
        auth.validate_params(p)
    assert err.value.option == option and rule in err.value.msg


def test_write_keyring_is_0600(tmp_path):
    dest = tmp_path / "k"
    auth.write_keyring(str(dest), "secret\n")
    assert dest.read_text() == "secret\n" and (dest.stat().st_mode & 0o777) == 0o600
