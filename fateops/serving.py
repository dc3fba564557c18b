"""load_bind and predict: a trained model served online by the parties' serving services."""

from __future__ import annotations

import json
import math
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import MODEL_TASK

from fateops.contracts import Job, Service, State, Table
from fateops.deployment import deployed_flow
from fateops.errors import FateopsError, UsageError
from fateops.lifecycle import recorded_inventory
from fateops.migration import imported_model
from fateops.runner import run_playbook
from fateops.validation import check_model_name, check_service_name
from fateops.workspace import Workspace

# Retcodes of predict failures found before the guest's service is asked (FATE-Serving's numbering).
RETCODE_BAD_REQUEST = 100
RETCODE_UNKNOWN_SERVICE = 104
RETCODE_REMOTE = 105
PREDICT_TIMEOUT = 10.0
# The key of sendToRemoteFeatureData the facade sends the match id under (FATE-Serving's usual one); a host whose
# data names its match column otherwise also looks the id up under "id".
MATCH_ID_KEY = "id"


class PredictError(FateopsError):
    """A failed prediction, with the retcode the facade prints."""

    def __init__(self, retcode: int, message: str) -> None:
        super().__init__(message)
        self.retcode = retcode


def _find_job(state: State, model_id: str, model_version: str) -> Job:
    for job in state.jobs.values():
        if job.model_id == model_id and job.model_version == str(model_version):
            return job
    raise UsageError(
        f"model {model_id} version {model_version} is not known to this workspace; "
        "pass the model_id and model_version that -f submit printed, or import the model first with -f import"
    )


def _host_table(state: State, party_id: int, project: str | None) -> Table:
    """The host's uploaded table: the training project's, or for an imported model the latest upload of it."""
    uploads = [state.projects[project]] if project is not None else []
    uploads += sorted(state.projects.values(), key=lambda p: p.uploaded_at or "", reverse=True)
    for record in uploads:
        for table in record.tables:
            if (table.role, table.party_id) == ("host", party_id):
                return table
    raise UsageError(
        f"host {party_id} has no uploaded data to look features up in; upload its data with -f upload first"
    )


def _guest_table(state: State, party_id: int, project: str | None) -> Table | None:
    """The guest's uploaded table of the training project (None for an imported model, whose data is not here)."""
    record = state.projects.get(project) if project is not None else None
    for table in record.tables if record is not None else []:
        if (table.role, table.party_id) == ("guest", party_id):
            return table
    return None


def _model_to_bind(state: State, model_id: str, model_version: str) -> dict[str, Any]:
    """A model trained here (its job's outputs) or an imported one (its archives): the same fields either way."""
    model = imported_model(state, model_id, model_version)
    if model is not None:
        return {**model, "project": None}
    job = _find_job(state, model_id, model_version)
    if job.algorithm not in MODEL_TASK:
        raise UsageError(f"a {job.algorithm} job has no model to serve; bind a hetero_lr or hetero_linr model")
    return {
        "algorithm": job.algorithm,
        "task_name": MODEL_TASK[job.algorithm],
        "guest": job.guest,
        "hosts": list(job.hosts),
        "archives": {},
        "project": job.project,
    }


