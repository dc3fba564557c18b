# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""FATE-Flow 2.x's REST API (``/v2``): the server, data and tables, jobs and tasks, outputs and models.

:class:`FateFlowClient` is the one client every module, playbook and the controller library use for FATE 2.x;
its transport (retries, TLS, client authentication) is ``fate_flow_transport``, its waits ``fate_flow_wait``,
FATE 1.x's API ``fate_flow_v1``, and the module options that build it ``fate_flow_args``.

Standard library only: it runs inside Ansible modules on party hosts and inside the controller library alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    CODE_MODEL_NOT_FOUND,
    CODE_SUCCESS,
    CODE_TABLE_NOT_FOUND,
    CODE_TASK_NOT_FOUND,
    FateFlowError,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_transport import (
    Envelope,
    FateFlowTransport,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import (
    SUCCESS_STATUSES,
    PartyStatus,
    party_statuses,
)

_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    model_id: str
    model_version: str


class FateFlowClient(FateFlowTransport):
    """A FATE-Flow 2.x REST client.

    ``FateFlowClient("http://10.0.0.2:9380")`` or ``FateFlowClient(host="10.0.0.2", port=9380)``; see
    :class:`FateFlowTransport` for timeouts, retries and authentication. The waits for a job or a table are
    ``fate_flow_wait.wait_for_job`` and ``wait_for_table``.
    """

    api_prefix = "/v2"

    # server

    def server_info(self) -> dict[str, Any]:
        """GET /server/fateflow: the registered FATE-Flow instances, keyed by instance id."""
        return self.call("GET", "/server/fateflow").data or {}

    # data and tables

    def upload(
        self,
        file: str,
        namespace: str,
        name: str,
        meta: Mapping[str, Any],
        *,
        partitions: int = 4,
        head: bool = True,
        extend_sid: bool = True,
    ) -> str:
        """POST /data/component/upload of a file that is on FATE-Flow's own filesystem; returns the job id.

        The table exists only once that job has succeeded (see ``fate_flow_wait.wait_for_table``).
        """
        envelope = self.call(
            "POST",
            "/data/component/upload",
            json_body={
                "file": file,
                "head": head,
                "partitions": partitions,
                "extend_sid": extend_sid,
                "meta": dict(meta),
                "namespace": namespace,
                "name": name,
            },
            idempotent=False,
        )
        if not envelope.job_id:
            raise FateFlowError("upload accepted without a job id", endpoint="/data/component/upload")
        return envelope.job_id

    def query_table(self, namespace: str, name: str) -> dict[str, Any] | None:
        """GET /table/query: the table's description (count, meta, path, source), or None if absent."""
        envelope = self.call(
            "GET",
            "/table/query",
            params={"namespace": namespace, "name": name},
            allow_codes=(CODE_TABLE_NOT_FOUND,),
        )
        return envelope.data if envelope.code == CODE_SUCCESS else None

    def delete_table(self, namespace: str, name: str) -> bool:
        """POST /table/delete; False when there was no such table."""
        envelope = self.call(
            "POST",
            "/table/delete",
            json_body={"namespace": namespace, "name": name},
            idempotent=True,
            allow_codes=(CODE_TABLE_NOT_FOUND,),
        )
        return envelope.code == CODE_SUCCESS

    # jobs

    def submit_job(self, dag_schema: Mapping[str, Any]) -> SubmittedJob:
        """POST /job/submit {"dag_schema": ...}: never retried once sent, so a job is created at most once."""
        envelope = self.call("POST", "/job/submit", json_body={"dag_schema": dict(dag_schema)}, idempotent=False)
        data = envelope.data or {}
        if not envelope.job_id:
            raise FateFlowError("job accepted without a job id", endpoint="/job/submit", data=data)
        return SubmittedJob(
            job_id=envelope.job_id,
            model_id=str(data.get("model_id", envelope.job_id)),
            model_version=str(data.get("model_version", "0")),
        )

    def query_job(self, job_id: str, *, role: str | None = None, party_id: str | None = None) -> list[dict[str, Any]]:
        """GET /job/query: one record per (role, party_id) this FATE-Flow holds for the job."""
        envelope = self.call("GET", "/job/query", params={"job_id": job_id, "role": role, "party_id": party_id})
        return list(envelope.data or [])

    def job_statuses(self, job_id: str, *, role: str | None = None, party_id: str | None = None) -> list[PartyStatus]:
        return party_statuses(self.query_job(job_id, role=role, party_id=party_id))

    def stop_job(self, job_id: str) -> Envelope:
        """POST /job/stop. Stopping twice is harmless, so a lost answer may be retried."""
        return self.call("POST", "/job/stop", json_body={"job_id": job_id}, idempotent=True)

    def query_tasks(
        self,
        job_id: str,
        *,
        role: str | None = None,
        party_id: str | None = None,
        task_name: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """GET /job/task/query; an empty list when the job has no (matching) tasks yet."""
        envelope = self.call(
            "GET",
            "/job/task/query",
            params={
                "job_id": job_id,
                "role": role,
                "party_id": party_id,
                "task_name": task_name,
                "status": status,
            },
            allow_codes=(CODE_TASK_NOT_FOUND,),
        )
        return list(envelope.data or []) if envelope.code == CODE_SUCCESS else []

    def task_error_log(self, job_id: str, role: str, party_id: str | int, task_name: str) -> list[str]:
        """GET /log/query (log_type task_error): the lines of a task's ERROR log, oldest first."""
        envelope = self.call(
            "GET",
            "/log/query",
            params={
                "log_type": "task_error",
                "job_id": job_id,
                "role": role,
                "party_id": str(party_id),
                "task_name": task_name,
            },
        )
        return [str(line.get("content", "")) for line in envelope.data or [] if isinstance(line, dict)]

    def task_error(self, job_id: str, role: str, party_id: str | int, task_name: str) -> str | None:
        """The first error a failed task logged, without FATE's log prefix; None when it cannot be read."""
        try:
            lines = self.task_error_log(job_id, role, party_id, task_name)
        except FateFlowError:
            return None
        # The exception a traceback ends with names the cause better than FATE's "[ERROR]... run error" line.
        for line in lines:
            if _EXCEPTION_LINE.match(line):
                return line.strip()
        for line in lines:
            if line.startswith("[ERROR]"):
                return line.split("]: ", 1)[-1].strip()
        tail = [line.strip() for line in lines if line.strip()]
        return tail[-1] if tail else None

    def failed_tasks(
        self, job_id: str, *, role: str | None = None, party_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Tasks of a job that did not succeed, as {task_name, role, party_id, status, error}.

        ``error`` is the first line the task logged at ERROR level (read for failed tasks only; tasks
        that never started because another failed stay ``waiting`` with no error).
        """
        failed = []
        for task in self.query_tasks(job_id, role=role, party_id=party_id):
            if task.get("status") in SUCCESS_STATUSES:
                continue
            entry = {
                "task_name": task.get("task_name"),
                "role": task.get("role"),
                "party_id": str(task.get("party_id")),
                "status": task.get("status"),
                "error": None,
            }
            if entry["status"] == "failed":
                entry["error"] = self.task_error(job_id, entry["role"], entry["party_id"], entry["task_name"])
            failed.append(entry)
        return failed

    # outputs

    def _task_params(self, job_id: str, role: str, party_id: str | int, task_name: str) -> dict[str, str]:
        return {"job_id": job_id, "role": role, "party_id": str(party_id), "task_name": task_name}

    def output_model(self, job_id: str, role: str, party_id: str | int, task_name: str) -> dict[str, Any]:
        """GET /output/model/query: the task's model outputs, keyed by output name (e.g. output_model)."""
        return self.call("GET", "/output/model/query", params=self._task_params(job_id, role, party_id, task_name)).data

    def output_metric(self, job_id: str, role: str, party_id: str | int, task_name: str) -> list[dict[str, Any]]:
        """GET /output/metric/query: the metrics a task reported (e.g. evaluation_0's auc)."""
        data = self.call(
            "GET", "/output/metric/query", params=self._task_params(job_id, role, party_id, task_name)
        ).data
        return list(data or [])

    def output_data_table(self, job_id: str, role: str, party_id: str | int, task_name: str) -> Any:
        """GET /output/data/table: the task's output tables, {output key: [{namespace, name}]}."""
        params = self._task_params(job_id, role, party_id, task_name)
        return self.call("GET", "/output/data/table", params=params, bare=True).data

    def output_data_display(self, job_id: str, role: str, party_id: str | int, task_name: str) -> Any:
        """GET /output/data/display: the first rows of the task's output data (FATE's own scores).

        {output key: [{"data": rows, "metadata": {"schema_meta": {"fields": ...}}, "total": n}]}; for a
        CoordinatedLR task the guest's rows are [sid, id, label, predict_score, predict_result,
        predict_detail, type].
        """
        params = self._task_params(job_id, role, party_id, task_name)
        return self.call("GET", "/output/data/display", params=params, bare=True).data

    def output_data_download(self, job_id: str, role: str, party_id: str | int, task_name: str) -> bytes:
        """GET /output/data/download: the task's whole output data as a tar.gz archive."""
        return self.download("/output/data/download", self._task_params(job_id, role, party_id, task_name))

    def output_model_download(self, job_id: str, role: str, party_id: str | int, task_name: str) -> bytes:
        """GET /output/model/download: the task's model as FATE stores it (a tar of the model and its metadata)."""
        return self.download("/output/model/download", self._task_params(job_id, role, party_id, task_name))

    # models

    def export_model(self, model_id: str, model_version: str, role: str, party_id: str | int, path: str) -> Any:
        """POST /model/export: writes the party's model as a zip under ``path`` ON THE FATE-Flow host."""
        return self.call(
            "POST",
            "/model/export",
            json_body={
                "model_id": model_id,
                "model_version": str(model_version),
                "role": role,
                "party_id": str(party_id),
                "path": path,
            },
            idempotent=True,
        ).data

    def export_model_archive(
        self, model_id: str, model_version: str, role: str, party_id: str | int, directory: str | Path
    ) -> Path:
        """Export one party's part and return the zip's path: FATE-Flow names it
        ``<model_id>_<model_version>_<role>_<party_id>.zip`` in ``directory`` on its own host."""
        self.export_model(model_id, model_version, role, party_id, str(directory))
        path = Path(directory) / f"{model_id}_{model_version}_{role}_{party_id}.zip"
        if not path.is_file():
            raise FateFlowError(
                f"export reported success but {path} does not exist: FATE-Flow runs on another host than this "
                "caller, so export on the FATE-Flow host",
                endpoint="/model/export",
            )
        return path

    def import_model(self, model_id: str, model_version: str, file: str | Path) -> None:
        """POST /model/import (multipart): a zip made by export, read from the caller's filesystem."""
        path = Path(file)
        if not path.is_file():
            raise FateFlowError(f"model archive {path} does not exist", endpoint="/model/import")
        self.call(
            "POST",
            "/model/import",
            form={"model_id": model_id, "model_version": str(model_version)},
            files={"file": path},
            idempotent=False,
        )

    def delete_model(
        self,
        model_id: str,
        model_version: str,
        *,
        role: str | None = None,
        party_id: str | int | None = None,
        task_name: str | None = None,
    ) -> bool:
        """POST /model/delete; False when FATE-Flow holds no such model (so deleting twice is harmless)."""
        body: dict[str, Any] = {"model_id": model_id, "model_version": str(model_version)}
        if role is not None:
            body["role"] = role
        if party_id is not None:
            body["party_id"] = str(party_id)
        if task_name is not None:
            body["task_name"] = task_name
        envelope = self.call(
            "POST", "/model/delete", json_body=body, idempotent=True, allow_codes=(CODE_MODEL_NOT_FOUND,)
        )
        # FATE-Flow 2.2 answers {"count": true} rather than a number.
        return envelope.code == CODE_SUCCESS and bool((envelope.data or {}).get("count", True))
