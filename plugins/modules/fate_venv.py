#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Link a FATE-Flow instance's virtual environment to the host's FATE runtime, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_venv
short_description: Link an instance's venv to the host's FATE runtime and find FATE-Flow's package in it
description:
  - The instance's venv is a hard-linked copy of the host's FATE runtime (C(cp -al)) - no second download and
    almost no disk. A venv made from another runtime (its C(.complete) marker differs from I(marker)) or left half
    made is removed and linked again.
  - Returns the directory of FATE-Flow's package inside the venv (where its C(settings.py) and C(conf/) live).
  - One call instead of reading the marker, removing, copying and asking the venv's python.
version_added: "0.1.0"
author: fateops contributors
options:
  runtime:
    description: The host's FATE runtime (a venv with a C(.complete) marker).
    type: path
    required: true
  venv:
    description: The instance's venv.
    type: path
    required: true
  marker:
    description: The content of the runtime's C(.complete) marker (the runtime's version and key).
    type: str
    required: true
  package:
    description: The package to find in the venv's site-packages.
    type: str
    default: fate_flow
  directories:
    description:
      - The instance's other directories, made (with their parents) when missing, with I(mode). Directories that
        exist are left as they are.
    type: list
    elements: path
    default: []
  mode:
    description: The mode of each directory this call makes.
    type: str
    default: "0750"
  runtime_missing:
    description:
      - What to do when the runtime is not there (or of another build). C(fail) stops with a message naming the
        fix; C(report) makes the directories, links nothing and returns I(runtime_ready=false), so that the caller
        builds the runtime and calls again.
    type: str
    choices: [fail, report]
    default: fail
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Link the instance's venv to the runtime
  fateops.federation.fate_venv:
    runtime: /data/projects/fate/.runtime/fate-2.2.0-2346eb62e84b
    venv: /data/projects/fate/standalone/venv
    marker: "fate 2.2.0 2346eb62e84b\n"
  register: fate_flow_venv
"""

RETURN = r"""
package_dir:
  description: The package's directory inside the venv (in check mode on a new instance, where it will be).
  returned: always
  type: str
  sample: /data/projects/fate/standalone/venv/lib/python3.11/site-packages/fate_flow
relinked:
  description: The venv was made from another runtime or left half made, and was removed first.
  returned: always
  type: bool
runtime_ready:
  description: The runtime is there and of the build I(marker) names (false only with I(runtime_missing=report)).
  returned: always
  type: bool
created:
  description: The directories this call made (would make, in check mode).
  returned: always
  type: list
  elements: str
"""

import glob
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

MARKER = ".complete"


def read_marker(venv: str) -> str | None:
    try:
        with open(os.path.join(venv, MARKER), encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def package_dir(module: AnsibleModule, root: str, package: str) -> str:
    found = sorted(glob.glob(os.path.join(root, "lib", "python*", "site-packages", package)))
    if len(found) != 1:
        module.fail_json(msg=f"found {len(found)} {package} packages in {root}, not one; rebuild the FATE runtime")
    return found[0]


def make_directories(module: AnsibleModule, directories: list[str], mode: int) -> list[str]:
    """Make the missing directories (parents first, each with mode): the ones made, or to make in check mode."""
    created = [path for path in directories if not os.path.isdir(path)]
    if module.check_mode:
        return created
    for path in created:
        try:
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        except OSError as exc:
            module.fail_json(msg=f"cannot make {path} ({exc.strerror}); check the disk and its parent's owner")
    return created


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "runtime": {"type": "path", "required": True},
            "venv": {"type": "path", "required": True},
            "marker": {"type": "str", "required": True},
            "package": {"type": "str", "default": "fate_flow"},
            "directories": {"type": "list", "elements": "path", "default": []},
            "mode": {"type": "str", "default": "0750"},
            "runtime_missing": {"type": "str", "choices": ["fail", "report"], "default": "fail"},
        },
        supports_check_mode=True,
    )
    runtime, venv, package = module.params["runtime"], module.params["venv"], module.params["package"]
    try:
        mode = int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"mode {module.params['mode']!r} is not an octal mode; give one such as 0750")
    created = make_directories(module, module.params["directories"], mode)
    runtime_marker = read_marker(runtime)
    if runtime_marker != module.params["marker"]:
        if module.params["runtime_missing"] == "report":
            module.exit_json(
                changed=bool(created), created=created, relinked=False, runtime_ready=False, package_dir=""
            )
        if not module.check_mode:
            module.fail_json(
                msg=f"FATE runtime {runtime} is missing or of another build; build it (playbooks/runtime.yml)"
            )
    installed = read_marker(venv)
    relinked = os.path.lexists(venv) and installed != module.params["marker"]
    link = installed != module.params["marker"]
    if link and not module.check_mode:
        if relinked:
            shutil.rmtree(venv)
        rc, out, err = module.run_command(["cp", "-al", runtime, venv])
        if rc != 0:
            last = (err.strip() or out.strip() or f"exit status {rc}").splitlines()[-1]
            module.fail_json(msg=f"cp -al {runtime} {venv} failed: {last}; check the disk and {os.path.dirname(venv)}")
    if link and module.check_mode:
        # Not linked yet: where the package will be, from the runtime (if it is there already).
        found = sorted(glob.glob(os.path.join(runtime, "lib", "python*", "site-packages", package)))
        where = os.path.join(venv, os.path.relpath(found[0], runtime)) if found else ""
    else:
        where = package_dir(module, venv, package)
    module.exit_json(
        changed=link or bool(created), created=created, relinked=relinked, runtime_ready=True, package_dir=where
    )


if __name__ == "__main__":
    main()
