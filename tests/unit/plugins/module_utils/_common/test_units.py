import pytest
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._common.units import format_size, parse_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1073741824, 1073741824),
        ("512", 512),
        ("512M", 512 * 1024**2),
        ("10G", 10 * 1024**3),
        ("10GiB", 10 * 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        (" 2 t ", 2 * 1024**4),
        ("4k", 4096),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("10Q", "unknown unit"),
        (-1, "must be >= 0"),
        ("-1", "is not a size"),
        ("G", "is not a size"),
        (True, "is not a size"),
        ("", "is not a size"),
    ],
)
def test_parse_size_rejects(value, rule):
    with pytest.raises(ValidationError) as err:
        parse_size(value, option="size")
    assert err.value.option == "size"
    assert rule in err.value.msg
    assert err.value.msg.startswith("size: ")


def test_minimum_is_named():
    with pytest.raises(ValidationError, match=r"memory: '512K' must be >= 1048576 bytes"):
        parse_size("512K", option="memory", minimum=1024**2)


@pytest.mark.parametrize(
    ("num", "text"), [(10 * 1024**3, "10G"), (1536, "1536"), (3 * 1024**2, "3M"), (1, "1")]
)
def test_format_size(num, text):
    assert format_size(num) == text
