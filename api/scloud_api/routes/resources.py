"""The idempotent resource API: PUT the desired state, get a job that converges to it.

``PUT /v1/volumes/{pool}/{name}`` runs ``scloud.stack.rbd_image`` (playbooks/volume.yml) and
``PUT /v1/vms/{name}`` runs ``scloud.stack.libvirt_domain`` (playbooks/vm.yml). Repeating the same
PUT yields a job that changes nothing; a replay of an Idempotency-Key answers ``200`` with the first
job and ``Idempotent-Replayed: true``, as ``POST /v1/jobs`` does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ..deps import CallbackHeader, IdempotencyKey, Operator, ServicesDep
from ..schemas import JobCreate, JobPublic, VmSpec, VolumeSpec
from .common import AUTH, problems

router = APIRouter(prefix="/v1", tags=["resources"])

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
Name = Annotated[str, Path(pattern=NAME)]


def _start(
    services,
    principal,
    req: JobCreate,
    response: Response,
    path: str,
    resource: str,
    idem: str | None,
    header_cb: str | None,
    operator_vars: dict,
) -> JobPublic:
    job, replayed = services.submit(
        principal,
        req,
        header_callback=header_cb,
        method="PUT",
        path=path,
        idempotency_key=idem,
        resource=resource,
        operator_vars=operator_vars,
    )
    response.status_code = 200 if replayed else 202
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.put(
    "/volumes/{pool}/{name}",
    status_code=202,
    response_model=JobPublic,
    responses={
        200: {"model": JobPublic, "description": "Replay: the job an Idempotency-Key made"},
        **AUTH,
        **problems(400, 409, 413, 422, 503),
    },
)
def put_volume(
    pool: Name,
    name: Name,
    spec: VolumeSpec,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Converge RBD image ``pool/name`` to the given size and features (a job)."""
    extra = {"volume_pool": pool, "volume_name": name, "volume_size": spec.size, "volume_state": spec.state}
    if spec.features is not None:
        extra["volume_features"] = spec.features
    req = JobCreate(playbook="volume", extra_vars=extra, callback_url=spec.callback_url)
    return _start(
        services,
        principal,
        req,
        response,
        f"/v1/volumes/{pool}/{name}",
        f"volume:{pool}/{name}",
        idempotency_key,
        x_callback_url,
        {"volume_connection": services.settings.volume_connection}
        if services.settings.volume_connection
        else {},
    )


@router.put(
    "/vms/{name}",
    status_code=202,
    response_model=JobPublic,
    responses={
        200: {"model": JobPublic, "description": "Replay: the job an Idempotency-Key made"},
        **AUTH,
        **problems(400, 409, 413, 422, 503),
    },
)
def put_vm(
    name: Name,
    spec: VmSpec,
    response: Response,
    services: ServicesDep,
    principal: Operator,
    idempotency_key: IdempotencyKey,
    x_callback_url: CallbackHeader = None,
) -> JobPublic:
    """Converge libvirt domain ``name`` to the given spec (a job)."""
    req = JobCreate(
        playbook="vm", extra_vars={"vm_name": name, "vm_spec": spec.spec}, callback_url=spec.callback_url
    )
    conn = services.settings.vm_connection
    return _start(
        services,
        principal,
        req,
        response,
        f"/v1/vms/{name}",
        f"vm:{name}",
        idempotency_key,
        x_callback_url,
        {"vm_connection": conn} if conn else {},
    )