def load_bind(workspace: Workspace, model_id: str | None, model_version: str | None, service_id: str | None) -> None:
    if not model_id or model_version is None or not service_id:
        raise UsageError("load_bind needs -mid MODEL_ID -mver MODEL_VERSION -mname SERVICE_NAME")
    # Party hosts build file paths from these: checked before anything else.
    model_id = check_model_name(model_id, "-mid")
    model_version = check_model_name(model_version, "-mver")
    service_id = check_service_name(service_id)
    with workspace.locked():
        state = workspace.load_state()
        model = _model_to_bind(state, model_id, str(model_version))
        common = {
            "model_id": model_id,
            "model_version": str(model_version),
            "service_id": service_id,
            "task_name": model["task_name"],
            "guest_party_id": str(model["guest"]),
            "host_party_ids": [str(h) for h in model["hosts"]],
        }
        bindings: dict[str, list[dict[str, Any]]] = {}
        # The match id columns of the parties' data (FATE's match_id_name: any name): predict takes the id under
        # any of them as well as under "id".
        match_id_names = {MATCH_ID_KEY}
        guest_table = _guest_table(state, model["guest"], model["project"])
        if guest_table is not None:
            match_id_names.add(guest_table.id_name or MATCH_ID_KEY)
        parties = [("guest", model["guest"])] + [("host", h) for h in model["hosts"]]
        for role, party_id in parties:
            flow = deployed_flow(state, party_id)
            binding = {
                **common,
                "role": role,
                "party_id": str(party_id),
                "flow_name": flow.flow_name,
                "flow_port": flow.http_port,
            }
            if (role, party_id) in model["archives"]:
                binding["model_archive"] = model["archives"][(role, party_id)]
            if role == "host":
                table = _host_table(state, party_id, model["project"])
                id_column = table.id_name or MATCH_ID_KEY
                match_id_names.add(id_column)
                binding.update({"host_csv": table.path, "id_column": id_column})
            bindings.setdefault(flow.ip, []).append(binding)
        result = run_playbook(
            workspace, "load_bind.yml", recorded_inventory(workspace, state), "load_bind", {"fate_bindings": bindings}
        )
        if not result.ok:
            raise FateopsError(result.error)
        state.services[service_id] = Service(
            model_id,
            str(model_version),
            model["algorithm"],
            model["guest"],
            model["hosts"],
            match_id_names=sorted(match_id_names),
            bound_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        workspace.save_state(state)
    what = "no change" if result.changed == 0 else "bound"
    sys.stderr.write(f"fateops load_bind: {service_id} -> {model_id}/{model_version}: {what}\n")


def parse_params(
    params: list[str] | None, match_id_names: Sequence[str] = (MATCH_ID_KEY,)
) -> tuple[list[Any] | dict[str, Any], str | None]:
    """Feature values in header order, or name=value pairs. The match id sent to the hosts is given as id=<value>
    whatever the data's match column is called, or as <match column>=<value>."""
    if not params:
        raise PredictError(RETCODE_BAD_REQUEST, "no features given; pass -params VALUE ... or NAME=VALUE ...")
    match_id = None
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for item in params:
        if "=" in item:
            name, value = item.split("=", 1)
            if name == MATCH_ID_KEY or name in match_id_names:
                if match_id is not None and match_id != value:
                    raise PredictError(
                        RETCODE_BAD_REQUEST, f"two match ids given ({match_id} and {value}); give the id once"
                    )
                match_id = value
            else:
                named[name] = _number(value)
        else:
            positional.append(_number(item))
    if named and positional:
        raise PredictError(RETCODE_BAD_REQUEST, "mix of NAME=VALUE and bare values; use one form for the features")
    return (named if named else positional), match_id


def _number(text: str) -> Any:
    # Non-numbers go to the service as they are, which answers with its own retcode for them.
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def predict(workspace: Workspace, service_id: str | None, params: list[str] | None) -> dict[str, Any]:
    if not service_id:
        raise PredictError(RETCODE_BAD_REQUEST, "no service name given; pass -mname SERVICE_NAME")
    try:
        service_id = check_service_name(service_id)
    except UsageError as exc:
        raise PredictError(RETCODE_BAD_REQUEST, str(exc)) from None
    state = workspace.load_state()
    service = state.services.get(service_id)
    if service is None:
        raise PredictError(
            RETCODE_UNKNOWN_SERVICE, f"service {service_id} is not bound; bind a model first with -f load_bind"
        )
    match_id_names = service.match_id_names or [MATCH_ID_KEY]
    features, match_id = parse_params(params, match_id_names)
    if service.hosts and match_id is None:
        columns = " or ".join(f"{name}=<match id>" for name in match_id_names)
        raise PredictError(RETCODE_BAD_REQUEST, f"no id given; pass {columns} so the hosts can find their features")
    flow = deployed_flow(state, service.guest)
    body = {
        "head": {"serviceId": service_id},
        "body": {"featureData": features, "sendToRemoteFeatureData": {"id": match_id}},
    }
    request = urllib.request.Request(
        f"http://{flow.ip}:{flow.serving_port}/federation/v1/inference",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=PREDICT_TIMEOUT) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            answer = json.load(exc)
        except ValueError:
            raise PredictError(RETCODE_REMOTE, f"the guest's serving service answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise PredictError(
            RETCODE_REMOTE, f"the guest's serving service at {flow.ip}:{flow.serving_port} did not answer ({exc})"
        ) from None
    retcode = int(answer.get("retcode", RETCODE_REMOTE))
    if retcode != 0:
        raise PredictError(retcode, str(answer.get("retmsg") or "prediction failed"))
    data = answer.get("data") or {}
    value = data.get("prob", data.get("score"))
    return {"prob": value, "retmsg": "success", "retcode": 0}
