# Copyright: SCloudStack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build what the management nodes install, on the controller, so they never need PyPI.

Two archives under ``--out``, each named by the hash of what it holds and built only when missing:

* ``deps-<hash>.tar``: the wheels of every dependency of the API plus ``requirements.txt``;
  the hash is pyproject.toml's, so the slow ``pip wheel`` runs again only when it changes.
* ``app-<hash>.tar.gz``: the ``scloud-stack`` wheel (the ``scloud_api`` package) and the collection
  content the API's jobs run (playbooks, roles, plugins, inventories, ansible.cfg); the hash is that
  of the sources, so any change in them gives a new release.

Prints one JSON object: ``changed``, ``deps_id``, ``deps_archive``, ``app_id``, ``app_archive``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

# What the API's jobs need of the collection, besides its own Python package.
COLLECTION_PATHS = ["ansible.cfg", "galaxy.yml", "meta", "playbooks", "plugins", "roles", "inventories"]
# What building the scloud-stack wheel reads.
PACKAGE_PATHS = ["pyproject.toml", "README.md", "api/scloud_api"]


def tracked_files(root: Path, paths: list[str]) -> list[str]:
    """Files git knows of (tracked or new, never ignored) under ``paths``, sorted.

    Outside a git work tree (an exported snapshot), every file but caches and build leftovers.
    """
    if not (root / ".git").exists():
        found = set()
        for top in paths:
            base = root / top
            candidates = [base] if base.is_file() else (p for p in base.rglob("*") if p.is_file())
            for path in candidates:
                rel = path.relative_to(root)
                if not any(part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts):
                    found.add(str(rel))
        return sorted(found)
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
         *paths],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (root / f).is_file()})


def digest(root: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode() + b"\0")
        h.update(hashlib.sha256((root / name).read_bytes()).digest())
    return h.hexdigest()[:16]


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    if info.isfile():
        info.mode = 0o755 if info.mode & 0o100 else 0o644
    elif info.isdir():
        info.mode = 0o755
    return info


def write_tar(dest: Path, members: list[tuple[str, Path]], extra: dict[str, str], compress: bool) -> None:
    """A reproducible tar (sorted, owner root, mtime 0); ``extra`` maps member name to symlink target."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in sorted(members):
            tar.add(path, arcname=arcname, recursive=False, filter=_normalise)
        for arcname, target in sorted(extra.items()):
            info = tarfile.TarInfo(arcname)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(_normalise(info))
    data = raw.getvalue()
    if compress:
        data = gzip.compress(data, mtime=0)
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def pip_wheel(python: str, src: Path, wheel_dir: Path, *, deps: bool) -> None:
    argv = [python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheel_dir)]
    if not deps:
        argv.append("--no-deps")
    subprocess.run([*argv, str(src)], check=True, stdout=sys.stderr)


def prune(out: Path, keep_names: set[str], keep: int) -> None:
    """Drop old archives: every other dependency wheelhouse, release archives beyond the newest ``keep``."""
    for old in out.glob("deps-*.tar"):
        if old.name not in keep_names:
            old.unlink()
    apps = sorted((p for p in out.glob("app-*.tar.gz") if p.name not in keep_names),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in apps[keep:]:
        old.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the repository (collection) root")
    parser.add_argument("--out", type=Path, required=True, help="the wheelhouse cache directory")
    parser.add_argument("--python", default=sys.executable, help="the Python whose pip builds wheels")
    parser.add_argument("--keep", type=int, default=5, help="release archives kept besides the current one")
    args = parser.parse_args()
    root: Path = args.root.resolve()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    pyproject = root / "pyproject.toml"
    deps_id = hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16]
    package_files = tracked_files(root, PACKAGE_PATHS)
    collection_files = tracked_files(root, COLLECTION_PATHS)
    app_id = digest(root, sorted(set(package_files) | set(collection_files)))
    deps_archive = out / f"deps-{deps_id}.tar"
    app_archive = out / f"app-{app_id}.tar.gz"
    changed = False

    if not (deps_archive.exists() and app_archive.exists()):
        changed = True
        with tempfile.TemporaryDirectory(prefix="scloud-wheelhouse-") as tmp:
            # Build from a copy: an in-tree build would leave build/ and egg-info in the repository.
            src = Path(tmp) / "src"
            for name in package_files:
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, src / name)
            wheels = Path(tmp) / "wheels"
            pip_wheel(args.python, src, wheels, deps=not deps_archive.exists())
            app_wheels = sorted(wheels.glob("scloud_stack-*.whl"))
            if len(app_wheels) != 1:
                raise SystemExit(f"expected one scloud_stack wheel, found {app_wheels}")
            app_wheel = app_wheels[0]
            if not deps_archive.exists():
                requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
                req = Path(tmp) / "requirements.txt"
                req.write_text("\n".join(requirements) + "\n")
                members = [("requirements.txt", req)]
                members += [(w.name, w) for w in wheels.glob("*.whl") if w != app_wheel]
                write_tar(deps_archive, members, {}, compress=False)
            if not app_archive.exists():
                members = [(app_wheel.name, app_wheel)]
                members += [(f"collection/{f}", root / f) for f in collection_files]
                # The jobs find the collection itself as scloud.stack through collections/.
                link = {"collection/collections/ansible_collections/scloud/stack": "../../.."}
                write_tar(app_archive, members, link, compress=True)

    prune(out, keep_names={deps_archive.name, app_archive.name}, keep=args.keep)
    with tarfile.open(app_archive) as tar:
        app_wheel_name = next(n for n in tar.getnames() if n.endswith(".whl"))
    json.dump(
        {
            "changed": changed,
            "app_wheel": app_wheel_name,
            "deps_id": deps_id,
            "deps_archive": str(deps_archive),
            "app_id": app_id,
            "app_archive": str(app_archive),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
