"""What a caller may ask of a cloud resource: the bodies of ``PUT /v1/<kind>/{name}``.

Each model is closed (``extra="forbid"``) and checks what it can alone (ranges, formats, CIDRs);
what needs the registry (a subnet that exists, a CIDR that overlaps another of the VPC, a public IP
already bound) is checked by ``registry.py`` under the resource's lock, before any job starts.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
VolumeRef = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
]
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?\s*([KMGTPE]i?B?|[kmgtpe]|B)?$"


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


IPv4 = Annotated[str, AfterValidator(_ipv4)]
CALLBACK = Field(None, max_length=2000, description="Where to POST the job on each terminal state.")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callback_url: str | None = CALLBACK


class VolumeSpec(_Spec):
    """An RBD image ``pool/name``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"size": "10G"}]})

    size: Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=SIZE_PATTERN)] = Field(
        ..., description="Bytes, or a size with a unit (10G, 512M)."
    )
    features: (
        list[Literal["layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten"]] | None
    ) = Field(None, description="RBD image features.")
    shareable: bool = Field(False, description="May be attached to several VMs at once.")


class SnapshotSpec(_Spec):
    """A snapshot ``pool/name@snap`` of a volume: crash-consistent (the data as it was on the disk at
    that instant, as after a power cut), taken while the volume is in use or not."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"protected": False}]})

    protected: bool = Field(
        False, description="Ceph's protection: a DELETE is refused until a PUT sets it false again."
    )


PoolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class BackupSpec(_Spec):
    """A backup plan of one volume: incremental backups into another pool (another CRUSH rule, so
    another failure domain), kept ``keep`` deep, taken every ``every_minutes`` or on request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"volume": "volumes/db1-data", "backup_pool": "backups", "keep": 7, "every_minutes": 1440}
            ]
        },
    )

    volume: VolumeRef = Field(..., description="The volume backed up, pool/name (a volume of the registry).")
    backup_pool: PoolName = Field(..., description="The pool of the backups: not the volume's.")
    keep: int = Field(7, ge=1, le=365, description="How many backups are kept (the oldest go first).")
    every_minutes: int | None = Field(
        None,
        ge=5,
        le=44640,
        description="A backup every this many minutes; none: only on request (POST .../run).",
    )


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot: Name | None = Field(None, description="The backup to restore; default the newest.")
    volume: VolumeRef = Field(
        ...,
        description="Where to restore, pool/name: a new volume (the registry records it), or an existing "
        "one with overwrite true (its VMs stopped), such as the backed-up volume itself.",
    )
    overwrite: bool = Field(False, description="Replace the content of an existing volume.")


class VpcSpec(_Spec):
    """A VPC: an OVN logical router joining its subnets."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    description: str = Field("", max_length=255)


class SubnetSpec(_Spec):
    """A subnet of a VPC: an OVN logical switch with DHCP, attached to the VPC's router."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"vpc": "blue", "cidr": "10.10.1.0/24"}]}
    )

    vpc: Name
    cidr: str = Field(..., max_length=43, description="IPv4 network, e.g. 10.10.1.0/24 (/16 to /29).")
    gateway_ip: IPv4 | None = Field(None, description="The router's address on it; default: the first host.")
    dhcp: bool = True
    dns_servers: list[IPv4] = Field(default_factory=list, max_length=4)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 network with its host bits zero ({exc})") from None
        if not 16 <= net.prefixlen <= 29:
            raise ValueError(f"{value}: the prefix length must be /16 to /29")
        return str(net)

    @model_validator(mode="after")
    def _gateway(self) -> SubnetSpec:
        net = ipaddress.IPv4Network(self.cidr)
        if self.gateway_ip is None:
            self.gateway_ip = str(net.network_address + 1)
        else:
            gw = ipaddress.IPv4Address(self.gateway_ip)
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise ValueError(f"gateway_ip {gw} is not a host address of {net}")
            self.gateway_ip = str(gw)
        return self


class SecurityGroupRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["ingress", "egress"] = "ingress"
    protocol: Literal["any", "tcp", "udp", "icmp"] = "any"
    port_range: str | None = Field(None, pattern=r"^[0-9]{1,5}(-[0-9]{1,5})?$")
    remote_cidr: str | None = Field(None, max_length=43, description="An IPv4 network, e.g. 10.0.0.0/8.")
    remote_group: Name | None = None

    @field_validator("remote_cidr")
    @classmethod
    def _remote_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.IPv4Network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 network") from None

    @model_validator(mode="after")
    def _check(self) -> SecurityGroupRule:
        if self.port_range is not None:
            if self.protocol not in ("tcp", "udp"):
                raise ValueError("port_range needs protocol tcp or udp")
            lo, _, hi = self.port_range.partition("-")
            if not 1 <= int(lo) <= int(hi or lo) <= 65535:
                raise ValueError(f"port_range {self.port_range}: ports 1-65535, low before high")
        if self.remote_cidr is not None and self.remote_group is not None:
            raise ValueError("give at most one of remote_cidr and remote_group")
        return self


class SecurityGroupSpec(_Spec):
    """Allowed traffic of the ports that join it (OVN port group and ACLs); nothing else passes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"rules": [{"protocol": "icmp"}, {"direction": "egress"}]}]},
    )

    rules: list[SecurityGroupRule] = Field(default_factory=list, max_length=200)


class PublicIpSpec(_Spec):
    """A public (floating) IPv4 address of the cloud; bound to a VM through the VM's ``public_ip``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"address": "192.0.2.10"}]})

    address: IPv4


class Nic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subnet: Name
    security_groups: list[Name] = Field(default_factory=list, max_length=16)
    ip: IPv4 | None = Field(None, description="Fixed address in the subnet; default: the next free one.")


class Disk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volume: VolumeRef = Field(..., description="A volume of the registry, pool/name.")


# Where a caller's kernel and initrd may be read from on a compute node. libvirt gives QEMU access
# to the files a domain boots from: a free path would hand any file of the node (/etc/shadow as an
# initrd) to the caller's guest.
BOOT_DIR = "/var/lib/libvirt/images/"
BOOT_PATH = r"^/var/lib/libvirt/images/[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$"


class Boot(BaseModel):
    """Direct kernel boot from files under /var/lib/libvirt/images/ on the compute node (images come
    as their own resource)."""

    model_config = ConfigDict(extra="forbid")

    kernel: str = Field(..., pattern=BOOT_PATH, description=f"A file under {BOOT_DIR} on the node.")
    initrd: str | None = Field(None, pattern=BOOT_PATH, description=f"A file under {BOOT_DIR} on the node.")
    cmdline: str | None = Field(None, max_length=2048, pattern=r"^[\x20-\x7e]*$")

    @field_validator("kernel", "initrd")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and ".." in value.split("/"):
            raise ValueError(f"{value}: no '..' in the path; the file must be under {BOOT_DIR}")
        return value


class Placement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: Name | None = Field(None, description="Affinity group of VMs.")
    policy: Literal["anti-affinity", "affinity"] | None = None
    node: Name | None = Field(None, description="Admins only: only this node.")
    set: Name | None = Field(None, description="Admins only: only nodes of this set.")

    @model_validator(mode="after")
    def _policy(self) -> Placement:
        if (self.group is None) != (self.policy is None):
            raise ValueError("group and policy go together")
        return self


