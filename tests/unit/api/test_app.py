"""The JSON body check of scloud_api.app (pure logic; the API tier tests it over HTTP)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scloud_api.app import BodyRefused, check_json_body

# Text with the characters that matter: NUL, lone surrogates, a pair's halves, a backslash, "u".
TEXT = st.text(alphabet=st.sampled_from(["a", "u", "\\", "\x00", "\ud800", "\udfff", "\U0001f600", "é"]))
DOC = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
from scloud_api.settings import Settings


def bad(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return any(map(bad, value))
    if isinstance(value, dict):
        return any(bad(k) or bad(v) for k, v in value.items())
    return False


@settings(max_examples=600, deadline=None)
@given(DOC, st.booleans())
def test_refused_exactly_when_a_string_is_unstorable(doc, ascii_only):
    # Both spellings: \uXXXX escapes (ensure_ascii) and raw UTF-8, surrogates as their raw bytes.
    body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    # Judged on what the API would store: escaped halves side by side ("\ud800\udfff") are a pair.
    if bad(json.loads(body)):
        with pytest.raises(BodyRefused) as exc:
            check_json_body(body, 64)
        assert exc.value.status == 422 and exc.value.errors[0]["rule"] == "characters"
        json.dumps(exc.value.errors).encode()  # the answer itself is valid UTF-8
    else:
        check_json_body(body, 64)


def test_depth_and_constants():
    check_json_body(b"[" * 64 + b"]" * 64, 64)
    for body in (b"[" * 65 + b"]" * 65, b"[" * 50_000 + b"]" * 50_000):
        with pytest.raises(BodyRefused) as exc:
            check_json_body(body, 64)
        assert (exc.value.status, exc.value.code) == (400, "malformed_json")
    for body in (b"[NaN]", b'{"a": -Infinity}', b'"\xff"'):
        with pytest.raises(BodyRefused) as exc:
            check_json_body(body, 64)
        assert (exc.value.status, exc.value.code) == (400, "malformed_json")
    check_json_body(b'{"playbook": ', 64)  # invalid JSON: FastAPI's own 400, with the position


def test_openapi_documents_every_error_as_a_problem():
    from scloud_api.app import create_app

    spec = create_app(Settings(state_dir="/nonexistent")).openapi()
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for code, resp in op["responses"].items():
                if code.startswith(("4", "5")) and code != "503":
                    ref = resp["content"]["application/problem+json"]["schema"]["$ref"]
                    assert ref.endswith("/Problem"), (method, path, code)
            if path != "/healthz":
                assert op.get("security"), (method, path)
