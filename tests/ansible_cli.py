"""Ansible's own command line tools, run the way an operator runs them from a clone: this tree's ansible.cfg
(and so this collection), from the tools installed beside the interpreter that runs the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ansible(
    tool: str, *args: str, local_temp: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook, ansible-inventory, ... with args from the root of the clone; never raises on failure."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if local_temp is not None:
        env["ANSIBLE_LOCAL_TEMP"] = str(local_temp)
    return subprocess.run(
        [str(Path(sys.executable).parent / tool), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
