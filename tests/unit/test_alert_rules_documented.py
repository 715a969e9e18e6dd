"""docs/monitoring.md lists every alarm rule of roles/monitoring/files/alerts.yml with its severity
and runbook (the rules themselves are unit-tested by promtool: tests/rules/alerts.test.yml)."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_every_rule_is_in_the_docs_with_its_runbook():
    rules = yaml.safe_load((REPO / "roles/monitoring/files/alerts.yml").read_text())["groups"]
    doc = (REPO / "docs/monitoring.md").read_text()
    rows = {line.split("`")[1]: line for line in doc.splitlines() if line.startswith("| `")}
    for group in rules:
        for rule in group["rules"]:
            row = rows.get(rule["alert"])
            assert row, f"{rule['alert']} is not in docs/monitoring.md"
            assert f"| {rule['labels']['severity']} |" in row
            runbook = " ".join(rule["annotations"]["runbook"].split()).replace("|", "\\|")
            assert runbook in row, rule["alert"]
