"""The cloud's resources: VMs, volumes, VPCs, subnets, security groups, public IPs; and its nodes.

``PUT`` creates or converges (idempotent: the same PUT twice yields a job that changes nothing),
``DELETE`` removes; both answer ``202`` with the job, and the record (``GET``) shows the job that
last converged it, its status, placement and what the engines showed. A request on a resource whose
job still runs answers ``409 resource_busy`` with ``Retry-After``. A replayed Idempotency-Key answers
``200`` with the first job and ``Idempotent-Replayed: true``, as ``POST /v1/jobs`` does.
"""

# No `from __future__ import annotations`: the routes are built per kind, and FastAPI must see the
# spec models themselves in their signatures, not names it cannot resolve.

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from .. import promql
from ..deps import Admin, CallbackHeader, IdempotencyKey, Operator, ServicesDep, Viewer
from ..errors import NotFound
from ..models import Alarm, Node, ResourceKind
from ..registry import PATHS, SPECS, public_view
from ..schemas import JobPublic, UtcDatetime
from ..specs import NAME_PATTERN, RestoreRequest, SnapshotSpec, VolumeSpec
from .common import AUTH, problems

router = APIRouter(prefix="/v1", tags=["resources"])

Name = Annotated[str, Path(pattern=NAME_PATTERN)]
Pool = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
Image = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
JOB_RESPONSES = {
    200: {"model": JobPublic, "description": "Replay: the job an Idempotency-Key made"},
    **AUTH,
    **problems(400, 404, 409, 413, 422, 503),
}


class ResourcePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    name: str
    spec: dict[str, Any] = Field(description="The desired state, as last PUT.")
    status: str = Field(description="pending, ready, error or deleting")
    observed: dict[str, Any] = Field(description="What the engines showed at the end of the last job.")
    drift: bool = Field(
        description="The engine showed something other than the spec (a VM destroyed by hand)."
    )
    node: str | None = Field(None, description="Where it runs (VMs: the node the scheduler chose).")
    addresses: dict[str, Any]
    placement: dict[str, Any] | None = Field(None, description="The scheduler's decision and its reasons.")
    generation: int = Field(description="Counts the changes of spec.")
    observed_generation: int = Field(description="The generation the last successful job converged.")
    last_job_id: str | None
    error: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    observed_at: UtcDatetime | None
    links: dict[str, str]


class ResourceList(BaseModel):
    items: list[ResourcePublic]
    total: int
    offset: int
    limit: int


class NodePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    roles: list[str]
    set_name: str | None
    vcpus: int
    memory_mb: int
    used_vcpus: int
    used_memory_mb: int
    up: bool
    draining: bool
    refreshed_at: UtcDatetime


class NodeList(BaseModel):
    items: list[NodePublic]


class NodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draining: bool = Field(description="A draining node takes no new VM.")


def _answer(response: Response, job: JobPublic, replayed: bool) -> JobPublic:
    response.status_code = 200 if replayed else 202
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


def _get(services, kind: str, name: str) -> ResourcePublic:
    with services.sm_read() as s:
        return ResourcePublic(**public_view(services.registry.get(s, kind, name)))


def _list(services, kind, node, status, offset, limit) -> ResourceList:
    with services.sm_read() as s:
        rows, total = services.registry.list(s, kind, node=node, status=status, offset=offset, limit=limit)
        return ResourceList(
            items=[ResourcePublic(**public_view(r)) for r in rows], total=total, offset=offset, limit=limit
        )


