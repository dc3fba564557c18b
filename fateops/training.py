"""upload, submit and query: data in, jobs out, on the deployed parties' own FATE-Flows."""

from __future__ import annotations

import sys
import time
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from fateops.contracts import Job, Project, SubmittedJob, UploadedTables
from fateops.deployment import deployed_flow
from fateops.errors import FateopsError, UsageError
from fateops.lifecycle import effective_settings, recorded_inventory
from fateops.runner import run_playbook
from fateops.validation import check_model_name, check_project, parse_party_id
from fateops.workspace import Workspace

SUPERVISED = ("hetero_lr", "hetero_linr")


def parse_uploads(gp: list[str] | None, hp: list[str] | None) -> list[tuple[str, int, str]]:
    """(role, party id, path) for the guest file and every host file."""
    if not gp:
        raise UsageError("no guest data given; pass -gp ID PATH")
    if not hp:
        raise UsageError("no host data given; pass -hp ID PATH [ID PATH ...]")
    if len(hp) % 2:
        raise UsageError(f"-hp takes pairs ID PATH; got {len(hp)} values")
    uploads = [("guest", parse_party_id(gp[0], "-gp"), gp[1])]
    seen: set[int] = set()
    for index in range(0, len(hp), 2):
        party_id = parse_party_id(hp[index], "-hp")
        if party_id in seen:
            raise UsageError(f"host party {party_id} is given twice in -hp; give each host one file")
        seen.add(party_id)
        uploads.append(("host", party_id, hp[index + 1]))
    return uploads


def table_name(role: str, party_id: int) -> str:
    return f"{role}_{party_id}"


def upload(workspace: Workspace, gp: list[str] | None, hp: list[str] | None, project: str | None) -> None:
    project = check_project(project)
    files = parse_uploads(gp, hp)
    with workspace.locked():
        state = workspace.load_state()
        per_host: dict[str, list[dict[str, Any]]] = {}
        for role, party_id, path in files:
            flow = deployed_flow(state, party_id)
            per_host.setdefault(flow.ip, []).append(
                {
                    "role": role,
                    "party_id": party_id,
                    "path": path,
                    "namespace": project,
                    "name": table_name(role, party_id),
                    "flow_name": flow.flow_name,
                    "flow_port": flow.http_port,
                }
            )
        result = run_playbook(
            workspace, "upload.yml", recorded_inventory(workspace, state), "upload", {"fate_uploads": per_host}
        )
        if not result.ok:
            raise FateopsError(result.error)
        order = {(role, party_id): index for index, (role, party_id, _) in enumerate(files)}
        tables = sorted(UploadedTables.from_run(result).tables, key=lambda t: order[(t.role, t.party_id)])
        state.projects[project] = Project(tables, uploaded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        workspace.save_state(state)
    sys.stderr.write(f"fateops upload: {len(tables)} table(s) in namespace {project}, {result.elapsed:.1f}s\n")


def _arbiter(settings: dict[str, Any], hosts: list[int]) -> int:
    configured = settings.get("fate_arbiter_party_id")
    return parse_party_id(configured, "fate_arbiter_party_id in settings.yml") if configured is not None else hosts[0]


def submit(workspace: Workspace, algorithm: str | None, project: str | None, mode: int | None) -> dict[str, Any]:
    if not algorithm:
        raise UsageError("no algorithm given; pass -alg hetero_lr, hetero_linr or example")
    project = check_project(project)
    settings = effective_settings(workspace)
    with workspace.locked():
        state = workspace.load_state()
        record = state.projects.get(project)
        if record is None:
            known = ", ".join(sorted(state.projects)) or "none"
            raise UsageError(
                f"project {project!r} has no uploaded data (projects: {known}); run -f upload ... -proj {project} first"
            )
        guest = next(t for t in record.tables if t.role == "guest")
        hosts = [t for t in record.tables if t.role == "host"]
        if algorithm in SUPERVISED and not guest.label_name:
            raise UsageError(
                f"the guest file {guest.path} has no label column (y or label); {algorithm} needs one: "
                "upload a guest file with a label"
            )
        host_ids = [t.party_id for t in hosts]
        arbiter = _arbiter(settings, host_ids)
        flows = {pid: deployed_flow(state, pid) for pid in {guest.party_id, *host_ids, arbiter}}
        guest_flow = flows[guest.party_id]
        if mode == 0 and len({(f.ip, f.http_port) for f in flows.values()}) > 1:
            raise UsageError(
                "-m 0 (standalone) needs every party on one FATE-Flow, but these parties are on several; use -m 1"
            )
        spec = {
            "algorithm": algorithm,
            "guest_party_id": str(guest.party_id),
            "host_party_ids": [str(pid) for pid in host_ids],
            "arbiter_party_id": str(arbiter),
            "options": settings.get("fate_job_options", {}).get(algorithm, {}),
        }
        if algorithm in SUPERVISED:
            spec["guest_table"] = {"namespace": guest.namespace, "name": guest.name}
            spec["host_tables"] = [
                {"party_id": str(t.party_id), "namespace": t.namespace, "name": t.name} for t in hosts
            ]
        result = run_playbook(
            workspace,
            "submit.yml",
            recorded_inventory(workspace, state),
            "submit",
            {"fate_submit_host": guest_flow.ip, "fate_submit_port": guest_flow.http_port, "fate_job_spec": spec},
            limit=guest_flow.ip,
        )
        if not result.ok:
            raise FateopsError(result.error)
        job = SubmittedJob.from_run(result)
        state.jobs[job.job_id] = Job(
            project,
            algorithm,
            guest.party_id,
            host_ids,
            job.model_id,
            job.model_version,
            # FATE's toy example runs on guest and host only.
            arbiter=arbiter if algorithm in SUPERVISED else None,
            mode=mode,
            submitted_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        workspace.save_state(state)
    return {"retcode": 0, "model_id": job.model_id, "model_version": job.model_version, "jobid": job.job_id}


def job_roles(job: Job) -> list[tuple[str, int]]:
    """Roles in the facade's order: arbiter, guest, host1, host2 ..."""
    roles = [("arbiter", job.arbiter)] if job.arbiter is not None else []
    roles.append(("guest", job.guest))
    roles.extend(("host", party_id) for party_id in job.hosts)
    return roles


def query(workspace: Workspace, job_id: str | None) -> str:
    if not job_id:
        raise UsageError("no job id given; pass -jid JOB_ID")
    job_id = check_model_name(job_id, "-jid")
    state = workspace.load_state()
    job = state.jobs.get(job_id)
    if job is None:
        raise UsageError(f"job {job_id} is not known to this workspace; pass a job id that -f submit printed")
    lines = []
    for role, party_id in job_roles(job):
        flow = deployed_flow(state, party_id)
        client = FateFlowClient(host=flow.ip, port=flow.http_port, timeout=10, retries=1)
        try:
            statuses = client.job_statuses(job_id, role=role, party_id=str(party_id))
        except FateFlowError as exc:
            raise FateopsError(f"{role} {party_id}: {exc}") from None
        lines.append(statuses[0].status if statuses else "unknown")
    return "\n".join(lines)
