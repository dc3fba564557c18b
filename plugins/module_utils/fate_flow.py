# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The one client for FATE-Flow 2.x's REST API (``/v2``).

It runs inside Ansible modules on party hosts and inside the controller library alike, so it uses the
standard library only. Every answer of FATE-Flow is an envelope ``{"code", "message", "data", "job_id"}``
sent with HTTP 200 even on errors; a non-zero code becomes a :class:`FateFlowError` that carries FATE's code,
its message and the endpoint.

Retries: only on connection errors, with exponential backoff. A request whose connection failed before the
request was sent is always safe to repeat. Once the request may have reached the server, only idempotent
calls (GETs and the few POSTs marked so) are repeated: a job submit, an upload or a model import that reached
FATE-Flow is never sent twice.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

DEFAULT_PORT = 9380
API_PREFIX = "/v2"

# Statuses after which a job or task never changes again (FATE-Flow's EndStatus).
END_STATUSES = frozenset({"success", "failed", "canceled", "timeout", "pass"})
SUCCESS_STATUSES = frozenset({"success", "pass"})

# FATE-Flow return codes this project reacts to (fate_flow.entity.code.ReturnCode).
CODE_SUCCESS = 0
CODE_JOB_NOT_FOUND = 1001
CODE_TASK_NOT_FOUND = 2000
CODE_MODEL_NOT_FOUND = 2005
CODE_TABLE_NOT_FOUND = 7001

# The upload job of /data/component/upload runs as this role and party on the receiving FATE-Flow.
UPLOAD_ROLE = "local"
UPLOAD_PARTY_ID = "0"

# Order in which per-role lines are reported (the facade's query prints the arbiter first).
ROLE_ORDER = ("arbiter", "guest", "host", "local")

_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")

# Failures after the request may have reached FATE-Flow; repeated only for idempotent calls.
_RETRY_AFTER_SEND = (
    ConnectionResetError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    TimeoutError,
    socket.timeout,
)


class FateFlowError(Exception):
    """FATE-Flow answered with a non-zero code, an unusable answer, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        code: int | None = None,
        http_status: int | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.code = code
        self.http_status = http_status
        self.data = data

    def __str__(self) -> str:
        where = f"FATE-Flow {self.endpoint}"
        if self.code is not None:
            return f"{where} failed with code {self.code}: {self.message}"
        if self.http_status is not None:
            return f"{where} failed with HTTP {self.http_status}: {self.message}"
        return f"{where} failed: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """Fields for an Ansible fail_json / a JSON error line."""
        return {
            "endpoint": self.endpoint,
            "fate_code": self.code,
            "fate_message": self.message,
            "http_status": self.http_status,
        }


class FateFlowConnectionError(FateFlowError):
    """FATE-Flow could not be reached (after the allowed retries)."""


class FateFlowTimeout(FateFlowError):
    """A wait for a job or a table ran out of time; the last observed state is in ``data``."""


@dataclass(frozen=True)
class ClientAuth:
    """FATE-Flow's client authentication (``authentication.client: true`` in service_conf.yaml).

    The signature is md5(md5(app_id + user_name + nonce + timestamp) + app_token), both as lower-case hex;
    the timestamp is in milliseconds and FATE-Flow rejects it after 60 s, so headers are made per request.
    """

    app_id: str
    app_token: str = field(repr=False)
    user_name: str = ""

    def headers(self, timestamp_ms: int | None = None, nonce: str | None = None) -> dict[str, str]:
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        # FATE-Flow checks for exactly four characters; its own client uses four digits.
        nonce = nonce if nonce is not None else f"{secrets.randbelow(10000):04d}"
        inner = hashlib.md5((self.app_id + self.user_name + nonce + timestamp).encode("utf-8")).hexdigest()
        signature = hashlib.md5((inner + self.app_token).encode("utf-8")).hexdigest()
        return {
            "appId": self.app_id,
            "userName": self.user_name,
            "Timestamp": timestamp,
            "Nonce": nonce,
            "Signature": signature,
        }


@dataclass(frozen=True)
class Envelope:
    """FATE-Flow's answer to one call."""

    code: int
    message: str
    data: Any
    job_id: str | None = None


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    model_id: str
    model_version: str


@dataclass(frozen=True)
class PartyStatus:
    """The status of one (role, party_id) of a job, as one FATE-Flow knows it."""

    role: str
    party_id: str
    status: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "party_id": self.party_id, "status": self.status}


