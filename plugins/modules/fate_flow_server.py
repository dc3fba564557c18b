#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Ask a FATE-Flow whether it answers, waiting for it while it starts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_flow_server
short_description: Wait until a FATE-Flow answers, and report what answers
description:
  - Asks FATE-Flow for its server information, C(GET /v2/server/fateflow) for FATE-Flow 2.x or
    C(POST /v1/version/get) for 1.x, and succeeds once it answers with code 0.
  - With I(wait_timeout) above 0 it keeps asking every I(poll_interval) seconds while FATE-Flow starts (a refused
    connection, a proxy's error page or a non-zero code count as "not yet"). When the time runs out it fails with
    the last answer it got.
  - Changes nothing, so it never reports C(changed) and runs in check mode too.
version_added: "0.1.0"
author: fateops contributors
extends_documentation_fragment:
  - fateops.federation.fate_flow
  - fateops.federation.attributes
options:
  generation:
    description: The FATE-Flow generation expected at the address, which decides the call that is made.
    type: int
    choices: [1, 2]
    default: 2
  wait_timeout:
    description: Seconds to keep asking until FATE-Flow answers; C(0) asks once.
    type: float
    default: 0
  poll_interval:
    description: Seconds between two questions while waiting.
    type: float
    default: 2
  dest_party_id:
    description:
      - Ask the FATE-Flow of this party through the proxy at I(fate_flow_host) and I(fate_flow_port) (a party's
        nginx, or the exchange's), which routes on the C(dest-party-id) header as it does FATE-Flow's own calls.
    type: str
"""

EXAMPLES = r"""
- name: Wait until FATE-Flow answers after a (re)start
  fateops.federation.fate_flow_server:
    fate_flow_host: 10.0.0.2
    fate_flow_port: 9380
    request_timeout: 5
    request_retries: 0
    wait_timeout: 180

- name: Ask party 10000's FATE-Flow through this party's nginx
  fateops.federation.fate_flow_server:
    fate_flow_host: 10.0.0.2
    fate_flow_port: 9300
    dest_party_id: "10000"

- name: Wait for a FATE 1.x compose project's FATE-Flow
  fateops.federation.fate_flow_server:
    fate_flow_host: 10.0.0.2
    generation: 1
    wait_timeout: 600
    poll_interval: 5
"""

RETURN = r"""
generation:
  description: The FATE-Flow generation that answered.
  returned: always
  type: int
  sample: 2
instances:
  description: The FATE-Flow instances registered with this FATE-Flow, keyed by instance id (FATE-Flow 2.x).
  returned: when I(generation=2)
  type: dict
  sample: {"flow-10.0.0.2-9380": {"host": "10.0.0.2", "http_port": 9380, "grpc_port": 9360, "version": "2.2.0"}}
fate_version:
  description: FATE's release that FATE-Flow 1.x reports.
  returned: when I(generation=1)
  type: str
  sample: "1.11.4"
elapsed:
  description: Seconds until FATE-Flow answered.
  returned: always
  type: float
  sample: 12.4
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v1 import GENERATION_1, FateFlowClientV1
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import wait_until_answers


def run(params: dict[str, Any]) -> dict[str, Any]:
    client = client_from_params(params, dest_party_id=params["dest_party_id"])
    result: dict[str, Any] = {"changed": False, "generation": params["generation"]}
    if params["generation"] == GENERATION_1:
        legacy = client.as_api(FateFlowClientV1)
        probe, key = legacy.version, "fate_version"
    else:
        probe, key = client.server_info, "instances"
    started = time.monotonic()
    result[key] = wait_until_answers(
        probe, timeout=params["wait_timeout"], poll_interval=params["poll_interval"], pause=client.pause
    )
    result["elapsed"] = round(time.monotonic() - started, 1)
    return result


def main() -> None:
    argument_spec = {
        "generation": {"type": "int", "choices": [1, 2], "default": 2},
        "wait_timeout": {"type": "float", "default": 0},
        "poll_interval": {"type": "float", "default": 2},
        "dest_party_id": {"type": "str"},
    }
    argument_spec.update(client_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        module.exit_json(**run(module.params))
    except FateFlowError as exc:
        module.fail_json(
            msg=f"{exc}; if FATE-Flow is only slow to start, raise wait_timeout",
            **exc.as_dict(),
        )


if __name__ == "__main__":
    main()
