# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a plain YAML data file quickly: libyaml's parser, a small builder instead of PyYAML's constructor.

PyYAML's constructor is pure Python even with the libyaml (``CSafeLoader``) parser and spends
about 1 s building a 10,000-node cluster file; this module builds the same objects from libyaml's
parse events in about 0.15 s. It gives exactly what ``yaml.safe_load`` gives for the YAML a data
file uses: mappings, sequences, anchors and aliases, plain scalars resolved with PyYAML's own
implicit resolvers (int, float, bool, null) and quoted strings. Anything else (explicit tags, the
``<<`` merge key, complex keys, timestamps, several documents) makes :func:`load` fall back to
``yaml.load`` with the safe loader, so the result is always the safe loader's.
"""

from __future__ import annotations

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BASE_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_RESOLVERS = yaml.SafeLoader.yaml_implicit_resolvers
_STR = "tag:yaml.org,2002:str"
_SIMPLE_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_CONSTRUCTOR = yaml.SafeLoader("")  # only its construct_yaml_* methods are used


class _Unsupported(Exception):
    """The file uses YAML the fast path does not build; the safe loader does it instead."""


def _resolve(value):
    """The tag PyYAML's safe loader gives a plain scalar (same table, same order)."""
    for tag, regexp in _RESOLVERS.get(value[:1] if value else "", ()):
        if regexp.match(value):
            return tag
    return _STR


def _scalar(event):
    value = event.value
    if event.tag is not None and event.tag != "!":
        raise _Unsupported(event.tag)
    if event.style or not event.implicit[0]:
        return value  # quoted or block scalar: a string (libyaml gives plain scalars style '')
    tag = _resolve(value)
    if tag == _STR:
        return value
    if tag not in _SIMPLE_TAGS:
        raise _Unsupported(tag)  # timestamps, merge keys, values: the safe loader's business
    node = yaml.ScalarNode(tag, value)
    return {
        "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
        "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
        "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
        "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    }[tag](node)


def _build(events):
    stack = []  # open containers
    keys = []  # per open mapping: the pending key, or _NO_KEY
    anchors = {}
    root = _NO_KEY
    documents = 0
    for event in events:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            value = _scalar(event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.tag is not None and event.tag != "!":
                raise _Unsupported(event.tag)
            value = {} if kind is yaml.MappingStartEvent else []
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise _Unsupported(f"alias {event.anchor}")
            value = anchors[event.anchor]
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            if kind is yaml.MappingEndEvent and keys[-1] is not _NO_KEY:
                raise _Unsupported("mapping ends after a key")
            stack.pop()
            keys.pop()
            continue
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Unsupported("several documents")
            continue
        else:  # stream start/end, document end
            continue

        anchor = getattr(event, "anchor", None) if kind is not yaml.AliasEvent else None
        if anchor is not None:
            anchors[anchor] = value
        if not stack:
            root = value
        elif isinstance(stack[-1], list):
            stack[-1].append(value)
        elif keys[-1] is _NO_KEY:
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                raise _Unsupported("complex mapping key")
            if value == "<<" and kind is yaml.ScalarEvent and not event.style:
                raise _Unsupported("merge key")
            keys[-1] = value
        else:
            stack[-1][keys[-1]] = value
            keys[-1] = _NO_KEY
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            stack.append(value)
            keys.append(_NO_KEY)
    return None if root is _NO_KEY else root


_NO_KEY = object()


def load(data):
    """Parse ``data`` (bytes or str, the whole file) as ``yaml.safe_load`` would.

    Raises ``yaml.YAMLError`` on bad YAML, as the safe loader does.
    """
    try:
        return _build(yaml.parse(data, Loader=_BASE_LOADER))
    except _Unsupported:
        return yaml.load(data, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
