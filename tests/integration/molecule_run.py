"""One molecule scenario run whole (`molecule test -s NAME`: its own sequence, create to destroy), as make molecule
runs it, for the molecule lanes of the integration tests (tests/integration/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, TEST_CACHE


def run_scenario(name: str, **environment: str) -> None:
    # The venv's tools (molecule, ansible-playbook) first on PATH, as make puts them.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "FATEOPS_TEST_CACHE": str(TEST_CACHE), "ANSIBLE_NOCOLOR": "1", **environment}
    argv = [str(Path(sys.executable).parent / "molecule"), "test", "-s", name]
    run = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=1800, check=False)
    tail = f"{run.stdout[-6000:]}\n{run.stderr[-4000:]}"
    assert run.returncode == 0, f"molecule test -s {name}: exit {run.returncode}\n{tail}"
