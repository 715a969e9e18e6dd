"""The curl examples of docs/api.md run as written (one bash script, from the repository root)."""

from __future__ import annotations

import re
import subprocess

from .conftest import REPO


def test_docs_examples_run_as_written(tmp_path):
    text = (REPO / "docs/api.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 8
    script = "set -euo pipefail\ntrap 'kill $API_PID 2>/dev/null || true' EXIT\n" + "\n".join(blocks)
    out = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    o = out.stdout
    assert '"status": "successful"' in o
    assert "diagnostics  role=operator" in o
    assert "202\n200\n" in o
    assert '"code": "idempotency_key_reused"' in o
    assert "canceled" in o and "cancel again: 409" in o
    assert '"code": "callback_url_refused"' in o
    assert '"code": "malformed_json"' in o and "no key: 401" in o
    assert "operator creating a key: 403" in o
    assert "scloud_api_jobs_finished_total" in o
