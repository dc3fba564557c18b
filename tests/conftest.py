"""Test-wide set-up: make the collection importable the way Ansible sees it."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "collections", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
