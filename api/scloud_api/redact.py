"""Redaction of runner events before they are stored: no_log results and secret-looking variables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .catalogue import SECRET_NAME

MASK = "********"
CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        if value.get("_ansible_no_log") is True:
            return {"censored": CENSORED, "changed": value.get("changed", False)}
        out = {}
        for k, v in value.items():
            if (
                isinstance(k, str)
                and SECRET_NAME.search(k)
                and isinstance(v, (str, int, float, list, dict))
                and not isinstance(v, bool)
                and v not in ("", None, [], {})
            ):
                out[k] = MASK
            else:
                out[k] = _walk(v, secrets)
        return out
    if isinstance(value, list):
        return [_walk(v, secrets) for v in value]
    if isinstance(value, str):
        return mask_text(value, secrets)
    return value


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and s in text:
            text = text.replace(s, MASK)
    return text


def secret_values(extra_vars: dict[str, Any], secret_names: Iterable[str]) -> list[str]:
    """The string values (4+ chars) of variables that are secret by name or by the catalogue."""
    names = set(secret_names)
    values = []
    for name, value in extra_vars.items():
        if name in names or SECRET_NAME.search(name):
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) >= 4:
                values.append(str(value))
    # Longest first, so that a secret containing another is masked whole.
    return sorted(set(values), key=len, reverse=True)


def redact_event(event: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    event = dict(event)
    data = dict(event.get("event_data") or {})
    res = data.get("res")
    if isinstance(res, dict) and res.get("_ansible_no_log"):
        data["res"] = {"censored": CENSORED, "changed": res.get("changed", False)}
    event["event_data"] = _walk(data, secrets)
    if isinstance(event.get("stdout"), str):
        event["stdout"] = mask_text(event["stdout"], secrets)
    return event


def redact_vars(extra_vars: dict[str, Any], secret_names: Iterable[str]) -> dict[str, Any]:
    names = set(secret_names)
    return {k: (MASK if (k in names or SECRET_NAME.search(k)) else v) for k, v in extra_vars.items()}
