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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "runtime": {"type": "path", "required": True},
            "venv": {"type": "path", "required": True},
            "marker": {"type": "str", "required": True},
            "package": {"type": "str", "default": "fate_flow"},
        },
        supports_check_mode=True,
    )
    runtime, venv, package = module.params["runtime"], module.params["venv"], module.params["package"]
    runtime_marker = read_marker(runtime)
    if runtime_marker != module.params["marker"] and not module.check_mode:
        module.fail_json(msg=f"FATE runtime {runtime} is missing or of another build; build it (playbooks/runtime.yml)")
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
    module.exit_json(changed=link, relinked=relinked, package_dir=where)


if __name__ == "__main__":
    main()
