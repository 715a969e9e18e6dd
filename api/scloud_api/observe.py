"""What a resource job's end tells the registry (called by the job runner, in the transaction that
records the job's end, on whichever node or worker ran it).

A resource playbook ends with ``ansible.builtin.set_stats`` of ``scloud_observed``: what the engine
showed after the run (a VM's power state and node, a volume's size, a port's binding). ansible-runner
hands it over in the ``playbook_on_stats`` event (``artifact_data``). The nodes job reports each
compute node's capacity as ``scloud_nodes``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Job, JobStatus, Node, Resource, ResourceStatus, utcnow


def apply_job_result(
    s: Session, job: Job, status: str, artifacts: dict[str, Any] | None, stats: dict[str, Any] | None
) -> None:
    if not job.resource or job.check:
        return
    artifacts = artifacts if isinstance(artifacts, dict) else {}
    kind, _, name = job.resource.partition(":")
    if kind == "nodes":
        if status == JobStatus.SUCCESSFUL or artifacts.get("scloud_nodes"):
            _apply_nodes(s, artifacts.get("scloud_nodes") or {}, (stats or {}).get("dark") or {})
        return
    rec = s.scalars(select(Resource).where(Resource.kind == kind, Resource.name == name)).first()
    if rec is None or rec.last_job_id != job.id:
        return  # a later request owns the record now
    observed = artifacts.get("scloud_observed")
    if isinstance(observed, dict):
        rec.observed, rec.observed_at = observed, utcnow()
    if status == JobStatus.SUCCESSFUL:
        if (job.extra_vars or {}).get("resource_delete"):
            s.delete(rec)  # its claims go with it (ON DELETE CASCADE)
            return
        rec.status, rec.error = ResourceStatus.READY, None
        rec.observed_generation = int((job.extra_vars or {}).get("resource_generation") or rec.generation)
    else:
        rec.status = ResourceStatus.ERROR
        rec.error = f"job {job.id} ended {status}" + (f" ({job.reason})" if job.reason else "")


def _apply_nodes(s: Session, reported: dict[str, Any], dark: dict[str, Any]) -> None:
    now = utcnow()
    for name, info in reported.items():
        if not isinstance(info, dict):
            continue
        node = s.get(Node, name) or Node(name=name, draining=False)
        node.roles = sorted(info.get("roles") or [])
        node.set_name = info.get("set") or None
        node.vcpus = int(info.get("vcpus") or 0)
        node.memory_mb = int(info.get("memory_mb") or 0)
        node.up, node.refreshed_at = True, now
        s.add(node)
    for name in dark:
        node = s.get(Node, name)
        if node is not None:
            node.up, node.refreshed_at = False, now
    # Reconciliation: what each node's libvirtd shows of the VMs the registry placed there. A VM whose
    # job is still pending is its job's to report.
    seen = {name: info.get("domains") for name, info in reported.items() if isinstance(info, dict)}
    seen = {name: domains for name, domains in seen.items() if isinstance(domains, dict)}
    if not seen:
        return
    vms = s.scalars(
        select(Resource).where(
            Resource.kind == "vm",
            Resource.node.in_(sorted(seen)),
            Resource.status.in_([ResourceStatus.READY, ResourceStatus.ERROR]),
        )
    )
    for vm in vms:
        state = seen[vm.node].get(vm.name)
        observed = {
            **(vm.observed or {}),
            "node": vm.node,
            "exists": state is not None,
            "state": state or "absent",
        }
        if observed != vm.observed:
            vm.observed = observed
        vm.observed_at = now
