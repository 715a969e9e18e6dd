"""The scloud-api command: migrations, keys (create, list, revoke), webhook secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "scloud-api")


def test_cli_keys_lifecycle(tmp_path):
    env = {**os.environ, "SCLOUD_API_STATE_DIR": str(tmp_path)}

    def run(*argv, check=True):
        return subprocess.run([CLI, *argv], env=env, capture_output=True, text=True, check=check)

    assert "database at head" in run("db", "upgrade").stdout
    out = run("keys", "create", "--role", "admin", "--name", "first").stdout
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert fields["role"] == "admin" and fields["token"].startswith("scl_")
    listed = run("keys", "list").stdout
    assert fields["id"] in listed and "active" in listed and fields["token"] not in listed
    # The only admin key stays (the API would have no key manager left); with a second one it goes.
    refused = run("keys", "revoke", fields["id"], check=False)
    assert refused.returncode == 1 and "last admin key" in refused.stderr
    run("keys", "create", "--role", "admin", "--name", "second")
    assert run("keys", "revoke", fields["id"]).returncode == 0
    assert "revoked" in run("keys", "list").stdout
    assert run("keys", "revoke", "no-such-key", check=False).returncode == 1
    bad = run("keys", "create", "--role", "root", check=False)
    assert bad.returncode != 0 and "role must be one of" in bad.stderr
    secret = run("webhook-secret").stdout.strip()
    assert secret.startswith("whsec_") and secret == run("webhook-secret").stdout.strip()
    assert oct((tmp_path / "webhook-secret").stat().st_mode & 0o777) == "0o600"
