"""Make the collection importable as ansible_collections.scloud.stack in every test tier."""

import sys
from pathlib import Path

_COLLECTIONS = str(Path(__file__).resolve().parent.parent / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
