# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Waiting on FATE-Flow: the statuses of jobs and tasks, and the polls that wait for a job, a table or a server.

The waits take a client (``fate_flow_v2.FateFlowClient``) or a probe and poll until an end state or a deadline;
a deadline that runs out raises :class:`FateFlowTimeout` with the last observed state in ``data``. They sleep
through the client's own clock (``pause``), so tests run them without waiting.

Standard library only: it runs inside Ansible modules on party hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    FateFlowError,
    FateFlowTimeout,
)

if TYPE_CHECKING:
    from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

# Statuses after which a job or task never changes again (FATE-Flow's EndStatus).
END_STATUSES = frozenset({"success", "failed", "canceled", "timeout", "pass"})
SUCCESS_STATUSES = frozenset({"success", "pass"})

# The upload job of /data/component/upload runs as this role and party on the receiving FATE-Flow.
UPLOAD_ROLE = "local"
UPLOAD_PARTY_ID = "0"

# Order in which per-role lines are reported (the facade's query prints the arbiter first).
ROLE_ORDER = ("arbiter", "guest", "host", "local")

Answer = TypeVar("Answer")


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


def wait_for_table(
    client: FateFlowClient,
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
            jobs = client.query_job(upload_job_id, role=UPLOAD_ROLE, party_id=UPLOAD_PARTY_ID)
            status = jobs[0].get("status") if jobs else None
            if status in END_STATUSES and status not in SUCCESS_STATUSES:
                raise FateFlowError(
                    f"upload job {upload_job_id} ended with status {status}"
                    f"{_failure_detail(client, upload_job_id, UPLOAD_ROLE, UPLOAD_PARTY_ID)}",
                    endpoint="/job/query",
                    data={"job_id": upload_job_id, "status": status},
                )
        if upload_job_id is None or status in SUCCESS_STATUSES:
            table = client.query_table(namespace, name)
            if table is not None:
                return table
        if time.monotonic() >= deadline:
            raise FateFlowTimeout(
                f"table {namespace}.{name} did not appear within {timeout:g} s "
                f"(upload job {upload_job_id}: {status or 'unknown'})",
                endpoint="/table/query",
                data={"job_id": upload_job_id, "status": status},
            )
        client.pause(poll_interval)


def _failure_detail(client: FateFlowClient, job_id: str, role: str, party_id: str) -> str:
    try:
        failed = client.failed_tasks(job_id, role=role, party_id=party_id)
    except FateFlowError:
        return ""
    if not failed:
        return ""
    names = "; ".join(f"{t['task_name']} {t['status']}" + (f": {t['error']}" if t["error"] else "") for t in failed)
    return f"; tasks: {names}"


def wait_for_job(
    client: FateFlowClient,
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
        statuses = client.job_statuses(job_id, role=role, party_id=party_id)
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
        client.pause(poll_interval)


def wait_until_answers(
    probe: Callable[[], Answer],
    *,
    timeout: float,
    poll_interval: float,
    pause: Callable[[float], None] = time.sleep,
) -> Answer:
    """Call ``probe`` (one FATE-Flow call, e.g. ``client.server_info``) until it answers with code 0.

    While FATE-Flow starts, every failure is a "not yet": refused connections, a proxy's error page, a non-zero
    code. Raises FateFlowTimeout, naming the last failure, when ``timeout`` runs out first.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except FateFlowError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise FateFlowTimeout(
                f"no answer within {timeout:g} s; the last attempt: {last}",
                endpoint=last.endpoint,
                data=last.as_dict(),
            )
        pause(poll_interval)
