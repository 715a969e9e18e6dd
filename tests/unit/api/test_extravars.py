"""scloud_api.extravars: what ansible-core's own loader of ``-e @file`` makes of the job's variables."""

from __future__ import annotations

import os
import stat

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template
from scloud_api.extravars import dump_unsafe, write_extravars

VARS = {
    "message": "{{ lookup('pipe', 'id') }}",
    "items": ["{% for i in range(3) %}x{% endfor %}", {"{{ key }}": "{{ value }}", "n": 3}],
    "spec": {"nested": {"deeper": ["{{ 7 * 7 }}"]}, "flag": True, "none": None, "ratio": 1.5},
    "quotes": "a \"b\" 'c'\n# not a comment\t: x",
    "unicode": "é ✓ 雲",
}


def _strings(value, out):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    return out


@pytest.fixture
def loaded(tmp_path):
    path = write_extravars(tmp_path, VARS)
    # As ansible-playbook loads `-e @file`: trusted as template, unless a value is tagged !unsafe.
    return path, DataLoader().load_from_file(str(path), trusted_as_template=True)


def test_values_survive_unchanged(loaded):
    _, data = loaded
    assert data == VARS


def test_no_string_is_trusted_as_template(loaded):
    _, data = loaded
    strings = _strings(data, [])
    assert len(strings) == len(_strings(VARS, [])) > 10
    assert not [s for s in strings if is_trusted_as_template(s)]


def test_the_same_file_without_tags_would_be_templated(tmp_path):
    """The counter-check: the loader trusts untagged strings of an extra-vars file."""
    path = tmp_path / "plain.yml"
    path.write_text(dump_unsafe(VARS).replace("!unsafe ", ""))
    data = DataLoader().load_from_file(str(path), trusted_as_template=True)
    assert is_trusted_as_template(data["message"])


def test_file_is_private(loaded, tmp_path):
    path, _ = loaded
    assert path == tmp_path / "env" / "extravars"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
