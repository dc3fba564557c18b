#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Submit, stop or query a FATE 2.x job through a party's FATE-Flow."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_job
short_description: Submit, stop or query a FATE job
description:
  - C(state=submitted) submits a job to the party's FATE-Flow (normally the guest's), either the DAG given in
    I(dag_schema) or one built from I(algorithm), the parties and their tables. With I(wait) it polls until
    every role has finished and fails unless the job succeeded.
  - C(state=stopped) stops a job that has not finished yet; a finished job is left alone (C(changed=false)).
  - C(state=queried) reports a job's status per role without changing anything.
  - Every submission creates a new FATE job, so C(state=submitted) always reports C(changed=true).
  - In check mode nothing is submitted or stopped; the DAG that would be submitted is returned.
version_added: "0.1.0"
author: fateops contributors
options:
  state:
    description: What to do.
    type: str
    choices: [submitted, stopped, queried]
    default: submitted
  dag_schema:
    description:
      - A complete FATE 2.x DAG (the C(dag_schema) of C(POST /v2/job/submit)) with C(schema_version) and C(dag).
      - Mutually exclusive with I(algorithm).
    type: dict
  algorithm:
    description:
      - Build the DAG instead. C(hetero_lr) is Reader, PSI, CoordinatedLR (task C(lr_0)) and binary
        Evaluation; C(hetero_linr) the same with CoordinatedLinR (task C(linr_0)) and regression
        Evaluation; C(example) is FATE's toy example (C(flow test toy)), which needs no tables.
    type: str
    choices: [hetero_lr, hetero_linr, example]
  guest_party_id:
    description: The guest's party id. Required with I(algorithm).
    type: str
  host_party_ids:
    description: The hosts' party ids, in order. Required with I(algorithm). May include the guest's id.
    type: list
    elements: str
  arbiter_party_id:
    description: The arbiter's party id. Defaults to the first host.
    type: str
  guest_table:
    description: The guest's FATE table. Required with C(hetero_lr) and C(hetero_linr).
    type: dict
    options:
      namespace:
        description: Table namespace.
        type: str
        required: true
      name:
        description: Table name.
        type: str
        required: true
  host_tables:
    description: One FATE table per host. Required with C(hetero_lr) and C(hetero_linr).
    type: list
    elements: dict
    options:
      party_id:
        description: The host's party id.
        type: str
        required: true
      namespace:
        description: Table namespace.
        type: str
        required: true
      name:
        description: Table name.
        type: str
        required: true
  options:
    description:
      - Algorithm options over FATE's example defaults. C(hetero_lr) and C(hetero_linr) take C(epochs),
        C(batch_size), C(learning_rate), C(optimizer), C(penalty), C(alpha), C(init_method), C(fit_intercept),
        C(learning_rate_scheduler), C(early_stop), C(tol), C(threshold) (LR only); C(example) takes
        C(data_num) and C(partition); all take C(job_conf), merged into the DAG's C(conf).
      - C(job_conf) takes FATE 2.2's job options, checked before submission - C(priority), C(auto_retries),
        C(cores) (per role), C(computing_partitions), C(scheduler_party_id), C(sync_type), C(inheritance)
        (C({job_id, task_list}) reuses a finished job's task outputs, e.g. its reader), C(model_warehouse),
        C(extra) and C(task) (C(timeout) seconds, C(provider) such as C(fate:2.2.0@local), C(engine_run) (its
        key C(cores) sets task cores), C(launcher_name)).
      - With several hosts C(early_stop) defaults to C(weight_diff), the only criterion FATE supports there.
      - An unknown option is an error.
    type: dict
    default: {}
  job_id:
    description: The job to stop or query. Required with C(state=stopped) and C(state=queried).
    type: str
  role:
    description:
      - Report (and wait for) only this role. A party's FATE-Flow knows only its own roles when parties
        run on different hosts.
    type: str
    choices: [guest, host, arbiter]
  party_id:
    description: Report (and wait for) only this party id.
    type: str
  wait:
    description:
      - Wait until every role has finished (after a submit or a stop); on a submit, fail unless the job
        succeeded.
    type: bool
    default: true
  timeout:
    description: Seconds to wait when I(wait) is true.
    type: int
    default: 3600
  poll_interval:
    description: Seconds between two status checks while waiting.
    type: float
    default: 5
extends_documentation_fragment:
  - fateops.federation.fate_flow
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: Train hetero LR with guest 9999 and host (and arbiter) 10000
  fateops.federation.fate_job:
    algorithm: hetero_lr
    guest_party_id: "9999"
    host_party_ids: ["10000"]
    guest_table: {namespace: test, name: guest_9999}
    host_tables:
      - {party_id: "10000", namespace: test, name: host_10000}
    options: {epochs: 10}
  register: job

- name: Start the toy example without waiting
  fateops.federation.fate_job:
    algorithm: example
    guest_party_id: "9999"
    host_party_ids: ["10000"]
    wait: false

- name: Submit a DAG written by hand
  fateops.federation.fate_job:
    dag_schema: "{{ lookup('ansible.builtin.file', 'my_dag.json') | from_json }}"

- name: Status of the host's part, on the host's own FATE-Flow
  fateops.federation.fate_job:
    state: queried
    job_id: "{{ job.job_id }}"
    role: host

- name: Stop it
  fateops.federation.fate_job:
    state: stopped
    job_id: "{{ job.job_id }}"
"""

RETURN = r"""
job_id:
  description: FATE's job id.
  returned: except in check mode with state=submitted
  type: str
  sample: "202611220343389966460"
model_id:
  description: The model id of the job (FATE 2.x uses the job id).
  returned: except in check mode with state=submitted
  type: str
model_version:
  description: The model version of the job.
  returned: except in check mode with state=submitted
  type: str
  sample: "0"
status:
  description: One word for the whole job, the worst of its roles (success, failed, running, waiting...).
  returned: except in check mode with state=submitted
  type: str
roles:
  description: Per-role status, arbiter first, then guest, then hosts in the job's order.
  returned: except in check mode with state=submitted
  type: list
  elements: dict
  sample: [{"role": "arbiter", "party_id": "10000", "status": "success"},
           {"role": "guest", "party_id": "9999", "status": "success"},
           {"role": "host", "party_id": "10000", "status": "success"}]
failed_tasks:
  description:
    - Tasks that did not succeed, when the job failed, with the first line each failed task logged at
      ERROR level (C(error)).
  returned: when the job failed
  type: list
  elements: dict
dag_schema:
  description: The DAG submitted (or, in check mode, that would be submitted).
  returned: with state=submitted
  type: dict
elapsed:
  description: Seconds from the submit (or stop) until the last status was read.
  returned: with state submitted or stopped
  type: float
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import (
    SUPERVISED_ALGORITHMS,
    DagError,
    build_dag,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError, FateFlowTimeout
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import (
    END_STATUSES,
    PartyStatus,
    overall_status,
    party_statuses,
    wait_for_job,
)


def dag_from_params(params: dict[str, Any]) -> dict[str, Any]:
    """The DAG to submit: the given one, or one built from the algorithm parameters."""
    if params["dag_schema"] is not None:
        dag = params["dag_schema"]
        if "dag" not in dag or "schema_version" not in dag:
            raise DagError("dag_schema needs 'schema_version' and 'dag' keys (the body of /v2/job/submit)")
        return dag
    algorithm = params["algorithm"]
    missing = [key for key in ("guest_party_id", "host_party_ids") if not params[key]]
    if algorithm in SUPERVISED_ALGORITHMS:
        missing += [key for key in ("guest_table", "host_tables") if not params[key]]
    if missing:
        raise DagError(f"algorithm {algorithm} needs {', '.join(missing)}")
    host_tables = {str(entry["party_id"]): (entry["namespace"], entry["name"]) for entry in params["host_tables"] or []}
    guest_table = params["guest_table"]
    return build_dag(
        algorithm,
        params["guest_party_id"],
        params["host_party_ids"],
        params["arbiter_party_id"],
        (guest_table["namespace"], guest_table["name"]) if guest_table else None,
        host_tables,
        params["options"],
    )


def _job_identity(jobs: list[dict[str, Any]], job_id: str) -> dict[str, str]:
    first = jobs[0] if jobs else {}
    return {
        "job_id": job_id,
        "model_id": str(first.get("model_id") or job_id),
        "model_version": str(first.get("model_version") if first.get("model_version") is not None else "0"),
    }


def _report(statuses: list[PartyStatus]) -> dict[str, Any]:
    return {"status": overall_status(statuses), "roles": [s.as_dict() for s in statuses]}


def _wait(
    module: AnsibleModule, client: FateFlowClient, job_id: str, started: float, base: dict[str, Any]
) -> list[PartyStatus]:
    params = module.params
    try:
        return wait_for_job(
            client,
            job_id,
            role=params["role"],
            party_id=params["party_id"],
            timeout=params["timeout"],
            poll_interval=params["poll_interval"],
        )
    except FateFlowTimeout as exc:
        roles = exc.data or []
        module.fail_json(
            msg=f"{exc}; raise timeout, or stop it with state=stopped job_id={job_id}",
            roles=roles,
            status=overall_status(PartyStatus(**r) for r in roles),
            elapsed=round(time.monotonic() - started, 3),
            **base,
        )


def _failure_summary(failed: list[dict[str, Any]]) -> str:
    broken = [t for t in failed if t["status"] == "failed"] or failed
    if not broken:
        return "; read FATE-Flow's job logs for the cause"
    parts = [
        f"{t['task_name']} ({t['role']} {t['party_id']}) {t['status']}" + (f": {t['error']}" if t["error"] else "")
        for t in broken
    ]
    return "; " + "; ".join(parts)


def run_submitted(module: AnsibleModule, client: FateFlowClient) -> None:
    params = module.params
    dag = dag_from_params(params)
    if module.check_mode:
        module.exit_json(changed=True, dag_schema=dag)
    started = time.monotonic()
    submitted = client.submit_job(dag)
    base: dict[str, Any] = {
        "changed": True,
        "job_id": submitted.job_id,
        "model_id": submitted.model_id,
        "model_version": submitted.model_version,
        "dag_schema": dag,
    }
    try:
        if params["wait"]:
            statuses = _wait(module, client, submitted.job_id, started, base)
        else:
            statuses = client.job_statuses(submitted.job_id, role=params["role"], party_id=params["party_id"])
        result = dict(base, elapsed=round(time.monotonic() - started, 3), **_report(statuses))
        failed = client.failed_tasks(submitted.job_id) if params["wait"] and result["status"] != "success" else []
    except FateFlowError as exc:
        # The job exists now: report it, so the caller can query or stop it instead of submitting again.
        module.fail_json(msg=f"job {submitted.job_id} was submitted, then: {exc}", **exc.as_dict(), **base)
    if params["wait"] and result["status"] != "success":
        module.fail_json(
            msg=f"job {submitted.job_id} ended {result['status']}{_failure_summary(failed)}",
            failed_tasks=failed,
            **result,
        )
    module.exit_json(**result)


def run_stopped(module: AnsibleModule, client: FateFlowClient) -> None:
    params = module.params
    job_id = params["job_id"]
    jobs = client.query_job(job_id, role=params["role"], party_id=params["party_id"])
    statuses = party_statuses(jobs)
    base: dict[str, Any] = _job_identity(jobs, job_id)
    if statuses and all(s.status in END_STATUSES for s in statuses):
        module.exit_json(changed=False, elapsed=0.0, **base, **_report(statuses))
    if module.check_mode:
        module.exit_json(changed=True, elapsed=0.0, **base, **_report(statuses))
    started = time.monotonic()
    client.stop_job(job_id)
    base["changed"] = True
    if params["wait"]:
        statuses = _wait(module, client, job_id, started, base)
    else:
        statuses = client.job_statuses(job_id, role=params["role"], party_id=params["party_id"])
    module.exit_json(elapsed=round(time.monotonic() - started, 3), **base, **_report(statuses))


def run_queried(module: AnsibleModule, client: FateFlowClient) -> None:
    params = module.params
    job_id = params["job_id"]
    jobs = client.query_job(job_id, role=params["role"], party_id=params["party_id"])
    module.exit_json(changed=False, **_job_identity(jobs, job_id), **_report(party_statuses(jobs)))


def main() -> None:
    table_options = {"namespace": {"type": "str", "required": True}, "name": {"type": "str", "required": True}}
    argument_spec: dict[str, Any] = {
        "state": {"type": "str", "default": "submitted", "choices": ["submitted", "stopped", "queried"]},
        "dag_schema": {"type": "dict"},
        "algorithm": {"type": "str", "choices": ["hetero_lr", "hetero_linr", "example"]},
        "guest_party_id": {"type": "str"},
        "host_party_ids": {"type": "list", "elements": "str"},
        "arbiter_party_id": {"type": "str"},
        "guest_table": {"type": "dict", "options": table_options},
        "host_tables": {
            "type": "list",
            "elements": "dict",
            "options": dict(table_options, party_id={"type": "str", "required": True}),
        },
        "options": {"type": "dict", "default": {}},
        "job_id": {"type": "str"},
        "role": {"type": "str", "choices": ["guest", "host", "arbiter"]},
        "party_id": {"type": "str"},
        "wait": {"type": "bool", "default": True},
        "timeout": {"type": "int", "default": 3600},
        "poll_interval": {"type": "float", "default": 5.0},
    }
    argument_spec.update(client_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("dag_schema", "algorithm")],
        required_if=[
            ("state", "submitted", ("dag_schema", "algorithm"), True),
            ("state", "stopped", ("job_id",)),
            ("state", "queried", ("job_id",)),
        ],
        required_together=[("app_id", "app_token")],
    )
    params = module.params
    if params["timeout"] < 0 or params["poll_interval"] <= 0:
        module.fail_json(msg="timeout must be >= 0 and poll_interval > 0")
    client = client_from_params(params)
    try:
        if params["state"] == "submitted":
            run_submitted(module, client)
        elif params["state"] == "stopped":
            run_stopped(module, client)
        else:
            run_queried(module, client)
    except DagError as exc:
        module.fail_json(msg=f"cannot build the job: {exc}", changed=False)
    except FateFlowError as exc:
        module.fail_json(msg=str(exc), changed=False, **exc.as_dict())


if __name__ == "__main__":
    main()
