"""The fast YAML loader gives exactly what yaml.safe_load gives."""

import math

import pytest
import yaml

from plugins.plugin_utils import fast_yaml

DOCUMENTS = [
    "a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 1_000\n",
    "f: 1.5\ng: .inf\nh: -.Inf\ni: 6.02e+23\n",
    "t: [true, True, yes, No, off, ON]\n",
    "n: [~, null, Null, '']\nempty:\n",
    "s: ['1', \"2\", 'true', node1, 10.0.0.1, 1.2.3, /dev/sdb, 'a: b']\n",
    "block: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\n",
    "base: &b {x: 1, y: [1, 2]}\nref: *b\nlist: [*b, *b]\n",
    "merged:\n  base: &m {x: 1}\n  child:\n    <<: *m\n    y: 2\n",
    "when: 2001-12-14\n",
    "tagged: !!str 123\nset: !!set {a, b}\n",
    "1: int key\ntrue: bool key\nnull: null key\n",
    "- just\n- a\n- list\n",
    "scalar\n",
    "",
    "dup: 1\ndup: 2\n",
    "plugin: scloud.stack.cluster\ncluster: {name: lab, pool_size: 3}\ndatacenters:\n  - name: dc1\n"
    "    racks:\n      - name: r1\n        nodes:\n"
    "          - {name: n1, address: 10.0.0.1, roles: [mgmt]}\n",
]


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_same_as_safe_load(text):
    expected = yaml.safe_load(text)
    got = fast_yaml.load(text.encode())
    assert got == expected
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert _same(got[key], value), key


def test_anchor_is_shared_like_safe_load():
    got = fast_yaml.load(b"a: &x [1]\nb: *x\n")
    assert got["a"] is got["b"]


def test_nan():
    assert math.isnan(fast_yaml.load(b"x: .nan\n")["x"])


def test_bad_yaml_raises_yaml_error():
    with pytest.raises(yaml.YAMLError):
        fast_yaml.load(b"a: [1, 2\n")


def test_several_documents_fall_back_and_fail_like_safe_load():
    with pytest.raises(yaml.YAMLError):
        fast_yaml.load(b"a: 1\n---\nb: 2\n")


def test_complex_key_fails_like_safe_load():
    with pytest.raises(yaml.YAMLError):
        fast_yaml.load(b"? [complex, key]\n: value\n")