def overall_status(statuses: Iterable[PartyStatus]) -> str:
    """One word for a job seen from several parties: the worst end state wins, then the least advanced."""
    words = [s.status for s in statuses]
    if not words:
        return "unknown"
    for bad in ("failed", "timeout", "canceled"):
        if bad in words:
            return bad
    if all(w in SUCCESS_STATUSES for w in words):
        return "success"
    if "running" in words or any(w in SUCCESS_STATUSES for w in words):
        return "running"
    if "waiting" in words:
        return "waiting"
    return words[0]


def _role_key(role: str) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def party_statuses(jobs: list[dict[str, Any]]) -> list[PartyStatus]:
    """Per-role statuses from a /job/query answer: arbiter, guest, hosts, each in the job's party order."""
    declared: dict[str, list[str]] = {}
    for job in jobs:
        for party in job.get("parties") or []:
            declared.setdefault(party.get("role", ""), [str(p) for p in party.get("party_id", [])])
    records = [PartyStatus(str(j.get("role")), str(j.get("party_id")), str(j.get("status"))) for j in jobs]

    def order(record: PartyStatus) -> tuple[int, int, str]:
        ids = declared.get(record.role, [])
        position = ids.index(record.party_id) if record.party_id in ids else len(ids)
        return (_role_key(record.role), position, record.party_id)

    return sorted(records, key=order)


