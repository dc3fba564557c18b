"""fateops: the controller library behind script.py (workspace, deployment planning, playbook runner)."""

import sys
from pathlib import Path

__version__ = "0.1.0"

# The repository root: playbooks, roles and plugins live here.
ROOT = Path(__file__).resolve().parent.parent

# The shared FATE-Flow client and other module_utils are imported the way Ansible sees them.
_COLLECTIONS = str(ROOT / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