def _add_kind(kind: str, path: str, spec_model: type[BaseModel], label: str) -> None:
    """The four routes of one kind whose records are named by one path segment."""

    def put(
        name: Name,
        spec: spec_model,
        response: Response,
        services: ServicesDep,
        principal: Operator,
        idempotency_key: IdempotencyKey,
        x_callback_url: CallbackHeader = None,
    ) -> JobPublic:
        job, replayed = services.registry.put(
            principal, kind, name, spec, idempotency_key=idempotency_key, header_callback=x_callback_url
        )
        return _answer(response, job, replayed)

    def delete(
        name: Name,
        response: Response,
        services: ServicesDep,
        principal: Operator,
        idempotency_key: IdempotencyKey,
        x_callback_url: CallbackHeader = None,
    ) -> JobPublic:
        job, replayed = services.registry.delete(
            principal, kind, name, idempotency_key=idempotency_key, header_callback=x_callback_url
        )
        return _answer(response, job, replayed)

    def get(name: Name, services: ServicesDep, _: Viewer) -> ResourcePublic:
        return _get(services, kind, name)

    def list_(
        services: ServicesDep,
        _: Viewer,
        node: Annotated[str | None, Query(max_length=255)] = None,
        status: Annotated[str | None, Query(pattern="^(pending|ready|error|deleting)$")] = None,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> ResourceList:
        return _list(services, kind, node, status, offset, limit)

    put.__doc__ = f"Create or converge {label} ``name`` (a job)."
    delete.__doc__ = f"Delete {label} ``name`` (a job); refused while other resources use it."
    get.__doc__ = f"The record of {label} ``name``."
    list_.__doc__ = f"Every {label}, by name; filters: node, status."
    router.add_api_route(
        f"/{path}/{{name}}",
        put,
        methods=["PUT"],
        status_code=202,
        response_model=JobPublic,
        responses=JOB_RESPONSES,
        name=f"put_{kind}",
    )
    router.add_api_route(
        f"/{path}/{{name}}",
        delete,
        methods=["DELETE"],
        status_code=202,
        response_model=JobPublic,
        responses=JOB_RESPONSES,
        name=f"delete_{kind}",
    )
    router.add_api_route(
        f"/{path}/{{name}}",
        get,
        methods=["GET"],
        response_model=ResourcePublic,
        responses={**AUTH, **problems(404, 422)},
        name=f"get_{kind}",
    )
    router.add_api_route(
        f"/{path}",
        list_,
        methods=["GET"],
        response_model=ResourceList,
        responses={**AUTH, **problems(422)},
        name=f"list_{kind}",
    )


LABELS = {
    ResourceKind.VM: "VM",
    ResourceKind.VPC: "VPC",
    ResourceKind.SUBNET: "subnet",
    ResourceKind.SECURITY_GROUP: "security group",
    ResourceKind.PUBLIC_IP: "public IP",
    ResourceKind.LOAD_BALANCER: "load balancer",
    ResourceKind.ALARM_RULE: "alarm rule",
    ResourceKind.BACKUP: "backup plan",
}
for _kind, _label in LABELS.items():
    _add_kind(_kind, PATHS[_kind], SPECS[_kind], _label)


# Volumes: named pool/name --------------------------------------------------------------------------
VOLUME = ResourceKind.VOLUME


@router.put("/volumes/{pool}/{name}", status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def put_volume(
    pool: Pool,
    name: Image,
    spec: VolumeSpec,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Create or converge RBD volume ``pool/name`` (a job): its size and features."""
    job, replayed = services.registry.put(
        principal,
        VOLUME,
        f"{pool}/{name}",
        spec,
        idempotency_key=idempotency_key,
        header_callback=x_callback_url,
    )
    return _answer(response, job, replayed)


@router.delete("/volumes/{pool}/{name}", status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def delete_volume(
    pool: Pool,
    name: Image,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Delete volume ``pool/name`` (a job); refused while a VM has it."""
    job, replayed = services.registry.delete(
        principal, VOLUME, f"{pool}/{name}", idempotency_key=idempotency_key, header_callback=x_callback_url
    )
    return _answer(response, job, replayed)


@router.get("/volumes/{pool}/{name}", response_model=ResourcePublic, responses={**AUTH, **problems(404, 422)})
def get_volume(pool: Pool, name: Image, services: ServicesDep, _: Viewer) -> ResourcePublic:
    """The record of volume ``pool/name``."""
    return _get(services, VOLUME, f"{pool}/{name}")


@router.get("/volumes", response_model=ResourceList, responses={**AUTH, **problems(422)})
def list_volumes(
    services: ServicesDep,
    _: Viewer,
    status: Annotated[str | None, Query(pattern="^(pending|ready|error|deleting)$")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ResourceList:
    """Every volume, by pool/name."""
    return _list(services, VOLUME, None, status, offset, limit)


# Snapshots of a volume: pool/name@snap ---------------------------------------------------------------
SNAPSHOT = ResourceKind.SNAPSHOT
SNAP_PATH = "/volumes/{pool}/{name}/snapshots/{snap}"


@router.put(SNAP_PATH, status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def put_snapshot(
    pool: Pool,
    name: Image,
    snap: Name,
    spec: SnapshotSpec,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Take snapshot ``snap`` of volume ``pool/name`` (a job), or change its protection. A snapshot
    of a volume in use is crash-consistent: the data as it was on the disk at that instant."""
    job, replayed = services.registry.put(
        principal,
        SNAPSHOT,
        f"{pool}/{name}@{snap}",
        spec,
        idempotency_key=idempotency_key,
        header_callback=x_callback_url,
    )
    return _answer(response, job, replayed)


@router.delete(SNAP_PATH, status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def delete_snapshot(
    pool: Pool,
    name: Image,
    snap: Name,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Delete the snapshot (a job); refused while it is protected."""
    job, replayed = services.registry.delete(
        principal,
        SNAPSHOT,
        f"{pool}/{name}@{snap}",
        idempotency_key=idempotency_key,
        header_callback=x_callback_url,
    )
    return _answer(response, job, replayed)


@router.post(SNAP_PATH + "/rollback", status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def rollback_snapshot(
    pool: Pool, name: Image, snap: Name, response: Response, services: ServicesDep, principal: Operator
) -> JobPublic:
    """Roll the volume back to the snapshot (a job): what was written since is lost. Refused while
    a VM that has the volume may be running (PUT the VM with state shutoff first). A volume that
    already equals the snapshot is left as it is."""
    return _answer(response, services.registry.rollback_snapshot(principal, f"{pool}/{name}@{snap}"), False)


@router.get(SNAP_PATH, response_model=ResourcePublic, responses={**AUTH, **problems(404, 422)})
def get_snapshot(pool: Pool, name: Image, snap: Name, services: ServicesDep, _: Viewer) -> ResourcePublic:
    """The record of the snapshot (its size, protection and time as Ceph showed them in ``observed``)."""
    return _get(services, SNAPSHOT, f"{pool}/{name}@{snap}")


@router.get(
    "/volumes/{pool}/{name}/snapshots", response_model=ResourceList, responses={**AUTH, **problems(422)}
)
def list_snapshots(pool: Pool, name: Image, services: ServicesDep, _: Viewer) -> ResourceList:
    """Every snapshot of the volume, oldest first."""
    with services.sm_read() as s:
        rows = services.registry.snapshots_of(s, f"{pool}/{name}")
        items = [ResourcePublic(**public_view(r)) for r in rows]
        return ResourceList(items=items, total=len(items), offset=0, limit=len(items))


# Backups: run now, restore --------------------------------------------------------------------------
@router.post("/backups/{name}/run", status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def run_backup(name: Name, response: Response, services: ServicesDep, principal: Operator) -> JobPublic:
    """A backup now (a job): a snapshot of the volume, copied into the backup pool (only what changed
    since the previous backup moves), the oldest backups beyond ``keep`` removed."""
    return _answer(response, services.registry.run_backup(principal, name), False)


@router.post("/backups/{name}/restore", status_code=202, response_model=JobPublic, responses=JOB_RESPONSES)
def restore_backup(
    name: Name, req: RestoreRequest, response: Response, services: ServicesDep, principal: Operator
) -> JobPublic:
    """Restore a backup (default the newest) into a volume (a job), verified by checksum: a new
    volume, which the registry then records, or an existing one with ``overwrite`` (its VMs stopped)."""
    return _answer(response, services.registry.restore_backup(principal, name, req), False)


# Nodes ---------------------------------------------------------------------------------------------
def _nodes(services) -> list[NodePublic]:
    with services.sm_read() as s:
        hosts = {h.name: h for h in services.registry.host_states(s)}
        nodes = s.query(Node).order_by(Node.name).all()
        return [
            NodePublic(
                name=n.name,
                roles=n.roles or [],
                set_name=n.set_name,
                vcpus=n.vcpus,
                memory_mb=n.memory_mb,
                used_vcpus=hosts[n.name].used_vcpus,
                used_memory_mb=hosts[n.name].used_memory_mb,
                up=n.up,
                draining=n.draining,
                refreshed_at=n.refreshed_at,
            )
            for n in nodes
        ]


@router.get("/nodes", response_model=NodeList, responses=AUTH)
def list_nodes(services: ServicesDep, _: Viewer) -> NodeList:
    """The compute nodes the scheduler knows: capacity (read from each node) and what VMs claim of it."""
    return NodeList(items=_nodes(services))


@router.post(
    "/nodes/refresh", status_code=202, response_model=JobPublic, responses={**AUTH, **problems(409, 503)}
)
def refresh_nodes(response: Response, services: ServicesDep, principal: Operator) -> JobPublic:
    """Read every compute node's vCPUs and memory again (a job; the API also runs it when it starts)."""
    job = services.registry.refresh_nodes(principal)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.put("/nodes/{name}", response_model=NodePublic, responses={**AUTH, **problems(404, 422)})
def update_node(name: Name, body: NodeUpdate, services: ServicesDep, _: Admin) -> NodePublic:
    """Drain a node (it takes no new VM) or put it back in service."""
    with services.sm.begin() as s:
        node = s.get(Node, name)
        if node is None:
            raise NotFound(
                f"node {name} is not known (POST /v1/nodes/refresh reads the nodes)", code="node_not_found"
            )
        node.draining = body.draining
    return next(n for n in _nodes(services) if n.name == name)


# Metrics (read from Prometheus, roles/monitoring) -------------------------------------------------
class MetricsPublic(BaseModel):
    name: str
    start: UtcDatetime
    end: UtcDatetime
    step: int = Field(description="Seconds between two points.")
    source: str = Field(description="The Prometheus that answered.")
    series: dict[str, list[list[float]]] = Field(description="Per indicator: [unix time, value] points.")


Minutes = Annotated[int, Query(ge=1, le=1440, description="How far back.")]
Step = Annotated[int, Query(ge=5, le=3600, description="Seconds between two points.")]


@router.get(
    "/nodes/{name}/metrics", response_model=MetricsPublic, responses={**AUTH, **problems(404, 422, 503)}
)
def node_metrics(
    name: Name, services: ServicesDep, _: Viewer, minutes: Minutes = 15, step: Step = 30
) -> MetricsPublic:
    """A node's recent CPU use, available memory, load and running VMs, from Prometheus."""
    with services.sm_read() as s:
        if s.get(Node, name) is None:
            raise NotFound(f"node {name} is not known", code="node_not_found")
    out = promql.series(services.settings.prometheus_urls, promql.NODE_QUERIES, minutes, step, node=name)
    return MetricsPublic(name=name, **out)


@router.get(
    "/vms/{name}/metrics", response_model=MetricsPublic, responses={**AUTH, **problems(404, 422, 503)}
)
def vm_metrics(
    name: Name, services: ServicesDep, _: Viewer, minutes: Minutes = 15, step: Step = 30
) -> MetricsPublic:
    """A VM's recent CPU (cores used), memory, disk and network rates, from Prometheus (libvirt's
    exporter on its node)."""
    _get(services, ResourceKind.VM, name)  # 404 when there is no such VM
    out = promql.series(services.settings.prometheus_urls, promql.VM_QUERIES, minutes, step, vm=name)
    return MetricsPublic(name=name, **out)


# The overview ---------------------------------------------------------------------------------------
class NodeOverview(BaseModel):
    name: str
    known: bool = Field(description="The registry knows it (a compute node the scheduler places on).")
    up: bool | None = Field(None, description="Its node exporter answers Prometheus.")
    cpu_used_ratio: float | None = None
    memory_available_ratio: float | None = None
    load1: float | None = None
    running_vms: int = 0
    alarms_firing: int = Field(0, description="Alarms about it that fire now.")


class VmOverview(BaseModel):
    name: str
    node: str | None
    cpu_used_cores: float | None = None
    memory_used_bytes: float | None = None


class Overview(BaseModel):
    at: UtcDatetime
    source: str = Field(description="The Prometheus that answered.")
    nodes: list[NodeOverview]
    vms: list[VmOverview]
    alarms_firing: dict[str, int] = Field(description="Alarms firing now, by severity.")


@router.get("/overview", response_model=Overview, responses={**AUTH, **problems(503)})
def overview(services: ServicesDep, _: Viewer) -> Overview:
    """Every node and VM at a glance: the latest CPU, memory, load and running VMs of each node, CPU
    and memory of each VM (from Prometheus, one instant query per indicator), and the alarms firing
    (from the alarm history)."""
    data = promql.overview(services.settings.prometheus_urls)
    with services.sm_read() as s:
        known = set(s.scalars(select(Node.name)))
        firing = s.execute(
            select(Alarm.node, Alarm.severity, func.count())
            .where(Alarm.status == "firing")
            .group_by(Alarm.node, Alarm.severity)
        ).all()
    by_node: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for node, severity, count in firing:
        by_severity[severity] = by_severity.get(severity, 0) + count
        if node:
            by_node[node] = by_node.get(node, 0) + count
    nodes = []
    for name in sorted(known | set(data["nodes"])):
        row = data["nodes"].get(name, {})
        nodes.append(
            NodeOverview(
                name=name,
                known=name in known,
                up=bool(row["up"]) if "up" in row else None,
                cpu_used_ratio=row.get("cpu_used_ratio"),
                memory_available_ratio=row.get("memory_available_ratio"),
                load1=row.get("load1"),
                running_vms=int(row.get("running_vms", 0)),
                alarms_firing=by_node.get(name, 0),
            )
        )
    vms = [
        VmOverview(
            name=name,
            node=row.get("node"),
            cpu_used_cores=row.get("cpu_used_cores"),
            memory_used_bytes=row.get("memory_used_bytes"),
        )
        for name, row in sorted(data["vms"].items())
    ]
    return Overview(at=data["at"], source=data["source"], nodes=nodes, vms=vms, alarms_firing=by_severity)
