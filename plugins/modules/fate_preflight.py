#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Read-only checks a party host must pass before anything is installed on it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_preflight
short_description: Check that a host can run a FATE party before anything changes on it
description:
  - Reports the Python version, the free disk space under the party's base directory and, for every port
    the party will listen on, whether it is free, already held by this party's own processes, or held by
    a foreign process.
  - Fails, naming every problem and how to fix it, when the host cannot run the party.
  - Never changes the host, so it behaves the same in check mode.
version_added: "0.1.0"
author: fateops contributors
options:
  python:
    description: Interpreter that will create the party's virtual environment.
    type: str
    default: python3
  min_python:
    description: Lowest acceptable Python version, as C(major.minor).
    type: str
    default: "3.10"
  path:
    description:
      - The party's base directory. It need not exist; its nearest existing parent must be writable.
    type: path
    required: true
  min_free_mb:
    description: Free space needed under I(path), in MiB.
    type: int
    default: 4096
  ports:
    description: TCP ports the party will listen on.
    type: list
    elements: int
    default: []
  owner_marker:
    description:
      - A string found in the command line of this party's own processes (normally its instance directory).
      - A port held by such a process counts as ours, not as a conflict.
    type: str
    required: true
  programs:
    description: Files the party runs that must be installed on the host (RabbitMQ's and nginx's, say).
    type: list
    elements: path
    default: []
  programs_hint:
    description: What the failure says to do about missing I(programs).
    type: str
    default: install them and deploy again
  runtime_marker:
    description:
      - The file that marks the host's FATE runtime built (C(<runtime>/.complete)). When it is missing the
        deploy builds the runtime with I(python), so I(python) must be able to make a virtual environment with
        pip (its C(venv) and C(ensurepip) modules, which Debian's python3-venv holds); otherwise the check fails
        naming that.
      - Omitted, the runtime is not looked at.
    type: path
extends_documentation_fragment:
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: Check the host before installing FATE-Flow
  fateops.federation.fate_preflight:
    path: /data/projects/fate
    ports: [9380, 9360]
    owner_marker: /data/projects/fate/standalone/
"""

RETURN = r"""
python_version:
  description: Version of I(python).
  returned: always
  type: str
  sample: "3.11.7"
free_mb:
  description: Free MiB on the filesystem holding I(path).
  returned: always
  type: int
runtime_present:
  description: Whether I(runtime_marker) exists (C(null) when it was not given).
  returned: always
  type: bool
ports:
  description: One entry per port, with its state C(free), C(ours) or C(foreign).
  returned: always
  type: list
  elements: dict
  sample: [{"port": 9380, "state": "ours", "pid": 4242, "command": "python -m fate_flow.fate_flow_server"}]
"""

import os
import shutil
import subprocess
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.host_processes import belongs_to, listener_of


def port_state(port: int, owner_marker: str) -> dict:
    holder = listener_of(port)
    if holder is None:
        return {"port": port, "state": "free", "pid": None, "command": ""}
    if holder is True:
        return {"port": port, "state": "foreign", "pid": None, "command": ""}
    state = "ours" if belongs_to(holder, owner_marker) else "foreign"
    return {"port": port, "state": state, "pid": holder.pid, "command": holder.command}


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _python_says(python: str, code: str) -> str | None:
    """What python prints running code; None when it does not run or fails."""
    executable = shutil.which(python) or python
    try:
        out = subprocess.run([executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _python_version(python: str) -> str | None:
    return _python_says(python, "import sys; print('%d.%d.%d' % sys.version_info[:3])")


def _runtime_problem(python: str, marker: str) -> str | None:
    """Why the runtime can be neither found nor built here; None when it is there or python can build it."""
    if os.path.exists(marker):
        return None
    if _python_says(python, "import venv, ensurepip") is None:
        return (
            f"the FATE runtime is not built on this host yet and '{python}' cannot build it (it lacks the venv and "
            "ensurepip modules): install python3-venv there (apt-get install python3-venv) and deploy again"
        )
    return None


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "str", "default": "python3"},
            "min_python": {"type": "str", "default": "3.10"},
            "path": {"type": "path", "required": True},
            "min_free_mb": {"type": "int", "default": 4096},
            "ports": {"type": "list", "elements": "int", "default": []},
            "owner_marker": {"type": "str", "required": True},
            "programs": {"type": "list", "elements": "path", "default": []},
            "programs_hint": {"type": "str", "default": "install them and deploy again"},
            "runtime_marker": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    problems: list[str] = []

    version = _python_version(params["python"])
    if version is None:
        problems.append(f"'{params['python']}' does not run; install Python >= {params['min_python']}")
    elif _as_tuple(version) < _as_tuple(params["min_python"]):
        problems.append(f"Python {version} is too old; FATE needs Python >= {params['min_python']}")

    parent = _existing_parent(Path(params["path"]))
    free_mb = shutil.disk_usage(parent).free // (1024 * 1024)
    if not os.access(parent, os.W_OK | os.X_OK):
        problems.append(f"{parent} is not writable by this user; choose a writable fate_base_dir")
    existing_install = Path(params["path"]).is_dir()
    if free_mb < params["min_free_mb"] and not existing_install:
        problems.append(
            f"only {free_mb} MiB free under {parent}, {params['min_free_mb']} MiB needed; "
            "free space or move fate_base_dir"
        )

    missing = [program for program in params["programs"] if not os.path.exists(program)]
    if missing:
        problems.append(f"{' and '.join(missing)} missing: {params['programs_hint']}")

    runtime_present = None
    if params["runtime_marker"]:
        runtime_present = os.path.exists(params["runtime_marker"])
        problem = _runtime_problem(params["python"], params["runtime_marker"]) if version else None
        if problem:
            problems.append(problem)

    ports = [port_state(port, params["owner_marker"]) for port in params["ports"]]
    for entry in ports:
        if not 0 < entry["port"] < 65536:
            problems.append(f"port {entry['port']} is out of range 1-65535")
        elif entry["state"] == "foreign":
            holder = f"pid {entry['pid']} ({entry['command'][:80]})" if entry["pid"] else "another user's process"
            problems.append(f"port {entry['port']} is held by {holder}; stop it or set a different port for this party")

    result = {
        "changed": False,
        "python_version": version or "",
        "free_mb": free_mb,
        "runtime_present": runtime_present,
        "ports": ports,
    }
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