class VmSpec(_Spec):
    """A VM: placed by the scheduler on a compute node, where its job runs ``libvirt_domain``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "vcpus": 1,
                    "memory_mb": 256,
                    "disks": [{"volume": "volumes-hdd/web1-root"}],
                    "nics": [{"subnet": "blue-web", "security_groups": ["web"]}],
                    "placement": {"group": "web", "policy": "anti-affinity"},
                }
            ]
        },
    )

    state: Literal["running", "shutoff"] = "running"
    vcpus: int = Field(1, ge=1, le=64)
    memory_mb: int = Field(512, ge=64, le=1_048_576)
    virt_type: Literal["auto", "kvm", "qemu"] = "auto"
    boot: Boot | None = None
    disks: list[Disk] = Field(default_factory=list, max_length=16)
    nics: list[Nic] = Field(default_factory=list, max_length=8)
    public_ip: Name | None = Field(None, description="A public IP of the registry, bound to the first NIC.")
    placement: Placement = Field(default_factory=Placement)

    @model_validator(mode="after")
    def _refs(self) -> VmSpec:
        volumes = [d.volume for d in self.disks]
        if len(set(volumes)) != len(volumes):
            raise ValueError("a volume is listed twice in disks")
        if self.public_ip is not None and not self.nics:
            raise ValueError("public_ip needs a NIC to bind to")
        return self


class HealthCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: int = Field(5, ge=1, le=3600)
    timeout: int = Field(20, ge=1, le=3600)
    success_count: int = Field(3, ge=1, le=100)
    failure_count: int = Field(3, ge=1, le=100)


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vm: Name = Field(..., description="A VM of the registry with a NIC on the load balancer's subnet.")
    port: int = Field(..., ge=1, le=65535)


class LoadBalancerSpec(_Spec):
    """A TCP/UDP load balancer (OVN Load_Balancer) on a subnet, over VMs of that subnet."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"subnet": "blue-web", "port": 80, "members": [{"vm": "web1", "port": 80}]}]
        },
    )

    subnet: Name
    vip: IPv4 | None = Field(None, description="The virtual IP in the subnet; default: the next free one.")
    port: int = Field(..., ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    members: list[Member] = Field(default_factory=list, max_length=64)
    health_check: HealthCheck | None = None

    @model_validator(mode="after")
    def _unique(self) -> LoadBalancerSpec:
        pairs = [(m.vm, m.port) for m in self.members]
        if len(set(pairs)) != len(pairs):
            raise ValueError("a member is listed twice")
        return self


LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")]
RESERVED_LABELS = {"alertname", "severity"}


class AlarmRuleSpec(_Spec):
    """An alarm rule of the operator's own, evaluated by every Prometheus of the mgmt nodes beside
    the shipped ones (docs/monitoring.md). The record's name is the alert's name (``alertname``)."""

    model_config = ConfigDict(
        extra="forbid",
        serialize_by_alias=True,
        validate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "expr": 'node_filesystem_avail_bytes{mountpoint="/"} < 1e9',
                    "for": "10m",
                    "severity": "warning",
                    "summary": "{{ $labels.instance }} has less than 1 GB free on /",
                    "runbook": "Free space on the node's root filesystem (journal, logs, images).",
                }
            ]
        },
    )

    expr: str = Field(
        ..., min_length=1, max_length=4000, description="PromQL: the alarm fires for every series it returns."
    )
    for_: str = Field(
        "0s",
        alias="for",
        max_length=32,
        pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$",
        description="How long the expression must hold before the alarm fires (Prometheus duration).",
    )
    severity: Literal["critical", "warning", "info"] = "warning"
    summary: str = Field(
        ...,
        min_length=1,
        max_length=500,
        description="One line; Prometheus templates such as {{ $labels.x }}.",
    )
    description: str = Field("", max_length=2000)
    runbook: str = Field(..., min_length=1, max_length=2000, description="What the operator should do.")
    labels: dict[LabelName, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict, max_length=16, description="More labels (not alertname or severity)."
    )

    @field_validator("labels")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(RESERVED_LABELS & set(value))
        if taken:
            raise ValueError(f"{', '.join(taken)} is set by the rule itself (its name, its severity)")
        return value

    def rule(self, name: str) -> dict:
        """The rule as Prometheus' rule file has it."""
        annotations = {"summary": self.summary, "runbook": self.runbook}
        if self.description:
            annotations["description"] = self.description
        return {
            "alert": name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {**self.labels, "severity": self.severity},
            "annotations": annotations,
        }
