"""/v1/playbooks: the catalogue, with each playbook's variable schema."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ServicesDep, Viewer
from ..schemas import PlaybookList, PlaybookPublic
from .common import AUTH

router = APIRouter(prefix="/v1/playbooks", tags=["playbooks"])


@router.get("", response_model=PlaybookList, responses=AUTH)
def list_playbooks(services: ServicesDep, _: Viewer) -> PlaybookList:
    items = []
    for entry in services.catalogue.entries().values():
        missing = (
            entry.requires_module
            and not (services.settings.modules_path / f"{entry.requires_module}.py").exists()
        )
        items.append(
            PlaybookPublic(
                name=entry.name,
                description=entry.description,
                role=entry.role,
                variables=entry.schema,
                available=not missing,
                unavailable_reason=f"module scloud.stack.{entry.requires_module} is not in the collection yet"
                if missing
                else None,
            )
        )
    return PlaybookList(items=items)
