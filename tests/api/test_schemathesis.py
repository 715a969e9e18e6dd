"""Property-based checks over the served OpenAPI schema: no input makes the service answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

from .conftest import REPO


@pytest.fixture
def fuzzed_api(api_factory, tmp_path):
    # The fuzzer must not choose commands to run: the catalogue under test drops diagnostics_command.
    doc = yaml.safe_load((REPO / "playbooks/catalogue.yml").read_text())
    del doc["playbooks"]["diagnostics"]["variables"]["properties"]["diagnostics_command"]
    catalogue = tmp_path / "catalogue.yml"
    catalogue.write_text(yaml.safe_dump(doc))
    return api_factory(
        catalogue_path=catalogue,
        playbook_dir=REPO / "playbooks",
        max_concurrent_jobs=1,
        job_timeout=5,
        callback_max_attempts=1,
    )


@pytest.fixture
def api_schema(fuzzed_api):
    return schemathesis.openapi.from_url(f"{fuzzed_api.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzzed_api):
    response = case.call(headers={"Authorization": f"Bearer {fuzzed_api.tokens['admin']}"}, timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
    ctype = (response.headers.get("content-type") or [""])[0]
    if response.status_code >= 400 and ctype.startswith("application/"):
        body = response.json()
        assert "code" in body and "detail" in body
