# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBD snapshots of a volume: created, protected (so clones can be made of them), rolled back,
removed; over the task's one librados session.

A rollback is idempotent: the image is compared with the snapshot first (librbd's ``diff_iterate``
from the snapshot to the image's head, which the ``fast-diff`` object map answers without reading
the data), and only an image that differs is rolled back. Nothing is rolled back or removed while a
client has the image open (a running VM): the snapshot of a running disk is crash-consistent, its
rollback needs the disk stopped.
"""

from __future__ import annotations

from datetime import UTC

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError

try:
    import rbd
except ImportError:  # reported by connection.require_library
    rbd = None

_FORBIDDEN = ("/", "@", " ")
CHUNK = 4 * 1024 * 1024


def check_name(option, value):
    """A snapshot or image name librbd takes as one path segment."""
    if not value or any(c in value for c in _FORBIDDEN) or len(value) > 200:
        raise ValidationError(option, f"{value!r} is not a name (1 to 200 characters, no '/', '@' or space)")


def validate_params(params):
    if not params["pool"]:
        raise ValidationError("pool", "must not be empty")
    check_name("image", params["image"])
    check_name("name", params["name"])
    if params["state"] == "absent" and params.get("rollback"):
        raise ValidationError("rollback", "a snapshot that is to be removed cannot be rolled back to")
    if params["state"] == "absent" and params.get("protected"):
        raise ValidationError("protected", "a snapshot that is to be removed cannot be protected")


def _snapshots(image):
    """Name -> description of every snapshot of the (open) image."""
    out = {}
    for snap in image.list_snaps():
        name = snap["name"]
        try:
            stamp = image.get_snap_timestamp(snap["id"]).replace(tzinfo=UTC).isoformat()
        except (AttributeError, rbd.Error):  # older librbd
            stamp = None
        out[name] = {
            "name": name,
            "id": snap["id"],
            "size": snap["size"],
            "protected": image.is_protected_snap(name),
            "timestamp": stamp,
        }
    return out


def differs(ioctx, image_name, image, snap_name, snap_size):
    """Whether the image's head differs from the snapshot: its size, or the content of an extent
    written since the snapshot (``diff_iterate`` names the candidates, from the object map when the
    image has ``fast-diff``; a rollback rewrites objects with their old content, so each candidate
    is compared, not trusted)."""
    if image.size() != snap_size:
        return True
    candidates = []

    def seen(offset, length, exists):
        candidates.append((offset, length, exists))

    try:
        image.diff_iterate(0, image.size(), snap_name, seen)
    except rbd.Error as exc:
        raise EngineError(f"comparing {image_name} with its snapshot {snap_name}: {exc}") from exc
    if not candidates:
        return False
    with rbd.Image(ioctx, image_name, snapshot=snap_name, read_only=True) as old:
        for offset, length, exists in candidates:
            end = offset + length
            while offset < end:
                n = min(CHUNK, end - offset)
                now = image.read(offset, n) if exists else bytes(n)
                if now != old.read(offset, n):
                    return True
                offset += n
    return False


def _public(snap):
    return {"name": snap["name"], "size": snap["size"], "protected": snap["protected"]} if snap else {}


def converge(session, params, check_mode):
    pool, image_name, name = params["pool"], params["image"], params["name"]
    pools = session.mon_command("osd pool ls") or []
    if pool not in pools:
        raise ValidationError("pool", f"pool {pool!r} does not exist")
    ioctx = session.open_ioctx(pool)
    if params.get("namespace"):
        ioctx.set_namespace(params["namespace"])
    try:
        try:
            image = rbd.Image(ioctx, image_name, read_only=True)
        except rbd.ImageNotFound:
            raise ValidationError("image", f"image {pool}/{image_name} does not exist") from None
        try:
            return _converge_in(ioctx, image, pool, image_name, name, params, check_mode)
        finally:
            image.close()
    except rbd.Error as exc:
        raise EngineError(f"rbd snapshot {pool}/{image_name}@{name}: {exc}") from exc
    finally:
        ioctx.close()


def _watchers(image):
    return sorted(w.get("addr", "") for w in image.watchers_list())


def _converge_in(ioctx, image, pool, image_name, name, params, check_mode):
    snaps = _snapshots(image)
    current = snaps.get(name)
    before = _public(current)
    where = f"{pool}/{image_name}@{name}"
    actions = []

    if params["state"] == "absent":
        if current is None:
            return _result(False, {}, snaps, actions, before, {})
        if current["protected"]:
            children = list(_children(image, name))
            if children:
                raise ValidationError(
                    "state",
                    f"snapshot {where} has {len(children)} clone(s): flatten or remove them first",
                )
            actions.append("unprotect")
        actions.append("remove")
        if not check_mode:
            with rbd.Image(ioctx, image_name) as rw:
                if current["protected"]:
                    rw.unprotect_snap(name)
                rw.remove_snap(name)
        snaps = {k: v for k, v in snaps.items() if k != name}
        return _result(True, {}, snaps, actions, before, {})

    want_protected = params.get("protected")
    after = dict(current) if current else None
    if current is None:
        actions.append("create")
        after = {"name": name, "id": None, "size": image.size(), "protected": False, "timestamp": None}
    if want_protected is not None and after["protected"] != want_protected:
        actions.append("protect" if want_protected else "unprotect")
        after["protected"] = want_protected
    if (
        params.get("rollback")
        and current is not None
        and differs(ioctx, image_name, image, name, current["size"])
    ):
        watchers = _watchers(image)
        if watchers:
            raise ValidationError(
                "rollback",
                f"image {pool}/{image_name} is in use by {', '.join(watchers)}: stop its VM first",
            )
        actions.append("rollback")
    if not actions:
        return _result(False, current, snaps, actions, before, before)
    if not check_mode:
        with rbd.Image(ioctx, image_name) as rw:
            if "create" in actions:
                rw.create_snap(name)
            if "protect" in actions:
                rw.protect_snap(name)
            if "unprotect" in actions:
                if list(_children(rw, name)):
                    raise ValidationError("protected", f"snapshot {where} has clones: it must stay protected")
                rw.unprotect_snap(name)
            if "rollback" in actions:
                rw.rollback_to_snap(name)
        with rbd.Image(ioctx, image_name, read_only=True) as ro:
            snaps = _snapshots(ro)
        after = snaps[name]
    else:
        snaps = dict(snaps, **{name: after})
    return _result(True, after, snaps, actions, before, _public(after))


def _children(image, name):
    image.set_snap(name)
    try:
        return image.list_children()
    finally:
        image.set_snap(None)


def _result(changed, snapshot, snaps, actions, before, after):
    return {
        "changed": changed,
        "snapshot": snapshot or {},
        "snapshots": sorted(snaps, key=lambda n: (snaps[n]["id"] is None, snaps[n]["id"] or 0, n)),
        "actions": actions,
        "diff": make_diff(before, after),
    }
