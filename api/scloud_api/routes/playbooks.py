"""/v1/playbooks: the catalogue, with each playbook's variable schema."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ServicesDep, Viewer
from ..schemas import PlaybookList, PlaybookPublic
from .common import AUTH

router = APIRouter(prefix="/v1/playbooks", tags=["playbooks"])


@router.get("", response_model=PlaybookList, responses=AUTH)
def list_playbooks(services: ServicesDep, _: Viewer) -> PlaybookList:
    items = [
        PlaybookPublic(name=e.name, description=e.description, role=e.role, variables=e.schema)
        for e in services.catalogue.entries().values()
    ]
    return PlaybookList(items=items)
