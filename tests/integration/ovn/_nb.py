"""Independent reads of the Northbound database through ``ovn-nbctl --format=json``."""

from __future__ import annotations


def value(datum):
    """An OVSDB JSON datum as plain Python (maps -> dict, sets -> list, uuids -> str)."""
    if isinstance(datum, list) and len(datum) == 2 and datum[0] in ("map", "set", "uuid", "named-uuid"):
        kind, payload = datum
        if kind == "map":
            return {value(k): value(v) for k, v in payload}
        if kind == "set":
            return [value(v) for v in payload]
        return payload
    return datum


def rows(ovn, table, *columns, record=None):
    args = []
    if columns:
        args.append("--columns=" + ",".join(columns))
    args += ["list", table]
    if record:
        args.append(record)
    return [{k: value(v) for k, v in r.items()} for r in ovn.nb_json(*args)]


def one(ovn, table, record, *columns):
    found = rows(ovn, table, *columns, record=record)
    assert len(found) == 1, found
    return found[0]
