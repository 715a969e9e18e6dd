# Copyright (c) 2026 SCloudStack developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RBD images (EVS disks): created, grown in place, shrunk only on request, features reconciled."""

from __future__ import annotations

from ansible_collections.scloud.stack.plugins.module_utils._common.diff import make_diff
from ansible_collections.scloud.stack.plugins.module_utils._common.errors import EngineError, ValidationError
from ansible_collections.scloud.stack.plugins.module_utils._common.units import parse_size

try:
    import rbd
except ImportError:  # reported by connection.require_library
    rbd = None

# Feature name -> bit, as `rbd info` names them.
FEATURE_BITS = {
    "layering": 1,
    "striping": 2,
    "exclusive-lock": 4,
    "object-map": 8,
    "fast-diff": 16,
    "deep-flatten": 32,
    "journaling": 64,
    "data-pool": 128,
}
# What `rbd create` gives by default (rbd_default_features = 61).
DEFAULT_FEATURES = ("deep-flatten", "exclusive-lock", "fast-diff", "layering", "object-map")
# Features that can be switched on an existing image, in dependency order (object-map needs
# exclusive-lock, fast-diff needs object-map): enabled in this order, disabled in reverse.
MUTABLE_ORDER = ("exclusive-lock", "object-map", "fast-diff", "journaling")
DISABLE_ONLY = ("deep-flatten",)
REQUIRES = {"object-map": "exclusive-lock", "fast-diff": "object-map", "journaling": "exclusive-lock"}


def features_from_bits(bits):
    return sorted(name for name, bit in FEATURE_BITS.items() if bits & bit)


def bits_from_features(names):
    out = 0
    for name in names:
        out |= FEATURE_BITS[name]
    return out


def validate_features(features, option="features"):
    unknown = sorted(set(features) - set(FEATURE_BITS))
    if unknown:
        raise ValidationError(
            option, f"unknown feature(s) {', '.join(unknown)} (one of {', '.join(sorted(FEATURE_BITS))})"
        )
    if "data-pool" in features or "striping" in features:
        raise ValidationError(option, "striping and data-pool are set by Ceph itself, not requested")
    for feature, needs in REQUIRES.items():
        if feature in features and needs not in features:
            raise ValidationError(option, f"{feature} requires {needs}")


def validate_params(params):
    if not params["pool"]:
        raise ValidationError("pool", "must not be empty")
    if not params["name"] or "/" in params["name"] or "@" in params["name"]:
        raise ValidationError("name", f"{params['name']!r} is not an image name (no '/', no '@', not empty)")
    if params["state"] == "absent":
        return
    if params.get("size") is None:
        raise ValidationError("size", "is required when state is present")
    parse_size(params["size"], "size", minimum=1)
    if params.get("features") is not None:
        validate_features(params["features"])


def plan_features(current, desired):
    """``(enable, disable)`` lists; raise when a change needs an immutable feature to move."""
    cur, want = set(current), set(desired)
    to_enable, to_disable = want - cur, cur - want
    fixed = sorted((to_enable - set(MUTABLE_ORDER)) | (to_disable - set(MUTABLE_ORDER) - set(DISABLE_ONLY)))
    if fixed:
        raise ValidationError(
            "features",
            f"feature(s) {', '.join(fixed)} cannot be changed on an existing "
            "image (only exclusive-lock, object-map, fast-diff, journaling, "
            "and disabling deep-flatten)",
        )
    enable = [f for f in MUTABLE_ORDER if f in to_enable]
    disable = [f for f in reversed((*MUTABLE_ORDER, *DISABLE_ONLY)) if f in to_disable]
    return enable, disable


def plan_resize(current_size, desired_size, allow_shrink):
    if desired_size < current_size and not allow_shrink:
        raise ValidationError(
            "size",
            f"{desired_size} bytes is smaller than the image ({current_size} bytes): "
            "shrinking loses data and needs allow_shrink: true",
        )
    return desired_size != current_size


def describe(image, pool, name):
    return {
        "pool": pool,
        "name": name,
        "id": image.id(),
        "size": image.size(),
        "features": features_from_bits(image.features()),
        "block_name_prefix": image.block_name_prefix(),
        "watchers": sorted(w.get("addr", "") for w in image.watchers_list()),
    }