def _multipart(fields: Mapping[str, str], files: Mapping[str, Path]) -> tuple[bytes, str]:
    boundary = f"fateops-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, path in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class FateFlowClient:
    """A FATE-Flow 2.x REST client.

    ``FateFlowClient("http://10.0.0.2:9380")`` or ``FateFlowClient(host="10.0.0.2", port=9380)``.
    ``timeout`` bounds each HTTP request (seconds); ``retries`` is how many times a connection error is
    retried, waiting ``backoff``, 2x``backoff``, 4x``backoff``... in between.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        auth: ClientAuth | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if base_url is None:
            base_url = f"http://{host}:{port}"
        if "://" not in base_url:
            base_url = f"http://{base_url}"
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FATE-Flow address {base_url!r} is not an http(s)://host:port URL")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else DEFAULT_PORT)
        self._path_prefix = parts.path.rstrip("/") + API_PREFIX
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.auth = auth
        self._ssl_context = ssl_context
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"FateFlowClient({self.base_url!r})"

    # transport

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._ssl_context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _send_once(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One HTTP exchange; an error carries ``fateops_sent``: whether the request may have left."""
        connection = self._connection()
        try:
            try:
                # Connecting on its own tells "nothing was sent" (safe to repeat) from a later failure.
                connection.connect()
            except OSError as exc:
                exc.fateops_sent = False  # type: ignore[attr-defined]
                raise
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                exc.fateops_sent = True  # type: ignore[union-attr]
                raise
        finally:
            connection.close()

    def _exchange(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool,
    ) -> tuple[int, bytes]:
        path = self._path_prefix + endpoint
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            path += "?" + urlencode({k: _query_value(v) for k, v in query.items()})
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            if self.auth is not None:
                headers.update(self.auth.headers())
            try:
                return self._send_once(method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                sent = getattr(exc, "fateops_sent", True)
                if sent:
                    retryable = idempotent and isinstance(exc, _RETRY_AFTER_SEND)
                else:
                    # Nothing left this host: refused, unreachable, unresolvable or a connect timeout.
                    # A TLS failure (bad certificate) will not heal by waiting.
                    retryable = not isinstance(exc, ssl.SSLError)
                if not retryable or attempt >= self.retries:
                    cause = f"{exc.__class__.__name__}: {exc}"
                    if sent and not idempotent:
                        advice = (
                            "The request may have reached FATE-Flow, so it was not repeated: "
                            "check what FATE-Flow did (e.g. its job list) before trying again"
                        )
                    else:
                        advice = "Check that FATE-Flow runs and listens on this address and port"
                    raise FateFlowConnectionError(
                        f"cannot reach FATE-Flow at {self.base_url} after {attempt + 1} attempt(s): {cause}. " + advice,
                        endpoint=endpoint,
                    ) from exc
                self._sleep(self.backoff * (2**attempt))
                attempt += 1

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, Path] | None = None,
        idempotent: bool | None = None,
        allow_codes: Iterable[int] = (),
        bare: bool = False,
    ) -> Envelope:
        """Call ``endpoint`` (below /v2) and return its envelope; raise FateFlowError unless code is 0.

        ``allow_codes`` lists non-zero codes returned as an envelope instead of raised (e.g. "no such table").
        ``bare``: the endpoint answers success with plain JSON, not an envelope (the /output/data views do);
        that JSON becomes ``data``, while an answer with a ``code`` is still an envelope.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method == "GET"
        body: bytes | None = None
        content_type: str | None = None
        if files:
            body, content_type = _multipart(form or {}, files)
        elif json_body is not None:
            body, content_type = json.dumps(json_body).encode("utf-8"), "application/json"
        status, raw = self._exchange(
            method,
            endpoint,
            params=params,
            body=body,
            content_type=content_type,
            idempotent=idempotent,
        )
        envelope = _parse_bare(endpoint, status, raw) if bare else _parse_envelope(endpoint, status, raw)
        if envelope.code != CODE_SUCCESS and envelope.code not in set(allow_codes):
            raise FateFlowError(
                envelope.message or "no message", endpoint=endpoint, code=envelope.code, data=envelope.data
            )
        return envelope

    def download(self, endpoint: str, params: Mapping[str, Any]) -> bytes:
        """GET a file answer (tar archives of output data or models); FATE's JSON error becomes an error."""
        status, raw = self._exchange("GET", endpoint, params=params, idempotent=True)
        if status == 200 and raw[:1] == b"{":
            envelope = _parse_envelope(endpoint, status, raw)
            raise FateFlowError(envelope.message, endpoint=endpoint, code=envelope.code, data=envelope.data)
        if status != 200:
            raise FateFlowError(_snippet(raw), endpoint=endpoint, http_status=status)
        return raw

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

        The table exists only once that job has succeeded (see :meth:`wait_for_table`).
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

    def wait_for_table(
        self,
        namespace: str,
        name: str,
        *,
        upload_job_id: str | None = None,
        timeout: float = 600.0,
        poll_interval: float = 2.0,
    ) -> dict[str, Any]:
        """Wait until the upload job (if given) succeeded and the table answers /table/query."""
        deadline = time.monotonic() + timeout
        status = None
        while True:
            if upload_job_id is not None and status not in SUCCESS_STATUSES:
                jobs = self.query_job(upload_job_id, role=UPLOAD_ROLE, party_id=UPLOAD_PARTY_ID)
                status = jobs[0].get("status") if jobs else None
                if status in END_STATUSES and status not in SUCCESS_STATUSES:
                    raise FateFlowError(
                        f"upload job {upload_job_id} ended with status {status}"
                        f"{self._failure_detail(upload_job_id, UPLOAD_ROLE, UPLOAD_PARTY_ID)}",
                        endpoint="/job/query",
                        data={"job_id": upload_job_id, "status": status},
                    )
            if upload_job_id is None or status in SUCCESS_STATUSES:
                table = self.query_table(namespace, name)
                if table is not None:
                    return table
            if time.monotonic() >= deadline:
                raise FateFlowTimeout(
                    f"table {namespace}.{name} did not appear within {timeout:g} s "
                    f"(upload job {upload_job_id}: {status or 'unknown'})",
                    endpoint="/table/query",
                    data={"job_id": upload_job_id, "status": status},
                )
            self._sleep(poll_interval)

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

    def wait_for_job(
        self,
        job_id: str,
        *,
        role: str | None = None,
        party_id: str | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 5.0,
        on_poll: Callable[[list[PartyStatus]], None] | None = None,
    ) -> list[PartyStatus]:
        """Poll until every (role, party_id) this FATE-Flow knows has an end status; returns them.

        Raises FateFlowTimeout (last statuses in ``data``) when ``timeout`` runs out first.
        """
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.job_statuses(job_id, role=role, party_id=party_id)
            if on_poll is not None:
                on_poll(statuses)
            if statuses and all(s.status in END_STATUSES for s in statuses):
                return statuses
            if time.monotonic() >= deadline:
                raise FateFlowTimeout(
                    f"job {job_id} still {overall_status(statuses)} after {timeout:g} s",
                    endpoint="/job/query",
                    data=[s.as_dict() for s in statuses],
                )
            self._sleep(poll_interval)

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

    def _failure_detail(self, job_id: str, role: str, party_id: str) -> str:
        try:
            failed = self.failed_tasks(job_id, role=role, party_id=party_id)
        except FateFlowError:
            return ""
        if not failed:
            return ""
        names = "; ".join(f"{t['task_name']} {t['status']}" + (f": {t['error']}" if t["error"] else "") for t in failed)
        return f"; tasks: {names}"

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


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _snippet(raw: bytes, limit: int = 300) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_bare(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict) and "code" in payload:
        return _parse_envelope(endpoint, status, raw)
    if payload is None or status != 200:
        raise FateFlowError(
            f"not a FATE-Flow answer: {_snippet(raw) or 'empty body'}", endpoint=endpoint, http_status=status
        )
    return Envelope(code=CODE_SUCCESS, message="", data=payload)


