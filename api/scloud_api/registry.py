"""The cloud's registry: a record per virtual resource, and the job that converges it where it belongs.

A ``PUT /v1/<kinds>/{name}`` is checked, recorded and turned into a job in one database transaction
(``Services.submit``'s ``prepare``), under the resource's lock (``locks.py``): two requests on one
resource never run at once on any API node, and a request while the resource's job runs answers
``409 resource_busy`` with ``Retry-After`` (the caller retries; nothing waits in the API). In that
same transaction:

- references are checked (a VM's subnets, security groups, volumes and public IP must exist; a VPC
  with subnets, an attached volume, a subnet with ports, a bound public IP cannot be deleted);
- business values are claimed in ``resource_claims``, whose unique constraint is the last word: a
  public IP's address, a subnet's CIDR in its VPC, a port's IP in its subnet, a MAC, the attachment
  of a volume that is not ``shareable``, the binding of a public IP;
- a new VM is placed by the scheduler (``scheduler.py``) on the nodes' capacity minus the claims of
  the VMs already placed, under the placement lock: concurrent creates never overcommit;
- the job's variables and ``limit`` are set: a VM's job runs on its compute node (its libvirtd, its
  Python with the engine bindings), a volume's or a network's on a storage/management node that has
  the Ceph client and reaches the OVN Northbound cluster (``Settings.service_node``).

When the job ends, ``observe.apply_job_result`` writes what it saw back into the record.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import locks, rules, scheduler
from .auth import Principal
from .catalogue import validate_vars
from .errors import ApiError, Conflict, Forbidden, Invalid, NotFound
from .models import (
    ACTIVE_STATUSES,
    Job,
    Node,
    Resource,
    ResourceClaim,
    ResourceKind,
    ResourceStatus,
    new_id,
    utcnow,
)
from .schemas import JobCreate, JobPublic
from .specs import (
    AlarmRuleSpec,
    BackupSpec,
    LoadBalancerSpec,
    PublicIpSpec,
    RestoreRequest,
    SecurityGroupSpec,
    SnapshotSpec,
    SubnetSpec,
    VmSpec,
    VolumeSpec,
    VpcSpec,
)

K = ResourceKind
PATHS = {
    K.VM: "vms",
    K.VOLUME: "volumes",
    K.VPC: "vpcs",
    K.SUBNET: "subnets",
    K.SECURITY_GROUP: "security-groups",
    K.PUBLIC_IP: "public-ips",
    K.LOAD_BALANCER: "load-balancers",
    K.ALARM_RULE: "alarm-rules",
    K.SNAPSHOT: "volumes",  # /v1/volumes/{pool}/{name}/snapshots/{snap}: resource_path()
    K.BACKUP: "backups",
}
SPECS: dict[str, type[BaseModel]] = {
    K.VM: VmSpec,
    K.VOLUME: VolumeSpec,
    K.VPC: VpcSpec,
    K.SUBNET: SubnetSpec,
    K.SECURITY_GROUP: SecurityGroupSpec,
    K.PUBLIC_IP: PublicIpSpec,
    K.LOAD_BALANCER: LoadBalancerSpec,
    K.ALARM_RULE: AlarmRuleSpec,
    K.SNAPSHOT: SnapshotSpec,
    K.BACKUP: BackupSpec,
}
# The catalogue entry (playbooks/catalogue.yml) that converges each kind.
PLAYBOOKS = {
    K.VM: "vm",
    K.VOLUME: "volume",
    K.VPC: "vpc",
    K.SUBNET: "subnet",
    K.SECURITY_GROUP: "security_group",
    K.PUBLIC_IP: "public_ip",
    K.LOAD_BALANCER: "load_balancer",
    K.ALARM_RULE: "alarm_rules",
    K.SNAPSHOT: "snapshot",
    K.BACKUP: "backup",
}
NODES_KEY = "nodes:refresh"
ALARM_RULES_KEY = "alarm_rule:*"
BUSY_RETRY_AFTER = "5"
PUBLIC = "public"  # the claim scope of the public network's addresses: ip:public


def resource_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def resource_path(kind: str, name: str) -> str:
    """The route of a record: a snapshot ``pool/image@snap`` is under its volume."""
    if kind == K.SNAPSHOT:
        volume, _, snap = name.partition("@")
        return f"/v1/volumes/{volume}/snapshots/{snap}"
    return f"/v1/{PATHS[kind]}/{name}"


def router_name(vpc: str) -> str:
    return f"{vpc}-router"


def _err(loc: list, rule: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "rule": rule, "msg": msg}


def _conflict(detail: str, loc: list, rule: str, code: str = "conflict") -> Conflict:
    return Conflict(detail, code=code, errors=[_err(loc, rule, detail)])


def _invalid(detail: str, loc: list, rule: str = "reference") -> Invalid:
    return Invalid(detail, code="invalid_reference", errors=[_err(loc, rule, detail)])


class Registry:
    """The resource routes' behaviour; one per API process (``Services.registry``)."""

    def __init__(self, services):
        self.services = services
        self.settings = services.settings

    # Requests -------------------------------------------------------------------------------------
    def put(
        self,
        principal: Principal,
        kind: str,
        name: str,
        spec: BaseModel,
        *,
        idempotency_key: str | None = None,
        header_callback: str | None = None,
    ) -> tuple[JobPublic, bool]:
        body = spec.model_dump(mode="json", exclude={"callback_url"})

        def prepare(s: Session, job: Job) -> None:
            self._prepare(s, job, principal, kind, name, spec, body, delete=False)

        return self._submit(
            principal, kind, name, spec.callback_url, body, prepare, "PUT", idempotency_key, header_callback
        )

    def delete(
        self,
        principal: Principal,
        kind: str,
        name: str,
        *,
        idempotency_key: str | None = None,
        header_callback: str | None = None,
    ) -> tuple[JobPublic, bool]:
        def prepare(s: Session, job: Job) -> None:
            self._prepare(s, job, principal, kind, name, None, None, delete=True)

        return self._submit(
            principal, kind, name, None, {}, prepare, "DELETE", idempotency_key, header_callback
        )

    def refresh_nodes(self, principal: Principal) -> JobPublic:
        """A job that reads every compute node's capacity (playbooks/nodes.yml)."""

        def prepare(s: Session, job: Job) -> None:
            with locks.held(s, NODES_KEY):
                self._check_busy(s, [NODES_KEY], NODES_KEY)

        job, _ = self.services.submit(
            principal,
            JobCreate(playbook="nodes"),
            path="/v1/nodes/refresh",
            method="POST",
            resource=NODES_KEY,
            prepare=prepare,
        )
        return job

    def _submit(self, principal, kind, name, callback, body, prepare, method, idem, header_cb):
        path = resource_path(kind, name)
        req = JobCreate(playbook=PLAYBOOKS[kind], callback_url=callback)
        return self.services.submit(
            principal,
            req,
            header_callback=header_cb,
            idempotency_key=idem,
            path=path,
            method=method,
            resource=resource_key(kind, name),
            prepare=prepare,
            fingerprint_body=body,
        )

    # Reads ----------------------------------------------------------------------------------------
    def get(self, s: Session, kind: str, name: str) -> Resource:
        rec = self._find(s, kind, name)
        if rec is None:
            raise NotFound(f"{kind} {name} does not exist", code=f"{kind}_not_found")
        return rec

    def list(self, s: Session, kind: str, *, node: str | None, status: str | None, offset: int, limit: int):
        q = select(Resource).where(Resource.kind == kind)
        if node:
            q = q.where(Resource.node == node)
        if status:
            q = q.where(Resource.status == status)
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(Resource.name).offset(offset).limit(limit)).all()
        return rows, total

    # The transaction of one request ---------------------------------------------------------------
    def _prepare(self, s, job, principal, kind, name, spec, body, *, delete: bool) -> None:
        key = resource_key(kind, name)
        rec = self._find(s, kind, name)
        lock_names = [key, *self._extra_locks(s, kind, name, rec, spec)]
        with locks.held(s, *lock_names):
            rec = self._find(s, kind, name)
            self._check_busy(s, self._busy_keys(s, kind, name, rec, spec), key)
            if delete:
                if rec is None:
                    raise NotFound(f"{kind} {name} does not exist", code=f"{kind}_not_found")
                variables, limit = getattr(self, f"_delete_{kind}")(s, rec)
                rec.status = ResourceStatus.DELETING
                variables["resource_delete"] = True
            else:
                if rec is None:
                    rec = Resource(
                        id=new_id(),
                        kind=kind,
                        name=name,
                        spec=body,
                        generation=1,
                        observed={},
                        addresses={},
                        created_at=utcnow(),
                    )
                    s.add(rec)
                elif rec.spec != body or rec.status == ResourceStatus.DELETING:
                    rec.spec = body
                    rec.generation += 1
                variables, limit = getattr(self, f"_put_{kind}")(s, rec, spec, principal)
                rec.status = ResourceStatus.PENDING
            rec.last_job_id, rec.updated_at, rec.error = job.id, utcnow(), None
            variables["resource_generation"] = rec.generation
            try:
                s.flush()
            except IntegrityError as exc:
                raise Conflict(
                    f"{kind} {name}: a value it claims is held by another resource ({exc.orig})"[:500],
                    code="claim_conflict",
                ) from None
            entry = self.services.catalogue.get(PLAYBOOKS[kind])
            validate_vars(entry, variables)
            job.extra_vars, job.limit = variables, limit

    def _extra_locks(self, s, kind, name, rec, spec) -> list[str]:
        """What else the request reads and claims, locked with it (sorted, so no two wait on each other)."""
        if kind == K.VM:
            names = [locks.PLACEMENT]
            if rec is not None:
                names += [resource_key(K.SUBNET, n["subnet"]) for n in rec.addresses.get("nics") or []]
            if spec is not None:
                names += [resource_key(K.SUBNET, n.subnet) for n in spec.nics]
                names += [resource_key(K.VOLUME, d.volume) for d in spec.disks]
                if spec.public_ip:
                    names.append(resource_key(K.PUBLIC_IP, spec.public_ip))
            return names
        if kind in (K.SUBNET, K.VPC):
            vpc = (
                spec.vpc
                if (kind == K.SUBNET and spec)
                else (rec.spec.get("vpc") if kind == K.SUBNET and rec else None)
            )
            names = [resource_key(K.VPC, vpc)] if vpc else []
            return names + ([resource_key(PUBLIC, "pool")] if kind == K.VPC else [])
        if kind == K.PUBLIC_IP:
            return [resource_key(PUBLIC, "pool")]
        if kind == K.LOAD_BALANCER:
            subnet = spec.subnet if spec is not None else (rec.spec.get("subnet") if rec else None)
            return [resource_key(K.SUBNET, subnet)] if subnet else []
        if kind == K.ALARM_RULE:
            return [ALARM_RULES_KEY]  # one rule file: one change at a time
        if kind == K.SNAPSHOT:
            return [resource_key(K.VOLUME, name.partition("@")[0])]
        if kind == K.BACKUP:
            volume = spec.volume if spec is not None else (rec.spec.get("volume") if rec else None)
            return [resource_key(K.VOLUME, volume)] if volume else []
        return []

    def _busy_keys(self, s, kind, name, rec, spec) -> list[str]:
        """Resources whose running job blocks this request: its own, and for a VPC and its subnets
        every one of them (the router's subnet list is one exact set)."""
        keys = [resource_key(kind, name)]
        vpc = None
        if kind == K.VPC:
            vpc = name
        elif kind == K.SUBNET:
            vpc = spec.vpc if spec is not None else (rec.spec.get("vpc") if rec else None)
        if vpc:
            keys.append(resource_key(K.VPC, vpc))
            keys += [resource_key(K.SUBNET, sub.name) for sub in self._subnets_of(s, vpc)]
        if kind == K.SNAPSHOT:  # the volume's job and its snapshots' jobs: one at a time
            keys.append(resource_key(K.VOLUME, name.partition("@")[0]))
        if kind == K.BACKUP:  # its volume's job and its own: one at a time
            volume = spec.volume if spec is not None else (rec.spec.get("volume") if rec else None)
            if volume:
                keys.append(resource_key(K.VOLUME, volume))
        if kind == K.VOLUME:
            snaps = s.scalars(
                select(Resource.name).where(Resource.kind == K.SNAPSHOT, Resource.name.startswith(f"{name}@"))
            )
            keys += [resource_key(K.SNAPSHOT, n) for n in snaps]
        if kind == K.ALARM_RULE:  # every job writes the whole set: one at a time
            names = s.scalars(select(Resource.name).where(Resource.kind == K.ALARM_RULE))
            keys += [resource_key(K.ALARM_RULE, n) for n in names]
        return keys

    def _check_busy(self, s: Session, keys: Iterable[str], own: str) -> None:
        running = s.execute(
            select(Job.id, Job.status, Job.resource)
            .where(Job.resource.in_(sorted(set(keys))), Job.status.in_(list(ACTIVE_STATUSES)))
            .limit(1)
        ).first()
        if running is not None:
            whose = "its" if running.resource == own else f"{running.resource}'s"
            raise Conflict(
                f"{own} is busy: {whose} job {running.id} is {running.status}; retry when it ends",
                code="resource_busy",
                headers={"Retry-After": BUSY_RETRY_AFTER},
            )

    # Alarm rules -------------------------------------------------------------------------------
    def _alarm_rules(self, s: Session, rec: Resource | None, without: str | None = None) -> list[dict]:
        """The whole set of the API's rules, as the job writes it: every record but the one being
        deleted, this one with its new spec."""
        recs = s.scalars(select(Resource).where(Resource.kind == K.ALARM_RULE).order_by(Resource.name)).all()
        if rec is not None and rec not in recs:
            recs.append(rec)
        out = []
        for r in sorted(recs, key=lambda r: r.name):
            if r.name == without or (r.status == ResourceStatus.DELETING and r is not rec):
                continue
            out.append(AlarmRuleSpec.model_validate(r.spec).rule(r.name))
        return out

    def _rules_vars(self, rule_set: list[dict]) -> tuple[dict[str, Any], str]:
        return {"alarm_rules": rule_set}, self.settings.monitoring_group

    def _put_alarm_rule(self, s, rec, spec: AlarmRuleSpec, principal):
        shipped = self.settings.collection_root / "roles/monitoring/files/alerts.yml"
        if rec.name in rules.shipped_names(shipped):
            msg = f"{rec.name} is a rule the monitoring role ships (docs/monitoring.md): choose another name"
            raise Invalid(
                msg, code="reserved_name", errors=[{"loc": ["path", "name"], "rule": "reserved", "msg": msg}]
            )
        rules.check(spec.rule(rec.name), self.settings.promtool)
        return self._rules_vars(self._alarm_rules(s, rec))

    def _delete_alarm_rule(self, s, rec):
        return self._rules_vars(self._alarm_rules(s, None, without=rec.name))

    # Helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _find(s: Session, kind: str, name: str) -> Resource | None:
        return s.scalars(select(Resource).where(Resource.kind == kind, Resource.name == name)).first()

    def _require(self, s: Session, kind: str, name: str, loc: list, what: str) -> Resource:
        rec = self._find(s, kind, name)
        if rec is None or rec.status == ResourceStatus.DELETING:
            raise _invalid(f"{'/'.join(map(str, loc))}: no {what} named {name}", loc)
        return rec

    @staticmethod
    def _subnets_of(s: Session, vpc: str) -> list[Resource]:
        subs = s.scalars(select(Resource).where(Resource.kind == K.SUBNET).order_by(Resource.name)).all()
        return [r for r in subs if r.spec.get("vpc") == vpc and r.status != ResourceStatus.DELETING]

    @staticmethod
    def _claims(s: Session, scope: str) -> dict[str, str]:
        rows = s.execute(
            select(ResourceClaim.value, ResourceClaim.resource_id).where(ResourceClaim.scope == scope)
        )
        return {value: owner for value, owner in rows}

    def _set_claims(self, s: Session, rec: Resource, wanted: list[tuple[str, str, list, str]]) -> None:
        """Make ``rec``'s claims exactly ``wanted`` (scope, value, loc, what); a value another resource
        holds is a 409 naming the field."""
        mine = {
            (c.scope, c.value): c
            for c in s.scalars(select(ResourceClaim).where(ResourceClaim.resource_id == rec.id))
        }
        for scope, value, loc, what in wanted:
            if (scope, value) in mine:
                continue
            owner = s.scalar(
                select(ResourceClaim.resource_id).where(
                    ResourceClaim.scope == scope, ResourceClaim.value == value
                )
            )
            if owner is not None:
                other = s.get(Resource, owner)
                holder = f"{other.kind} {other.name}" if other else "another resource"
                raise _conflict(
                    f"{'/'.join(map(str, loc))}: {what} {value} is held by {holder}",
                    loc,
                    "unique",
                    code="claim_conflict",
                )
            s.add(ResourceClaim(resource_id=rec.id, scope=scope, value=value))
        keep = {(scope, value) for scope, value, _, _ in wanted}
        for pair, claim in mine.items():
            if pair not in keep:
                s.delete(claim)

    def service_node(self) -> str:
        """Where volume and network jobs run: ``Settings.service_node``, else this API node when the
        inventory has it in the service group, else the first host of that group."""
        if self.settings.service_node:
            return self.settings.service_node
        inv = self.services.inventory
        inv.refresh()
        members = sorted(inv.members.get(self.settings.service_group, ()))
        if self.settings.node_name in members:
            return self.settings.node_name
        if not members:
            raise ApiError(
                f"the job inventory has no host in group {self.settings.service_group} to run this job on",
                status=503,
                code="no_service_node",
            )
        return members[0]

    def _public_network(self) -> ipaddress.IPv4Network | None:
        net = self.settings.public_network
        return ipaddress.IPv4Network(net["cidr"]) if net else None

    def _vpc_vars(
        self, s: Session, vpc: Resource, extra_subnet: Resource | None = None, without: str | None = None
    ) -> dict[str, Any]:
        subnets = [r.name for r in self._subnets_of(s, vpc.name) if r.name != without]
        if extra_subnet is not None and extra_subnet.name not in subnets:
            subnets.append(extra_subnet.name)
        external = None
        if self.settings.public_network and vpc.addresses.get("external_ip"):
            external = {
                "network": self.settings.public_network["name"],
                "ip": vpc.addresses["external_ip"],
                "gateway": self.settings.public_network["gateway"],
            }
        return {
            "vpc_name": vpc.name,
            "vpc_router": router_name(vpc.name),
            "vpc_subnets": [{"switch": n} for n in sorted(subnets)],
            "vpc_snat": sorted(subnets) if external else [],
            "vpc_external": external,
            "vpc_public": self._public_vars(),
            "vpc_router_exists": True,
        }

    def _public_vars(self) -> dict[str, Any] | None:
        net = self.settings.public_network
        return {"name": net["name"], "cidr": net["cidr"], "gateway": net["gateway"]} if net else None

    # Volumes -----------------------------------------------------------------------------------
    def _put_volume(self, s, rec, spec: VolumeSpec, principal):
        pool, _, image = rec.name.partition("/")
        allowed = self.settings.volume_pools
        if allowed and pool not in allowed:
            raise Invalid(
                f"pool: volumes go in {', '.join(allowed)} (VOLUME_POOLS), not {pool}",
                errors=[_err(["path", "pool"], "volume_pools", f"must be one of {', '.join(allowed)}")],
            )
        variables = {
            "volume_pool": pool,
            "volume_name": image,
            "volume_size": spec.size,
            "volume_state": "present",
        }
        if spec.features is not None:
            variables["volume_features"] = spec.features
        return variables, self.service_node()

    def _delete_volume(self, s, rec):
        users = [
            vm.name for vm in self._vms(s) if rec.name in [d["volume"] for d in vm.spec.get("disks") or []]
        ]
        if users:
            raise _conflict(
                f"volume {rec.name} is attached to VM {', '.join(users)}; detach it first",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        snaps = self.snapshots_of(s, rec.name)
        if snaps:
            raise _conflict(
                f"volume {rec.name} has snapshots ({', '.join(r.name.partition('@')[2] for r in snaps)}); "
                "delete them first",
                ["name"],
                "has_snapshots",
                code="resource_in_use",
            )
        pool, _, image = rec.name.partition("/")
        return {"volume_pool": pool, "volume_name": image, "volume_state": "absent"}, self.service_node()

    @staticmethod
    def snapshots_of(s: Session, volume: str) -> list[Resource]:
        return list(
            s.scalars(
                select(Resource)
                .where(Resource.kind == K.SNAPSHOT, Resource.name.startswith(f"{volume}@"))
                .order_by(Resource.created_at, Resource.name)
            )
        )

    # Snapshots ---------------------------------------------------------------------------------
    def _snapshot_vars(self, name: str, **extra) -> tuple[dict[str, Any], str]:
        volume, _, snap = name.partition("@")
        pool, _, image = volume.partition("/")
        variables = {"snapshot_pool": pool, "snapshot_image": image, "snapshot_name": snap, **extra}
        return variables, self.service_node()

    def _put_snapshot(self, s, rec, spec: SnapshotSpec, principal):
        volume = rec.name.partition("@")[0]
        self._require(s, K.VOLUME, volume, ["path", "name"], "volume")
        return self._snapshot_vars(rec.name, snapshot_state="present", snapshot_protected=spec.protected)

    def _delete_snapshot(self, s, rec):
        if rec.spec.get("protected"):
            raise _conflict(
                f"snapshot {rec.name} is protected: PUT it with protected false first",
                ["protected"],
                "protected",
                code="resource_protected",
            )
        return self._snapshot_vars(rec.name, snapshot_state="absent")

    def _volume_in_use(self, s, volume: str) -> list[str]:
        """The VMs that have the volume and may be running (a rollback needs them stopped)."""
        out = []
        for vm in self._vms(s):
            if volume in [d["volume"] for d in vm.spec.get("disks") or []]:
                if (
                    vm.spec.get("state", "running") != "shutoff"
                    or (vm.observed or {}).get("state") == "running"
                ):
                    out.append(vm.name)
        return out

    # Backups -----------------------------------------------------------------------------------
    @staticmethod
    def _backup_state(rec: Resource) -> dict[str, Any]:
        return (rec.observed or {}).get("backup") or {}

    def _backup_vars(
        self, rec: Resource, spec: BackupSpec, snapshot: str, **extra
    ) -> tuple[dict[str, Any], str]:
        pool, _, image = spec.volume.partition("/")
        kept = self._backup_state(rec).get("snapshots") or []
        previous = kept[-1] if kept and kept[-1] != snapshot else None
        variables = {
            "backup_volume_pool": pool,
            "backup_volume_image": image,
            "backup_snapshot": snapshot,
            "backup_pool": spec.backup_pool,
            "backup_image": f"backup.{rec.name}",
            "backup_keep": spec.keep,
            "backup_previous": previous,
            "backup_state": "present",
            "backup_take": snapshot not in kept,
            **extra,
        }
        return variables, self.service_node()

    @staticmethod
    def _new_backup_name(plan: str) -> str:
        return f"{plan}-{utcnow():%Y%m%dT%H%M%S}"

    def _put_backup(self, s, rec, spec: BackupSpec, principal):
        self._require(s, K.VOLUME, spec.volume, ["body", "volume"], "volume")
        pool = spec.volume.partition("/")[0]
        if spec.backup_pool == pool:
            raise _invalid(
                f"backup_pool: {pool} is the volume's pool; a backup goes to another pool (CRUSH rule)",
                ["backup_pool"],
                rule="other_pool",
            )
        allowed = self.settings.backup_pools
        if allowed and spec.backup_pool not in allowed:
            raise _invalid(
                f"backup_pool: backups go in {', '.join(allowed)} (BACKUP_POOLS), not {spec.backup_pool}",
                ["backup_pool"],
                rule="backup_pools",
            )
        done = (rec.observed or {}).get("volume")
        if done and done != spec.volume:
            raise _invalid(
                f"volume: plan {rec.name} backs up {done}; delete it and make another plan for {spec.volume}",
                ["volume"],
                rule="immutable",
            )
        # The newest backup again (nothing to do when it is there) or, for a new plan, the first one.
        kept = self._backup_state(rec).get("snapshots") or []
        return self._backup_vars(rec, spec, kept[-1] if kept else self._new_backup_name(rec.name))

    def _delete_backup(self, s, rec):
        spec = BackupSpec.model_validate(rec.spec)
        kept = self._backup_state(rec).get("snapshots") or []
        return self._backup_vars(rec, spec, kept[-1] if kept else "none", backup_state="absent")

    def run_backup(self, principal: Principal, name: str, *, scheduled: bool = False) -> JobPublic:
        """A backup now: a snapshot of the volume, copied incrementally into the backup pool, the
        oldest beyond ``keep`` removed. ``scheduled``: only when the plan is due (checked under its
        lock, so two API nodes never both run it)."""

        def build(s: Session, rec: Resource) -> tuple[dict[str, Any], str]:
            spec = BackupSpec.model_validate(rec.spec)
            if scheduled and not self._due(s, rec, spec):
                raise Conflict(f"backup plan {name} is not due", code="not_due")
            return self._backup_vars(rec, spec, self._new_backup_name(name))

        return self._action(principal, K.BACKUP, name, "/run", build)

    def _action(self, principal: Principal, kind: str, name: str, suffix: str, build) -> JobPublic:
        """A job on an existing record that does not change its spec (a backup run, a rollback):
        under the record's locks, refused while its job or a related one runs, the record pending
        on the new job; ``build(session, record)`` checks the request and gives the variables."""
        key = resource_key(kind, name)

        def prepare(s: Session, job: Job) -> None:
            rec = self.get(s, kind, name)
            with locks.held(s, key, *self._extra_locks(s, kind, name, rec, None)):
                s.refresh(rec)
                self._check_busy(s, self._busy_keys(s, kind, name, rec, None), key)
                variables, limit = build(s, rec)
                variables["resource_generation"] = rec.generation
                validate_vars(self.services.catalogue.get(PLAYBOOKS[kind]), variables)
                rec.status, rec.last_job_id, rec.updated_at = ResourceStatus.PENDING, job.id, utcnow()
                job.extra_vars, job.limit = variables, limit

        job, _ = self.services.submit(
            principal,
            JobCreate(playbook=PLAYBOOKS[kind]),
            path=resource_path(kind, name) + suffix,
            method="POST",
            resource=key,
            prepare=prepare,
        )
        return job

    @staticmethod
    def _due(s: Session, rec: Resource, spec: BackupSpec) -> bool:
        if not spec.every_minutes or rec.status == ResourceStatus.DELETING:
            return False
        last = s.scalar(
            select(func.max(Job.created_at)).where(Job.resource == resource_key(K.BACKUP, rec.name))
        )
        return last is None or (utcnow() - last).total_seconds() >= spec.every_minutes * 60

    def due_backups(self, s: Session) -> list[str]:
        plans = s.scalars(
            select(Resource).where(Resource.kind == K.BACKUP, Resource.status != ResourceStatus.DELETING)
        )
        return [r.name for r in plans if self._due(s, r, BackupSpec.model_validate(r.spec))]

    def restore_backup(self, principal: Principal, name: str, req: RestoreRequest) -> JobPublic:
        """A job that writes a backup into a volume: a new one (recorded here), or an existing one
        with ``overwrite`` (refused while a VM that has it may be running)."""
        plan_key, target_key = resource_key(K.BACKUP, name), resource_key(K.VOLUME, req.volume)

        def prepare(s: Session, job: Job) -> None:
            with locks.held(s, plan_key, target_key):
                rec = self.get(s, K.BACKUP, name)
                self._check_busy(s, [plan_key, target_key], target_key)
                kept = self._backup_state(rec).get("snapshots") or []
                if not kept:
                    raise _conflict(
                        f"backup plan {name} has no backup yet", ["snapshot"], "none", code="no_backup"
                    )
                snapshot = req.snapshot or kept[-1]
                if snapshot not in kept:
                    raise _invalid(
                        f"snapshot: plan {name} keeps {', '.join(kept)}, not {snapshot}",
                        ["snapshot"],
                        rule="backup",
                    )
                spec = BackupSpec.model_validate(rec.spec)
                target = self._find(s, K.VOLUME, req.volume)
                pool, _, image = req.volume.partition("/")
                if target is not None:
                    if not req.overwrite:
                        raise _conflict(
                            f"volume {req.volume} exists: overwrite true replaces its content "
                            "(its VMs stopped), or restore into a new volume",
                            ["overwrite"],
                            "exists",
                            code="resource_exists",
                        )
                    users = self._volume_in_use(s, req.volume)
                    if users:
                        raise _conflict(
                            f"volume {req.volume} is attached to VM {', '.join(users)}, which may be "
                            "running: PUT the VM with state shutoff first",
                            ["volume"],
                            "in_use",
                            code="resource_in_use",
                        )
                else:
                    allowed = self.settings.volume_pools
                    if allowed and pool not in allowed:
                        raise _invalid(
                            f"volume: volumes go in {', '.join(allowed)} (VOLUME_POOLS), not {pool}",
                            ["volume"],
                            rule="volume_pools",
                        )
                    source = self._find(s, K.VOLUME, spec.volume)
                    size = (source.spec if source is not None else {}).get("size") or self._backup_state(
                        rec
                    ).get("size")
                    target = Resource(
                        id=new_id(),
                        kind=K.VOLUME,
                        name=req.volume,
                        spec={"size": size, "features": None, "shareable": False},
                        generation=1,
                        observed={},
                        addresses={},
                        created_at=utcnow(),
                    )
                    s.add(target)
                target.status, target.last_job_id, target.updated_at = (
                    ResourceStatus.PENDING,
                    job.id,
                    utcnow(),
                )
                variables = {
                    "restore_backup_pool": spec.backup_pool,
                    "restore_backup_image": f"backup.{name}",
                    "restore_snapshot": snapshot,
                    "restore_pool": pool,
                    "restore_image": image,
                    "restore_overwrite": req.overwrite,
                    "resource_generation": target.generation,
                }
                validate_vars(self.services.catalogue.get("restore"), variables)
                job.extra_vars, job.limit = variables, self.service_node()

        job, _ = self.services.submit(
            principal,
            JobCreate(playbook="restore"),
            path=resource_path(K.BACKUP, name) + "/restore",
            method="POST",
            resource=target_key,
            prepare=prepare,
        )
        return job

    def rollback_snapshot(self, principal: Principal, name: str) -> JobPublic:
        """A job that rolls the volume back to the snapshot; refused while a VM may run on it."""
        volume = name.partition("@")[0]

        def build(s: Session, rec: Resource) -> tuple[dict[str, Any], str]:
            users = self._volume_in_use(s, volume)
            if users:
                raise _conflict(
                    f"volume {volume} is attached to VM {', '.join(users)}, which may be running: "
                    "PUT the VM with state shutoff before rolling back",
                    ["name"],
                    "in_use",
                    code="resource_in_use",
                )
            protected = bool(rec.spec.get("protected"))
            return self._snapshot_vars(
                name, snapshot_state="present", snapshot_protected=protected, snapshot_rollback=True
            )

        return self._action(principal, K.SNAPSHOT, name, "/rollback", build)

    @staticmethod
    def _vms(s: Session) -> list[Resource]:
        return list(s.scalars(select(Resource).where(Resource.kind == K.VM)).all())

    # VPCs and subnets ------------------------------------------------------------------------------
    def _put_vpc(self, s, rec, spec: VpcSpec, principal):
        net = self._public_network()
        if net is not None and not rec.addresses.get("external_ip"):
            rec.addresses = {
                **rec.addresses,
                "external_ip": self._free_ip(s, PUBLIC, net, self._public_reserved()),
            }
        wanted = [(f"ip:{PUBLIC}", rec.addresses["external_ip"], ["name"], "public address")] if net else []
        self._set_claims(s, rec, wanted)
        return {**self._vpc_vars(s, rec), "vpc_state": "present"}, self.service_node()

    def _delete_vpc(self, s, rec):
        subnets = [r.name for r in self._subnets_of(s, rec.name)]
        if subnets:
            raise _conflict(
                f"VPC {rec.name} has subnets {', '.join(subnets)}; delete them first",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        return {**self._vpc_vars(s, rec), "vpc_state": "absent"}, self.service_node()

    def _put_subnet(self, s, rec, spec: SubnetSpec, principal):
        vpc = self._require(s, K.VPC, spec.vpc, ["vpc"], "VPC")
        cidr = ipaddress.IPv4Network(spec.cidr)
        for other in self._subnets_of(s, spec.vpc):
            if other.id != rec.id and cidr.overlaps(ipaddress.IPv4Network(other.spec["cidr"])):
                raise _conflict(
                    f"cidr: {cidr} overlaps {other.spec['cidr']} of subnet {other.name} in VPC {spec.vpc}",
                    ["cidr"],
                    "overlap",
                )
        ports = [v for v, owner in self._claims(s, f"ip:{rec.name}").items() if owner != rec.id]
        if ports and rec.addresses.get("cidr") not in (None, str(cidr)):
            raise _conflict(
                f"cidr: subnet {rec.name} has ports ({', '.join(sorted(ports))}); its CIDR cannot change",
                ["cidr"],
                "in_use",
            )
        if rec.addresses.get("vpc") not in (None, spec.vpc):
            raise _conflict(
                f"vpc: subnet {rec.name} is in VPC {rec.addresses['vpc']}; delete and create it again",
                ["vpc"],
                "immutable",
            )
        rec.addresses = {"cidr": str(cidr), "gateway_ip": spec.gateway_ip, "vpc": spec.vpc}
        self._set_claims(
            s,
            rec,
            [
                (f"cidr:{spec.vpc}", str(cidr), ["cidr"], "CIDR"),
                (f"ip:{rec.name}", spec.gateway_ip, ["gateway_ip"], "address"),
            ],
        )
        variables = {
            **self._vpc_vars(s, vpc, extra_subnet=rec),
            "subnet_name": rec.name,
            "subnet_cidr": str(cidr),
            "subnet_gateway_ip": spec.gateway_ip,
            "subnet_dhcp": spec.dhcp,
            "subnet_dns_servers": spec.dns_servers,
            "subnet_state": "present",
        }
        return variables, self.service_node()

    def _delete_subnet(self, s, rec):
        ports = sorted(v for v, owner in self._claims(s, f"ip:{rec.name}").items() if owner != rec.id)
        if ports:
            raise _conflict(
                f"subnet {rec.name} has ports ({', '.join(ports)}); delete their VMs first",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        vpc = self._find(s, K.VPC, rec.spec["vpc"])
        variables = {
            "subnet_name": rec.name,
            "subnet_state": "absent",
            "subnet_cidr": rec.spec["cidr"],
            "subnet_gateway_ip": rec.spec.get("gateway_ip"),
            "subnet_dhcp": False,
            "subnet_dns_servers": [],
        }
        if vpc is not None:
            variables.update(self._vpc_vars(s, vpc, without=rec.name))
        else:
            variables.update(
                {
                    "vpc_name": rec.spec["vpc"],
                    "vpc_router": router_name(rec.spec["vpc"]),
                    "vpc_subnets": [],
                    "vpc_snat": [],
                    "vpc_external": None,
                    "vpc_public": None,
                    "vpc_router_exists": False,
                }
            )
        return variables, self.service_node()

    # Security groups and public IPs ------------------------------------------------------------------
    def _put_security_group(self, s, rec, spec: SecurityGroupSpec, principal):
        for i, rule in enumerate(spec.rules):
            if rule.remote_group and rule.remote_group != rec.name:
                self._require(
                    s, K.SECURITY_GROUP, rule.remote_group, ["rules", i, "remote_group"], "security group"
                )
        rules = [r.model_dump(exclude_none=True) for r in spec.rules]
        return {"sg_name": rec.name, "sg_rules": rules, "sg_state": "present"}, self.service_node()

    def _delete_security_group(self, s, rec):
        users = [
            vm.name
            for vm in self._vms(s)
            if any(rec.name in (n.get("security_groups") or []) for n in vm.spec.get("nics") or [])
        ]
        users += [
            f"security group {g.name}"
            for g in s.scalars(
                select(Resource).where(Resource.kind == K.SECURITY_GROUP, Resource.id != rec.id)
            )
            if any(r.get("remote_group") == rec.name for r in g.spec.get("rules") or [])
        ]
        if users:
            raise _conflict(
                f"security group {rec.name} is used by {', '.join(users)}",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        return {"sg_name": rec.name, "sg_rules": [], "sg_state": "absent"}, self.service_node()

    def _public_reserved(self) -> set[str]:
        return {self.settings.public_network["gateway"]} if self.settings.public_network else set()

    def _put_public_ip(self, s, rec, spec: PublicIpSpec, principal):
        net = self._public_network()
        if net is None:
            raise _conflict(
                "the cloud has no public network (SCLOUD_API_PUBLIC_NETWORK)",
                ["address"],
                "no_public_network",
            )
        address = ipaddress.IPv4Address(spec.address)
        if (
            address not in net
            or address in (net.network_address, net.broadcast_address)
            or str(address) in self._public_reserved()
        ):
            raise Invalid(
                f"address: {address} is not a free host address of the public network {net}",
                errors=[_err(["address"], "public_network", f"must be a host of {net}, not its gateway")],
            )
        bound = rec.addresses.get("bound_to")
        if bound and rec.addresses.get("address") not in (None, str(address)):
            raise _conflict(
                f"address: public IP {rec.name} is bound to VM {bound}; unbind it to change its address",
                ["address"],
                "bound",
            )
        rec.addresses = {**rec.addresses, "address": str(address)}
        self._set_claims(s, rec, [(f"ip:{PUBLIC}", str(address), ["address"], "public address")])
        return {"pip_name": rec.name, "pip_address": str(address)}, self.service_node()

    def _delete_public_ip(self, s, rec):
        bound = self._claims(s, "bound").get(rec.name)
        if bound is not None:
            vm = s.get(Resource, bound)
            raise _conflict(
                f"public IP {rec.name} is bound to VM {vm.name if vm else bound}; unbind it first",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        return {"pip_name": rec.name, "pip_address": rec.addresses.get("address", "")}, self.service_node()

    # Load balancers ---------------------------------------------------------------------------
    def _put_load_balancer(self, s, rec, spec: LoadBalancerSpec, principal):
        sub = self._require(s, K.SUBNET, spec.subnet, ["subnet"], "subnet")
        net = ipaddress.IPv4Network(sub.spec["cidr"])
        if rec.addresses.get("subnet") not in (None, spec.subnet):
            raise _conflict(
                f"subnet: load balancer {rec.name} is on subnet {rec.addresses['subnet']}; "
                "delete and create it again",
                ["subnet"],
                "immutable",
            )
        if spec.vip is not None:
            vip = ipaddress.IPv4Address(spec.vip)
            if vip not in net or vip in (net.network_address, net.broadcast_address):
                raise Invalid(
                    f"vip: {vip} is not a host address of subnet {spec.subnet} ({net})",
                    errors=[_err(["vip"], "subnet", f"must be a host of {net}")],
                )
            vip = str(vip)
        elif rec.addresses.get("vip"):
            vip = rec.addresses["vip"]
        else:
            vip = self._free_ip(s, spec.subnet, net, set())
        members = []
        for i, member in enumerate(spec.members):
            vm = self._require(s, K.VM, member.vm, ["members", i, "vm"], "VM")
            ips = [n["ip"] for n in vm.addresses.get("nics") or [] if n["subnet"] == spec.subnet]
            if not ips:
                raise _invalid(
                    f"members/{i}/vm: VM {member.vm} has no NIC on subnet {spec.subnet}", ["members", i, "vm"]
                )
            members.append(f"{ips[0]}:{member.port}")
        rec.addresses = {"subnet": spec.subnet, "vip": vip}
        self._set_claims(s, rec, [(f"ip:{spec.subnet}", vip, ["vip"], "address")])
        variables = {
            "lb_name": rec.name,
            "lb_vip": f"{vip}:{spec.port}",
            "lb_protocol": spec.protocol,
            "lb_members": members,
            "lb_switches": [spec.subnet],
            "lb_routers": [router_name(sub.spec["vpc"])],
            "lb_health_check": spec.health_check.model_dump() if spec.health_check else None,
            "lb_state": "present",
        }
        return variables, self.service_node()

    def _delete_load_balancer(self, s, rec):
        variables = {
            "lb_name": rec.name,
            "lb_vip": "",
            "lb_protocol": "tcp",
            "lb_members": [],
            "lb_switches": [],
            "lb_routers": [],
            "lb_health_check": None,
            "lb_state": "absent",
        }
        return variables, self.service_node()

    # VMs -------------------------------------------------------------------------------------------
    def _put_vm(self, s, rec: Resource, spec: VmSpec, principal: Principal):
        if (spec.placement.node or spec.placement.set) and not principal.can("admin"):
            raise Forbidden("placement.node and placement.set are for admins", code="insufficient_role")
        claims: list[tuple[str, str, list, str]] = []
        for i, disk in enumerate(spec.disks):
            vol = self._require(s, K.VOLUME, disk.volume, ["disks", i, "volume"], "volume")
            if not vol.spec.get("shareable"):
                claims.append(("attach", disk.volume, ["disks", i, "volume"], "the attachment of volume"))
        old_nics = rec.addresses.get("nics") or []
        nics = []
        for i, nic in enumerate(spec.nics):
            sub = self._require(s, K.SUBNET, nic.subnet, ["nics", i, "subnet"], "subnet")
            for j, sg in enumerate(nic.security_groups):
                self._require(s, K.SECURITY_GROUP, sg, ["nics", i, "security_groups", j], "security group")
            prev = old_nics[i] if i < len(old_nics) and old_nics[i]["subnet"] == nic.subnet else None
            net = ipaddress.IPv4Network(sub.spec["cidr"])
            if nic.ip is not None:
                ip = ipaddress.IPv4Address(nic.ip)
                if ip not in net or ip in (net.network_address, net.broadcast_address):
                    raise Invalid(
                        f"nics/{i}/ip: {ip} is not a host address of subnet {nic.subnet} ({net})",
                        errors=[_err(["nics", i, "ip"], "subnet", f"must be a host of {net}")],
                    )
                ip = str(ip)
            elif prev is not None:
                ip = prev["ip"]
            else:
                ip = self._free_ip(s, nic.subnet, net, {n["ip"] for n in nics if n["subnet"] == nic.subnet})
            mac = prev["mac"] if prev else self._new_mac(s)
            nics.append(
                {
                    "port": f"{rec.name}-eth{i}",
                    "subnet": nic.subnet,
                    "ip": ip,
                    "mac": mac,
                    "security_groups": list(nic.security_groups),
                    "vpc": sub.spec["vpc"],
                }
            )
            claims.append((f"ip:{nic.subnet}", ip, ["nics", i, "ip"], "address"))
            claims.append(("mac", mac, ["nics", i], "MAC"))
        floating, release = None, []
        old_pip = rec.addresses.get("public_ip")
        if spec.public_ip is not None:
            pip = self._require(s, K.PUBLIC_IP, spec.public_ip, ["public_ip"], "public IP")
            vpc = self._find(s, K.VPC, nics[0]["vpc"])
            if vpc is None or not vpc.addresses.get("external_ip"):
                raise _conflict(
                    f"public_ip: VPC {nics[0]['vpc']} has no external gateway (no public network)",
                    ["public_ip"],
                    "no_public_network",
                )
            claims.append(("bound", spec.public_ip, ["public_ip"], "the binding of public IP"))
            floating = {
                "router": router_name(vpc.name),
                "address": pip.addresses["address"],
                "port": nics[0]["port"],
                "name": spec.public_ip,
            }
        if old_pip and (floating is None or old_pip["address"] != floating["address"]):
            release.append({"router": old_pip["router"], "address": old_pip["address"]})
        self._set_claims(s, rec, claims)
        self._place(s, rec, spec)
        self._rebind_public_ips(s, rec, old_pip, floating)
        rec.addresses = {"nics": nics, "public_ip": floating}
        variables = {
            **self._vm_vars(rec.name, nics, old_nics[len(nics) :], floating, release),
            "vm_state": spec.state,
            "vm_vcpus": spec.vcpus,
            "vm_memory": f"{spec.memory_mb}M",
            "vm_virt_type": spec.virt_type,
            "vm_boot": spec.boot.model_dump(exclude_none=True) if spec.boot else None,
            "vm_disks": self._disk_vars(spec.disks),
        }
        return variables, rec.node

    def _rebind_public_ips(self, s, rec, old, new) -> None:
        """Keep each public IP record's ``bound_to`` in step with the VM's binding."""
        if old and (new is None or old["name"] != new["name"]):
            pip = self._find(s, K.PUBLIC_IP, old["name"])
            if pip is not None:
                pip.addresses = {k: v for k, v in pip.addresses.items() if k != "bound_to"}
        if new is not None:
            pip = self._find(s, K.PUBLIC_IP, new["name"])
            pip.addresses = {**pip.addresses, "bound_to": rec.name}

    @staticmethod
    def _vm_vars(name, nics, gone, floating, release) -> dict[str, Any]:
        """The variables of vm.yml, in the shapes of the modules' options."""
        return {
            "vm_name": name,
            "vm_ports": [
                {
                    "switch": n["subnet"],
                    "name": n["port"],
                    "mac": n["mac"],
                    "ips": [n["ip"]],
                    "security_groups": n["security_groups"],
                }
                for n in nics
            ],
            "vm_domain_nics": [{"ovn_port": n["port"], "mac": n["mac"]} for n in nics],
            "vm_detach_ports": [{"switch": n["subnet"], "name": n["port"], "state": "absent"} for n in gone],
            "vm_floating": {k: floating[k] for k in ("router", "address", "port")} if floating else None,
            "vm_floating_release": release,
        }

    def _disk_vars(self, disks) -> list[dict[str, Any]]:
        out = []
        for i, disk in enumerate(disks):
            pool, _, image = disk.volume.partition("/")
            out.append(
                {
                    "target": f"vd{chr(ord('a') + i)}",
                    "rbd": {"pool": pool, "image": image, "user": self.settings.vm_ceph_user},
                }
            )
        return out

    def _delete_vm(self, s, rec):
        lbs = [
            lb.name
            for lb in s.scalars(select(Resource).where(Resource.kind == K.LOAD_BALANCER))
            if any(m.get("vm") == rec.name for m in lb.spec.get("members") or [])
        ]
        if lbs:
            raise _conflict(
                f"VM {rec.name} is a member of load balancer {', '.join(lbs)}; remove it there first",
                ["name"],
                "in_use",
                code="resource_in_use",
            )
        nics = rec.addresses.get("nics") or []
        pip = rec.addresses.get("public_ip")
        self._rebind_public_ips(s, rec, pip, None)
        release = [{"router": pip["router"], "address": pip["address"]}] if pip else []
        variables = {
            **self._vm_vars(rec.name, [], nics, None, release),
            "vm_state": "absent",
            "vm_vcpus": 1,
            "vm_memory": "64M",
            "vm_virt_type": "auto",
            "vm_boot": None,
            "vm_disks": [],
        }
        if rec.node is None:  # never placed: nothing on any node
            return variables, self.service_node()
        return variables, rec.node

    def _new_mac(self, s: Session) -> str:
        taken = self._claims(s, "mac")
        while True:
            # Locally administered, unicast (0x02 bit set, 0x01 clear): never a vendor's address.
            mac = "0a:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))
            if mac not in taken:
                return mac

    def _free_ip(self, s: Session, scope: str, net: ipaddress.IPv4Network, also_taken: set[str]) -> str:
        taken = set(self._claims(s, f"ip:{scope}")) | set(also_taken)
        for host in net.hosts():
            if str(host) not in taken:
                return str(host)
        raise _conflict(
            f"no free address left in {net} ({scope})", ["nics"], "exhausted", code="addresses_exhausted"
        )

    # Placement -------------------------------------------------------------------------------------
    def _place(self, s: Session, rec: Resource, spec: VmSpec) -> None:
        """Place a new VM, or check that its node can take its new size; claims its vCPUs and memory."""
        group = spec.placement.group
        request = scheduler.Request(
            vcpus=spec.vcpus,
            memory_mb=spec.memory_mb,
            group=group,
            policy=spec.placement.policy,
            node=spec.placement.node,
            set_name=spec.placement.set,
        )
        hosts = self.host_states(s, group=group, minus=rec if rec.node is not None else None)
        if rec.node is not None:
            mine = [h for h in hosts if h.name == rec.node]
            if mine:
                host = mine[0]
                request = scheduler.Request(vcpus=spec.vcpus, memory_mb=spec.memory_mb)
                try:
                    scheduler.schedule([host], request, self.scheduler_config())
                except scheduler.NoValidHost as exc:
                    raise Conflict(
                        f"VM {rec.name} cannot grow on its node {rec.node}: {exc.message}",
                        code="no_capacity",
                        errors=[_err(["memory_mb"], "capacity", exc.message)],
                    ) from None
        else:
            try:
                decision = scheduler.schedule(hosts, request, self.scheduler_config())
            except scheduler.NoValidHost as exc:
                raise Conflict(
                    exc.message, code="no_capacity", errors=[_err(["placement"], exc.filter, exc.message)]
                ) from None
            except ValueError as exc:
                raise Invalid(str(exc), errors=[_err(["placement"], "value", str(exc))]) from None
            rec.node = decision.node
            rec.placement = {**decision.reasons, "node": decision.node, "at": utcnow().isoformat()}
        rec.vcpus, rec.memory_mb, rec.affinity_group = spec.vcpus, spec.memory_mb, group

    def scheduler_config(self) -> scheduler.SchedulerConfig:
        st = self.settings
        return scheduler.SchedulerConfig(
            cpu_allocation_ratio=st.cpu_allocation_ratio,
            ram_allocation_ratio=st.ram_allocation_ratio,
            reserved_host_memory_mb=st.reserved_host_memory_mb,
            weigher=st.scheduler_weigher,
        )

    @staticmethod
    def host_states(
        s: Session, group: str | None = None, minus: Resource | None = None
    ) -> list[scheduler.HostState]:
        """Every known node with what its placed VMs claim (one aggregate query on a covering index)
        and, for an affinity ``group``, how many of the group's VMs it holds; ``minus``: a VM whose
        own claim does not count (it is being resized on its node)."""
        used = {
            node: [int(c or 0), int(m or 0)]
            for node, c, m in s.execute(
                select(Resource.node, func.sum(Resource.vcpus), func.sum(Resource.memory_mb))
                .where(Resource.kind == K.VM, Resource.node.is_not(None))
                .group_by(Resource.node)
            )
        }
        if minus is not None and minus.node in used:
            used[minus.node][0] -= minus.vcpus or 0
            used[minus.node][1] -= minus.memory_mb or 0
        members: dict[str, int] = {}
        if group is not None:
            for node, count in s.execute(
                select(Resource.node, func.count())
                .where(Resource.kind == K.VM, Resource.affinity_group == group, Resource.node.is_not(None))
                .group_by(Resource.node)
            ):
                members[node] = count
            if minus is not None and minus.affinity_group == group and members.get(minus.node):
                members[minus.node] -= 1
        nodes = s.execute(
            select(Node.name, Node.roles, Node.set_name, Node.vcpus, Node.memory_mb, Node.up, Node.draining)
        )
        zero = (0, 0)
        return [
            scheduler.HostState(
                name=name,
                roles=frozenset(roles or ()),
                set_name=set_name,
                vcpus=vcpus,
                memory_mb=memory_mb,
                used_vcpus=used.get(name, zero)[0],
                used_memory_mb=used.get(name, zero)[1],
                up=up,
                draining=draining,
                groups={group: members[name]} if name in members else {},
            )
            for name, roles, set_name, vcpus, memory_mb, up, draining in nodes
        ]


# What the routes show of a record -----------------------------------------------------------------
def public_view(rec: Resource, links: Callable[[Resource], dict[str, str]] | None = None) -> dict[str, Any]:
    drift = rec.kind == K.VM and bool(rec.observed) and _vm_drift(rec)
    return {
        "kind": rec.kind,
        "name": rec.name,
        "spec": rec.spec,
        "status": rec.status,
        "observed": rec.observed,
        "drift": drift,
        "node": rec.node,
        "addresses": rec.addresses,
        "placement": rec.placement,
        "generation": rec.generation,
        "observed_generation": rec.observed_generation,
        "last_job_id": rec.last_job_id,
        "error": rec.error,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "observed_at": rec.observed_at,
        "links": {
            "self": resource_path(rec.kind, rec.name),
            **({"last_job": f"/v1/jobs/{rec.last_job_id}"} if rec.last_job_id else {}),
        },
    }


def _vm_drift(rec: Resource) -> bool:
    return vm_drift(rec.spec, rec.observed)


def vm_drift(spec: dict, obs: dict) -> bool:
    """Whether the engine showed something the spec does not want: no domain, or another state."""
    wanted = "running" if spec.get("state", "running") == "running" else "shutoff"
    if not obs.get("exists", True):
        return True
    return bool(obs.get("state")) and obs["state"] != wanted


def vm_drift_exposition(s: Session) -> str:
    """``scloud_vm_drift`` of every VM the engines were read for (Prometheus text): 1 when the node
    showed the VM stopped or gone against its record (the VmDownUnexpectedly alarm)."""
    lines = [
        "# HELP scloud_vm_drift 1 when the VM's node showed it other than its record wants (stopped or gone)",
        "# TYPE scloud_vm_drift gauge",
    ]
    rows = s.execute(
        select(Resource.name, Resource.node, Resource.spec, Resource.observed).where(
            Resource.kind == K.VM, Resource.node.is_not(None)
        )
    )
    for name, node, spec, observed in rows:
        if not observed:
            continue
        drift = vm_drift(spec, observed)
        lines.append(f'scloud_vm_drift{{vm="{_label(name)}",vm_node="{_label(node)}"}} {int(drift)}')
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