def converge(session, params, check_mode):
    pool, name = params["pool"], params["name"]
    pools = session.mon_command("osd pool ls") or []
    if pool not in pools:
        raise ValidationError("pool", f"pool {pool!r} does not exist")
    ioctx = session.open_ioctx(pool)
    if params.get("namespace"):
        ioctx.set_namespace(params["namespace"])
    try:
        return _converge_in(ioctx, pool, name, params, check_mode)
    except rbd.Error as exc:
        raise EngineError(f"rbd image {pool}/{name}: {exc}") from exc
    finally:
        ioctx.close()


def _open(ioctx, name, read_only=True):
    # Read-only opens register no watch, so the image's watchers are its real clients only.
    try:
        return rbd.Image(ioctx, name, read_only=read_only)
    except rbd.ImageNotFound:
        return None


def _converge_in(ioctx, pool, name, params, check_mode):
    image = _open(ioctx, name)
    try:
        current = describe(image, pool, name) if image else None
        public_before = _public(current)
        if params["state"] == "absent":
            if current is None:
                return {"changed": False, "image": {}, "diff": make_diff(None, None)}
            if current["watchers"]:
                raise ValidationError(
                    "state", f"image {pool}/{name} is in use by {', '.join(current['watchers'])}"
                )
            snaps = [snap["name"] for snap in image.list_snaps()]
            if snaps and not params.get("purge_snapshots"):
                raise ValidationError(
                    "purge_snapshots",
                    f"image {pool}/{name} has snapshots ({', '.join(snaps)}): remove them first, "
                    "or purge_snapshots: true removes them with it",
                )
            for snap in snaps:
                image.set_snap(snap)
                children = list(image.list_children()) if image.is_protected_snap(snap) else []
                image.set_snap(None)
                if children:
                    raise ValidationError(
                        "state", f"snapshot {pool}/{name}@{snap} has clones: flatten or remove them first"
                    )
            if not check_mode:
                image.close()
                image = None
                if snaps:
                    with rbd.Image(ioctx, name) as rw:
                        for snap in snaps:
                            if rw.is_protected_snap(snap):
                                rw.unprotect_snap(snap)
                            rw.remove_snap(snap)
                rbd.RBD().remove(ioctx, name)
            return {
                "changed": True,
                "image": {},
                "snapshots_removed": snaps,
                "diff": make_diff(public_before, None),
            }

        size = parse_size(params["size"], "size", minimum=1)
        features = sorted(params["features"]) if params.get("features") is not None else None
        if current is None:
            after = {
                "pool": pool,
                "name": name,
                "size": size,
                "features": features if features is not None else sorted(DEFAULT_FEATURES),
                "watchers": [],
            }
            if not check_mode:
                kwargs = {"old_format": False}
                if features is not None:
                    kwargs["features"] = bits_from_features(features)
                rbd.RBD().create(ioctx, name, size, **kwargs)
                image = _open(ioctx, name)
                after = describe(image, pool, name)
            return {"changed": True, "image": after, "diff": make_diff(None, _public(after))}

        resize = plan_resize(current["size"], size, params.get("allow_shrink"))
        enable, disable = plan_features(current["features"], features) if features is not None else ([], [])
        changed = resize or bool(enable) or bool(disable)
        if not changed:
            return {"changed": False, "image": current, "diff": make_diff(public_before, public_before)}
        if check_mode:
            after = dict(
                current, size=size, features=features if features is not None else current["features"]
            )
        else:
            image.close()
            image = _open(ioctx, name, read_only=False)
            if resize:
                image.resize(size, allow_shrink=bool(params.get("allow_shrink")))
            # librbd switches dependent features along (fast-diff off takes object-map with it):
            # look at the image again before each step.
            for feature in disable:
                if image.features() & FEATURE_BITS[feature]:
                    image.update_features(FEATURE_BITS[feature], False)
            for feature in enable:
                if not image.features() & FEATURE_BITS[feature]:
                    image.update_features(FEATURE_BITS[feature], True)
            image.close()
            image = _open(ioctx, name)
            after = describe(image, pool, name)
        return {"changed": True, "image": after, "diff": make_diff(public_before, _public(after))}
    finally:
        if image is not None:
            image.close()


def _public(image):
    return {k: image[k] for k in ("pool", "name", "size", "features") if k in image} if image else {}