def _parse_envelope(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        # A proxy in front of FATE-Flow (nginx) answers with its own HTML pages.
        raise FateFlowError(
            f"not a FATE-Flow answer: {_snippet(raw) or 'empty body'}",
            endpoint=endpoint,
            http_status=status,
        )
    try:
        code = int(payload["code"])
    except (TypeError, ValueError):
        raise FateFlowError(
            f"FATE-Flow answered with a non-numeric code {payload['code']!r}", endpoint=endpoint
        ) from None
    message = payload.get("message")
    return Envelope(
        code=code,
        message=str(message if message is not None else ""),
        data=payload.get("data"),
        job_id=payload.get("job_id"),
    )


def client_argument_spec() -> dict[str, dict[str, Any]]:
    """The connection options every fateops module takes, in AnsibleModule argument_spec form."""
    return {
        "fate_flow_host": {"type": "str", "default": "127.0.0.1"},
        "fate_flow_port": {"type": "int", "default": DEFAULT_PORT},
        "fate_flow_url": {"type": "str"},
        "request_timeout": {"type": "float", "default": 30.0},
        "request_retries": {"type": "int", "default": 3},
        "app_id": {"type": "str"},
        "app_token": {"type": "str", "no_log": True},
        "user_name": {"type": "str", "default": ""},
    }


def client_from_params(params: Mapping[str, Any]) -> FateFlowClient:
    """Build the client from module parameters made with :func:`client_argument_spec`."""
    auth = None
    if params.get("app_id"):
        auth = ClientAuth(
            app_id=params["app_id"],
            app_token=params.get("app_token") or "",
            user_name=params.get("user_name") or "",
        )
    return FateFlowClient(
        params.get("fate_flow_url"),
        host=params.get("fate_flow_host") or "127.0.0.1",
        port=params.get("fate_flow_port") or DEFAULT_PORT,
        timeout=params.get("request_timeout") or 30.0,
        retries=params.get("request_retries") if params.get("request_retries") is not None else 3,
        auth=auth,
    )


# ------------------------------------------------------------------------------------- FATE-Flow 1.x (/v1)
# FATE 1.x parties (the compose runtime's generation 1) run FATE-Flow 1.x: every call is a POST below /v1 and
# answers {"retcode", "retmsg", "data", "jobId"}. FATE-Serving serves the models it loads and binds, and it
# migrates models between party ids itself (/v1/model/migrate), which FATE-Flow 2.x does not.

API_PREFIX_V1 = "/v1"
GENERATION_1 = 1
GENERATION_2 = 2


def _parse_envelope_v1(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or "retcode" not in payload:
        raise FateFlowError(
            f"not a FATE-Flow 1.x answer: {_snippet(raw) or 'empty body'}", endpoint=endpoint, http_status=status
        )
    try:
        code = int(payload["retcode"])
    except (TypeError, ValueError):
        raise FateFlowError(
            f"FATE-Flow answered with a non-numeric retcode {payload['retcode']!r}", endpoint=endpoint
        ) from None
    return Envelope(
        code=code, message=str(payload.get("retmsg") or ""), data=payload.get("data"), job_id=payload.get("jobId")
    )


def _parties_v1(
    guest: str | int, hosts: Iterable[str | int], arbiters: Iterable[str | int] = ()
) -> dict[str, list[int]]:
    roles = {"guest": [int(guest)], "host": [int(h) for h in hosts]}
    arbiter_ids = [int(a) for a in arbiters]
    if arbiter_ids:
        roles["arbiter"] = arbiter_ids
    return roles


def failed_parties_v1(data: Any) -> list[str]:
    """ "role party_id: retmsg" of every party a 1.x load or migrate reports as failed (data.detail)."""
    failed = []
    for role, parties in ((data or {}).get("detail") or {}).items():
        for party_id, answer in (parties or {}).items():
            if isinstance(answer, dict) and int(answer.get("retcode", 0)) != 0:
                failed.append(f"{role} {party_id}: {answer.get('retmsg') or 'failed'}")
    return sorted(failed)


class FateFlowClientV1(FateFlowClient):
    """The same transport (retries, TLS, client auth) for FATE-Flow 1.x's /v1 API."""

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._path_prefix = self._path_prefix[: -len(API_PREFIX)] + API_PREFIX_V1

    def call_v1(self, endpoint: str, body: Mapping[str, Any], *, idempotent: bool = False) -> Envelope:
        """POST ``endpoint`` (below /v1) with a JSON body; raise FateFlowError unless retcode is 0."""
        raw_body = json.dumps(dict(body)).encode("utf-8")
        status, raw = self._exchange(
            "POST", endpoint, body=raw_body, content_type="application/json", idempotent=idempotent
        )
        envelope = _parse_envelope_v1(endpoint, status, raw)
        if envelope.code != CODE_SUCCESS:
            raise FateFlowError(
                envelope.message or "no message", endpoint=endpoint, code=envelope.code, data=envelope.data
            )
        return envelope

    def version(self) -> str:
        """POST /v1/version/get: FATE's release, e.g. "1.11.4"."""
        data = self.call_v1("/version/get", {"module": "FATE"}, idempotent=True).data or {}
        return str(data.get("FATE") or "")

    def load_model(
        self,
        model_id: str,
        model_version: str,
        guest: str | int,
        hosts: Iterable[str | int],
        arbiters: Iterable[str | int] = (),
    ) -> dict[str, Any]:
        """POST /v1/model/load: every party's FATE-Flow loads its part into its FATE-Serving. Raises with the
        failing parties named when one did not load."""
        envelope = self.call_v1(
            "/model/load",
            {
                "initiator": {"party_id": str(guest), "role": "guest"},
                "role": _parties_v1(guest, hosts, arbiters),
                "job_parameters": {"model_id": model_id, "model_version": str(model_version)},
            },
            idempotent=True,
        )
        failed = failed_parties_v1(envelope.data)
        if failed:
            raise FateFlowError(f"model not loaded by {'; '.join(failed)}", endpoint="/model/load", data=envelope.data)
        return envelope.data or {}

    def bind_model(
        self,
        model_id: str,
        model_version: str,
        service_id: str,
        guest: str | int,
        hosts: Iterable[str | int],
        arbiters: Iterable[str | int] = (),
    ) -> str:
        """POST /v1/model/bind: the guest's FATE-Serving serves the loaded model under ``service_id``."""
        envelope = self.call_v1(
            "/model/bind",
            {
                "service_id": service_id,
                "initiator": {"party_id": str(guest), "role": "guest"},
                "role": _parties_v1(guest, hosts, arbiters),
                "job_parameters": {"model_id": model_id, "model_version": str(model_version)},
            },
            idempotent=True,
        )
        return envelope.message

    def migrate_model(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v1/model/migrate with the migration's configuration (model_id, model_version, role,
        migrate_initiator, migrate_role, execute_party, unify_model_version): the model rewritten for new party
        ids on every executing party. Raises with the failing parties named."""
        missing = [
            key
            for key in ("model_id", "model_version", "role", "migrate_initiator", "migrate_role", "execute_party")
            if key not in config
        ]
        if missing:
            raise FateFlowError(f"migration config lacks {', '.join(missing)}; add them", endpoint="/model/migrate")
        envelope = self.call_v1("/model/migrate", config)
        failed = failed_parties_v1(envelope.data)
        if failed:
            raise FateFlowError(
                f"model not migrated by {'; '.join(failed)}", endpoint="/model/migrate", data=envelope.data
            )
        return envelope.data or {}


def detect_generation(client: FateFlowClient) -> int:
    """Which FATE-Flow answers at the client's address: 2 (GET /v2/server/fateflow) or 1 (POST /v1/version/get).

    Raises FateFlowConnectionError when nothing answers, FateFlowError when neither API does.
    """
    try:
        client.server_info()
        return GENERATION_2
    except FateFlowConnectionError:
        raise
    except FateFlowError as v2_error:
        legacy = FateFlowClientV1(
            client.base_url,
            timeout=client.timeout,
            retries=client.retries,
            backoff=client.backoff,
            auth=client.auth,
            ssl_context=client._ssl_context,
            sleep=client._sleep,
        )
        try:
            legacy.version()
        except FateFlowConnectionError:
            raise
        except FateFlowError as v1_error:
            raise FateFlowError(
                f"neither FATE-Flow 2.x ({v2_error}) nor 1.x ({v1_error}) answers at {client.base_url}; "
                "check the address and port",
                endpoint="/server/fateflow",
            ) from None
        return GENERATION_1
