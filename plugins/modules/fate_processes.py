#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Stop the processes a party left behind."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_processes
short_description: Find or stop the processes that belong to a FATE party instance
description:
  - FATE-Flow starts task processes of its own; they may outlive the server when it is stopped.
    This module finds every process whose command line contains I(marker) (the instance directory)
    and, with I(state=absent), stops them (SIGTERM, then SIGKILL after I(grace) seconds).
version_added: "0.1.0"
author: fateops contributors
options:
  marker:
    description: Text found in the command line of every process of the instance, normally its directory.
    type: str
    required: true
  state:
    description: C(absent) stops the processes; C(query) only lists them.
    type: str
    choices: [absent, query]
    default: query
  grace:
    description: Seconds between SIGTERM and SIGKILL.
    type: float
    default: 10
extends_documentation_fragment:
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: Stop what the standalone instance left running
  fateops.federation.fate_processes:
    marker: /data/projects/fate/standalone/
    state: absent
"""

RETURN = r"""
processes:
  description: The processes found, before any was stopped.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "command": "/data/projects/fate/standalone/venv/bin/python -m fate_flow.fate_flow_server"}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.host_processes import (
    processes_matching,
    terminate,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "marker": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["absent", "query"], "default": "query"},
            "grace": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    marker = module.params["marker"]
    if len(marker) < 2 or marker.strip("/") == "":
        module.fail_json(msg=f"marker {marker!r} would match unrelated processes; pass the instance directory")
    found = processes_matching(marker)
    listed = [{"pid": p.pid, "command": p.command} for p in found]
    changed = module.params["state"] == "absent" and bool(found)
    if changed and not module.check_mode:
        terminate(found, module.params["grace"])
    module.exit_json(changed=changed, processes=listed)


if __name__ == "__main__":
    main()
