#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Load and bind a model to FATE-Serving, or migrate it to new party ids, through a FATE-Flow 1.x."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_model_serving
short_description: Load and bind a FATE 1.x model to FATE-Serving, or migrate it, through FATE-Flow 1.x
description:
  - First asks which FATE-Flow answers (C(GET /v2/server/fateflow), then C(POST /v1/version/get)). These
    operations exist in FATE-Flow 1.x only; against FATE-Flow 2.x the module fails and says what to use instead.
  - C(operation=bind) loads the model into every party's FATE-Serving (C(/v1/model/load)) and binds it to
    I(service_id) on the guest's (C(/v1/model/bind)). FATE-Flow gives no read-back of bindings, so a bind always
    reports C(changed); binding the same model again is harmless.
  - C(operation=migrate) runs C(/v1/model/migrate) with I(migrate_config), the seed's migration configuration
    (model_id, model_version, role, migrate_initiator, migrate_role, execute_party, unify_model_version).
version_added: "0.1.0"
author: fateops contributors
extends_documentation_fragment:
  - fateops.federation.fate_flow
  - fateops.federation.attributes
options:
  operation:
    description: What to do with the model.
    type: str
    required: true
    choices: [bind, migrate]
  model_id:
    description: FATE 1.x model id (C(arbiter-10000#guest-9999#host-10000#model)). Required for C(bind).
    type: str
  model_version:
    description: The model's version (its training job id). Required for C(bind).
    type: str
  service_id:
    description: Service name FATE-Serving answers inference for. Required for C(bind).
    type: str
  guest_party_id:
    description: The guest, which initiates the load and bind. Required for C(bind).
    type: int
  host_party_ids:
    description: The hosts of the model.
    type: list
    elements: int
    default: []
  arbiter_party_ids:
    description: The arbiters of the model.
    type: list
    elements: int
    default: []
  migrate_config:
    description: The migration configuration, as FATE-Flow 1.x takes it. Required for C(migrate).
    type: dict
"""

EXAMPLES = r"""
- name: Serve a trained FATE 1.x model as credit_lr
  fateops.federation.fate_model_serving:
    fate_flow_host: 10.0.0.2
    operation: bind
    model_id: "arbiter-10000#guest-9999#host-10000#model"
    model_version: "202611221122168817080"
    service_id: credit_lr
    guest_party_id: 9999
    host_party_ids: [10000]
    arbiter_party_ids: [10000]

- name: Give the model to parties 99 and 100
  fateops.federation.fate_model_serving:
    fate_flow_host: 10.0.0.2
    operation: migrate
    migrate_config: "{{ lookup('ansible.builtin.file', 'migrate_model.json') | from_json }}"
"""

RETURN = r"""
generation:
  description: The FATE-Flow generation that answered (1).
  returned: always
  type: int
fate_version:
  description: FATE's release that FATE-Flow reports.
  returned: when FATE-Flow 1.x answered
  type: str
detail:
  description: Per-role, per-party answers of the load or migration.
  returned: when something was done
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v1 import (
    GENERATION_2,
    FateFlowClientV1,
    detect_generation,
)


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    generation = detect_generation(client)
    if generation == GENERATION_2:
        module.fail_json(
            msg=f"FATE-Flow at {client.base_url} is 2.x, which has no model load, bind or migrate; serve FATE 2.x "
            "models with the serving role (script.py -f load_bind)",
            generation=generation,
        )
    legacy = client.as_api(FateFlowClientV1)
    result: dict[str, Any] = {"changed": True, "generation": generation, "fate_version": legacy.version()}
    if module.check_mode:
        return result
    if params["operation"] == "bind":
        parties = (params["guest_party_id"], params["host_party_ids"], params["arbiter_party_ids"])
        loaded = legacy.load_model(params["model_id"], params["model_version"], *parties)
        result["message"] = legacy.bind_model(
            params["model_id"], params["model_version"], params["service_id"], *parties
        )
        result["detail"] = loaded.get("detail") or {}
    else:
        result["detail"] = legacy.migrate_model(params["migrate_config"]).get("detail") or {}
    return result


def main() -> None:
    argument_spec = {
        "operation": {"type": "str", "required": True, "choices": ["bind", "migrate"]},
        "model_id": {"type": "str"},
        "model_version": {"type": "str"},
        "service_id": {"type": "str"},
        "guest_party_id": {"type": "int"},
        "host_party_ids": {"type": "list", "elements": "int", "default": []},
        "arbiter_party_ids": {"type": "list", "elements": "int", "default": []},
        "migrate_config": {"type": "dict"},
    }
    argument_spec.update(client_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[
            ("operation", "bind", ("model_id", "model_version", "service_id", "guest_party_id")),
            ("operation", "migrate", ("migrate_config",)),
        ],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except FateFlowError as exc:
        module.fail_json(msg=str(exc), **exc.as_dict())


if __name__ == "__main__":
    main()
