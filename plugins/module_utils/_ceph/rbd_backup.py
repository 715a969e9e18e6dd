# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of RBD images into another pool (another CRUSH rule: another failure domain), and
restores from them; over the task's one librados session, the data moving inside this process.

A backup is an image of the backup pool whose snapshots mirror the source's: backing up the
source's snapshot S copies only what changed between the newest snapshot both sides hold and S
(librbd's ``diff_iterate``: what ``rbd export-diff | rbd import-diff`` moves, without the pipe),
then takes S on the backup. The first backup copies the allocated extents only (sparse). ``keep``
bounds the backup's snapshots (the oldest go; the newest, the base of the next increment, stays).

A restore writes a backup's snapshot S into an image and takes S there too, so that a second run
sees the image equal to S (nothing to do) and a restore over an image that still holds S is a
rollback, which moves no data.
"""

from __future__ import annotations

import concurrent.futures
import hashlib

from ansible_collections.scloud.stack.plugins.module_utils._ceph.rbd_snapshot import (
    CHUNK,
    check_name,
    differs,
)
from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError

try:
    import rbd
except ImportError:  # reported by connection.require_library
    rbd = None


def backup_name(pool, image):
    return f"{pool}.{image}"


def validate_backup(params):
    for option in ("pool", "backup_pool"):
        if not params[option]:
            raise ValidationError(option, "must not be empty")
    check_name("image", params["image"])
    if params.get("backup_image"):
        check_name("backup_image", params["backup_image"])
    if params["state"] == "present":
        if not params.get("snapshot"):
            raise ValidationError(
                "snapshot", "is required when state is present: the source snapshot to back up"
            )
        check_name("snapshot", params["snapshot"])
    if params.get("keep") is not None and params["keep"] < 1:
        raise ValidationError(
            "keep", f"{params['keep']} must be 1 or more (the newest backup is the next base)"
        )
    if params["pool"] == params["backup_pool"] and not params.get("allow_same_pool"):
        raise ValidationError(
            "backup_pool",
            "is the source's pool: a backup belongs in another pool, on another CRUSH rule "
            "(allow_same_pool: true to accept it anyway)",
        )


def validate_restore(params):
    for option in ("pool", "backup_pool"):
        if not params[option]:
            raise ValidationError(option, "must not be empty")
    check_name("image", params["image"])
    check_name("backup_image", params["backup_image"])
    check_name("snapshot", params["snapshot"])


def _ioctx(session, pool, option):
    pools = session.mon_command("osd pool ls") or []
    if pool not in pools:
        raise ValidationError(option, f"pool {pool!r} does not exist")
    return session.open_ioctx(pool)


def _open(ioctx, name, **kwargs):
    try:
        return rbd.Image(ioctx, name, **kwargs)
    except rbd.ImageNotFound:
        return None


def _snap_names(image):
    """Snapshot names, oldest first."""
    return [s["name"] for s in sorted(image.list_snaps(), key=lambda s: s["id"])]


def extents(image, from_snap):
    """``[(offset, length, exists)]`` of ``image`` (opened at a snapshot) changed since ``from_snap``
    (``None``: every allocated extent)."""
    out = []

    def seen(offset, length, exists):
        out.append((offset, length, exists))

    image.diff_iterate(0, image.size(), from_snap, seen)
    return out


DISCARD_CHUNK = 1024 * 1024 * 1024  # librbd takes a discard length below 2 GiB


def discard(image, offset, length):
    end = offset + length
    while offset < end:
        n = min(DISCARD_CHUNK, end - offset)
        image.discard(offset, n)
        offset += n


def copy_extents(src, dst, todo, depth=8):
    """Write the extents of ``src`` into ``dst`` (discard those that no longer exist); bytes written.

    ``depth`` chunks move at once (librbd releases the GIL while it reads and writes, and an image
    takes concurrent requests), as ``rbd export``/``import`` keep several requests in flight."""
    chunks = []
    for offset, length, exists in todo:
        if not exists:
            discard(dst, offset, length)
            continue
        end = offset + length
        while offset < end:
            n = min(CHUNK, end - offset)
            chunks.append((offset, n))
            offset += n

    def move(chunk):
        offset, n = chunk
        dst.write(src.read(offset, n), offset)
        return n

    with concurrent.futures.ThreadPoolExecutor(max_workers=depth) as pool:
        moved = sum(pool.map(move, chunks))
    dst.flush()
    return moved


def checksum(image):
    digest = hashlib.sha256()
    size = image.size()
    for offset in range(0, size, CHUNK):
        digest.update(image.read(offset, min(CHUNK, size - offset)))
    return digest.hexdigest()


def _figures(todo):
    return sum(extent[1] for extent in todo if extent[2]), len(todo)


# Backup -------------------------------------------------------------------------------------------
def converge_backup(session, params, check_mode):
    pool, image_name = params["pool"], params["image"]
    bpool = params["backup_pool"]
    bname = params.get("backup_image") or backup_name(pool, image_name)
    where = f"{bpool}/{bname}"
    src_io = _ioctx(session, pool, "pool")
    dst_io = _ioctx(session, bpool, "backup_pool")
    try:
        backup = _open(dst_io, bname, read_only=True)
        try:
            if params["state"] == "absent":
                return _remove_backup(dst_io, backup, bname, where, check_mode)
            return _backup(src_io, dst_io, backup, pool, image_name, bname, where, params, check_mode)
        finally:
            if backup is not None:
                backup.close()
    except rbd.Error as exc:
        raise EngineError(f"backup of {pool}/{image_name} into {where}: {exc}") from exc
    finally:
        src_io.close()
        dst_io.close()


def _remove_backup(dst_io, backup, bname, where, check_mode):
    if backup is None:
        return {"changed": False, "backup": {}, "diff": make_diff({}, {})}
    before = {"image": where, "snapshots": _snap_names(backup)}
    if not check_mode:
        backup.close()
        with rbd.Image(dst_io, bname) as rw:
            for snap in rw.list_snaps():
                if rw.is_protected_snap(snap["name"]):
                    rw.unprotect_snap(snap["name"])
                rw.remove_snap(snap["name"])
        rbd.RBD().remove(dst_io, bname)
    return {"changed": True, "backup": {}, "diff": make_diff(before, {})}


def _backup(src_io, dst_io, backup, pool, image_name, bname, where, params, check_mode):
    snap = params["snapshot"]
    backup_snaps = _snap_names(backup) if backup is not None else []
    before = {"image": where, "snapshots": backup_snaps} if backup is not None else {}
    to_drop = _retention(backup_snaps + ([] if snap in backup_snaps else [snap]), params.get("keep"))
    if snap in backup_snaps:
        # Backed up already: the source's snapshot is not needed (and may be gone); only the
        # retention may change.
        info = _info(where, [s for s in backup_snaps if s not in to_drop], None, 0, 0, backup.size())
        info.update(mode="none", removed_snapshots=to_drop)
        changed = bool(to_drop)
        if changed and not check_mode:
            backup.close()
            with rbd.Image(dst_io, bname) as rw:
                for old in to_drop:
                    rw.remove_snap(old)
        return {
            "changed": changed,
            "backup": info,
            "diff": make_diff(before, {"image": where, "snapshots": info["snapshots"]}),
        }
    source = _open(src_io, image_name, read_only=True)
    if source is None:
        raise ValidationError("image", f"image {pool}/{image_name} does not exist")
    try:
        source_snaps = _snap_names(source)
        if snap not in source_snaps:
            have = ", ".join(source_snaps) or "none"
            raise ValidationError(
                "snapshot", f"{pool}/{image_name} has no snapshot {snap!r} (it has: {have})"
            )
        source.set_snap(snap)
        # The newest snapshot both sides hold, older than `snap` on the source: the increment's base.
        older = source_snaps[: source_snaps.index(snap)]
        common = [s for s in older if s in backup_snaps]
        base = common[-1] if common else None
        todo = extents(source, base)
        moved, count = _figures(todo)
        after_snaps = [s for s in backup_snaps + ([] if snap in backup_snaps else [snap]) if s not in to_drop]
        info = _info(where, after_snaps, base, moved, count, source.size())
        info["mode"] = "incremental" if base else "full"
        info["removed_snapshots"] = to_drop
        if check_mode:
            return {
                "changed": True,
                "backup": info,
                "diff": make_diff(before, {"image": where, "snapshots": after_snaps}),
            }
        if backup is None:
            rbd.RBD().create(dst_io, bname, source.size(), old_format=False)
        with rbd.Image(dst_io, bname) as rw:
            if rw.size() != source.size():
                rw.resize(source.size(), allow_shrink=True)
            if base is None and backup is not None:
                discard(rw, 0, rw.size())  # a full copy over an older backup: no stale extent stays
            info["bytes_moved"] = copy_extents(source, rw, todo)
            rw.create_snap(snap)
            for old in to_drop:
                rw.remove_snap(old)
        if params.get("verify"):
            with rbd.Image(dst_io, bname, snapshot=snap, read_only=True) as copy:
                info["checksum"] = checksum(copy)
            info["verified"] = checksum(source) == info["checksum"]
            if not info["verified"]:
                raise EngineError(
                    f"backup {where}@{snap} differs from {pool}/{image_name}@{snap}", backup=info
                )
        return {
            "changed": True,
            "backup": info,
            "diff": make_diff(before, {"image": where, "snapshots": after_snaps}),
        }
    finally:
        source.close()


def _retention(snaps, keep):
    if not keep or len(snaps) <= keep:
        return []
    return snaps[: len(snaps) - keep]


def _info(where, snaps, base, moved, count, size):
    return {
        "image": where,
        "snapshots": snaps,
        "base": base,
        "bytes_moved": moved,
        "extents": count,
        "size": size,
    }


# Restore ------------------------------------------------------------------------------------------
def converge_restore(session, params, check_mode):
    pool, image_name = params["pool"], params["image"]
    bpool, bname, snap = params["backup_pool"], params["backup_image"], params["snapshot"]
    where = f"{bpool}/{bname}@{snap}"
    target_where = f"{pool}/{image_name}"
    src_io = _ioctx(session, bpool, "backup_pool")
    dst_io = _ioctx(session, pool, "pool")
    try:
        backup = _open(src_io, bname, read_only=True)
        if backup is None:
            raise ValidationError("backup_image", f"backup {bpool}/{bname} does not exist")
        try:
            held = _snap_names(backup)
            if snap not in held:
                have = ", ".join(held) or "none"
                raise ValidationError("snapshot", f"{bpool}/{bname} has no snapshot {snap!r} (has: {have})")
            backup.set_snap(snap)
            return _restore(dst_io, backup, image_name, snap, where, target_where, params, check_mode)
        finally:
            backup.close()
    except rbd.Error as exc:
        raise EngineError(f"restore of {where} into {target_where}: {exc}") from exc
    finally:
        src_io.close()
        dst_io.close()


def _restore(dst_io, backup, image_name, snap, where, target_where, params, check_mode):
    target = _open(dst_io, image_name, read_only=True)
    try:
        result = {"image": target_where, "source": where, "size": backup.size()}
        if target is None:
            mode = "copy"
        else:
            snaps = _snap_names(target)
            same = snap in snaps and target.size() == backup.size()
            if same and not differs(dst_io, image_name, target, snap, target.size()):
                return {
                    "changed": False,
                    "restore": dict(result, mode="none", bytes_moved=0),
                    "diff": make_diff({}, {}),
                }
            if not params.get("overwrite"):
                raise ValidationError(
                    "overwrite",
                    f"{target_where} exists and differs from {where}: overwrite: true replaces its content "
                    "(the VM using it stopped), or restore into a new image",
                )
            watchers = sorted(w.get("addr", "") for w in target.watchers_list())
            if watchers:
                raise ValidationError(
                    "overwrite",
                    f"{target_where} is in use by {', '.join(watchers)}: stop its VM before restoring",
                )
            mode = "rollback" if snap in snaps else "copy"
        todo = extents(backup, None) if mode == "copy" else []
        moved, count = _figures(todo)
        result.update(mode=mode, bytes_moved=moved, extents=count)
        before = {"image": target_where, "exists": target is not None}
        after = {"image": target_where, "exists": True, "restored_from": where}
        if check_mode:
            return {"changed": True, "restore": result, "diff": make_diff(before, after)}
        if target is not None:
            target.close()
            target = None
        if mode == "rollback":
            with rbd.Image(dst_io, image_name) as rw:
                rw.rollback_to_snap(snap)
        else:
            exists = _open(dst_io, image_name, read_only=True)
            if exists is None:
                rbd.RBD().create(dst_io, image_name, backup.size(), old_format=False)
            else:
                exists.close()
            with rbd.Image(dst_io, image_name) as rw:
                if rw.size() != backup.size():
                    rw.resize(backup.size(), allow_shrink=True)
                if exists is not None:
                    discard(rw, 0, rw.size())  # what the backup does not hold is zero (a new image is)
                result["bytes_moved"] = copy_extents(backup, rw, todo)
                if snap in _snap_names(rw):
                    rw.remove_snap(snap)
                rw.create_snap(snap)
        if params.get("verify"):
            with rbd.Image(dst_io, image_name, read_only=True) as ro:
                result["checksum"] = checksum(ro)
            result["verified"] = result["checksum"] == checksum(backup)
            if not result["verified"]:
                raise EngineError(f"{target_where} differs from {where} after the restore", restore=result)
        return {"changed": True, "restore": result, "diff": make_diff(before, after)}
    finally:
        if target is not None:
            target.close()
