# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""FATE-Flow 1.x's REST API (``/v1``), and which generation answers at an address.

FATE 1.x parties (the compose runtime's generation 1) run FATE-Flow 1.x: every call is a POST below /v1 and
answers {"retcode", "retmsg", "data", "jobId"}. FATE-Serving serves the models it loads and binds, and it
migrates models between party ids itself (/v1/model/migrate), which FATE-Flow 2.x does not.
:class:`FateFlowClientV1` shares the transport (retries, TLS, client auth) of the 2.x client.

Standard library only: it runs inside Ansible modules on party hosts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    CODE_SUCCESS,
    FateFlowConnectionError,
    FateFlowError,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_transport import (
    Envelope,
    FateFlowTransport,
    answer_snippet,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

GENERATION_1 = 1
GENERATION_2 = 2


def _parse_envelope_v1(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or "retcode" not in payload:
        raise FateFlowError(
            f"not a FATE-Flow 1.x answer: {answer_snippet(raw) or 'empty body'}", endpoint=endpoint, http_status=status
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


class FateFlowClientV1(FateFlowTransport):
    """The same transport (retries, TLS, client auth) for FATE-Flow 1.x's /v1 API."""

    api_prefix = "/v1"

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


def detect_generation(client: FateFlowTransport) -> int:
    """Which FATE-Flow answers at the client's address: 2 (GET /v2/server/fateflow) or 1 (POST /v1/version/get).

    Raises FateFlowConnectionError when nothing answers, FateFlowError when neither API does.
    """
    try:
        client.as_api(FateFlowClient).server_info()
        return GENERATION_2
    except FateFlowConnectionError:
        raise
    except FateFlowError as v2_error:
        try:
            client.as_api(FateFlowClientV1).version()
        except FateFlowConnectionError:
            raise
        except FateFlowError as v1_error:
            raise FateFlowError(
                f"neither FATE-Flow 2.x ({v2_error}) nor 1.x ({v1_error}) answers at {client.base_url}; "
                "check the address and port",
                endpoint="/server/fateflow",
            ) from None
        return GENERATION_1
