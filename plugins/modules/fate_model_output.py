#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Write a task's model output, as the party's FATE-Flow answers it, to a file on the party's own host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_model_output
short_description: Keep a task's model output from FATE-Flow in a file on the party host
description:
  - Asks the party's FATE-Flow for one task's model output (C(GET /v2/output/model/query) with I(job_id),
    I(role), I(party_id), I(task_name)) and writes it as JSON to I(dest) on the host the module runs on, the
    party's own host, so that the model (its weights) never leaves the party.
  - "The file holds FATE-Flow's C(data) member, C({\"output_model\": MODEL}), which the serving service's bind reads."
  - Only a digest and the names of the outputs are returned, never the model, so nothing of it reaches the
    controller's events or logs. For the same reason the module has no diff mode.
  - The file is written (atomically) only when its content changes; C(changed) says whether it did.
version_added: "0.3.0"
author: fateops contributors
extends_documentation_fragment:
  - fateops.federation.fate_flow
options:
  job_id:
    description: The training job (in FATE 2.x also the model id).
    type: str
    required: true
  role:
    description: The party's role in the job.
    type: str
    required: true
    choices: [guest, host, arbiter]
  party_id:
    description: The party's id.
    type: str
    required: true
  task_name:
    description: The task whose model to keep (C(lr_0), C(linr_0)).
    type: str
    required: true
  dest:
    description: Where to write the model on this host; its directory must exist.
    type: path
    required: true
  mode:
    description: The file's permissions.
    type: raw
    default: "0640"
attributes:
  check_mode:
    support: full
    details: FATE-Flow is still asked, so a missing model is reported; nothing is written.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Keep the guest's part of a trained model for the serving service
  fateops.federation.fate_model_output:
    job_id: "202611221122168817080"
    role: guest
    party_id: "9999"
    task_name: lr_0
    dest: /data/projects/fate/party-9999/serving/incoming/202611221122168817080_0_guest_9999.json
    fate_flow_port: 9380
"""

RETURN = r"""
dest:
  description: The file written.
  returned: success
  type: str
sha256:
  description: The sha256 of the file's content.
  returned: success
  type: str
size:
  description: The file's size in bytes.
  returned: success
  type: int
outputs:
  description: The names of the task's model outputs (not their content).
  returned: success
  type: list
  elements: str
  sample: [output_model]
"""

import hashlib
import json
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError


def _current_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as existing:
            return hashlib.sha256(existing.read()).hexdigest()
    except FileNotFoundError:
        return None


def _write(module: AnsibleModule, dest: str, content: bytes) -> None:
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg=f"directory {directory} of dest does not exist; create it first", dest=dest)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".fate_model_output.")
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    module.atomic_move(temporary, dest)


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    data = client.output_model(params["job_id"], params["role"], params["party_id"], params["task_name"])
    if not isinstance(data, dict) or not data:
        module.fail_json(
            msg=f"FATE-Flow holds no model output for task {params['task_name']} of job {params['job_id']} "
            f"({params['role']} {params['party_id']}); check the job id and that the job succeeded"
        )
    content = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(content).hexdigest()
    dest = params["dest"]
    changed = _current_digest(dest) != digest
    if changed and not module.check_mode:
        _write(module, dest, content)
    result: dict[str, Any] = {
        "changed": changed,
        "dest": dest,
        "sha256": digest,
        "size": len(content),
        "outputs": sorted(data),
    }
    if not module.check_mode:
        file_args = module.load_file_common_arguments({"path": dest, "mode": params["mode"]})
        result["changed"] = module.set_fs_attributes_if_different(file_args, changed)
    return result


def main() -> None:
    argument_spec: dict[str, Any] = {
        "job_id": {"type": "str", "required": True},
        "role": {"type": "str", "required": True, "choices": ["guest", "host", "arbiter"]},
        "party_id": {"type": "str", "required": True},
        "task_name": {"type": "str", "required": True},
        "dest": {"type": "path", "required": True},
        "mode": {"type": "raw", "default": "0640"},
    }
    argument_spec.update(client_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except FateFlowError as exc:
        module.fail_json(msg=str(exc), **exc.as_dict())


if __name__ == "__main__":
    main()
