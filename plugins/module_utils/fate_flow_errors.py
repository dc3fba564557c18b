# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""What can go wrong talking to FATE-Flow: the errors every part of the client raises, and FATE's return codes.

Every FATE-Flow answer carries a ``code`` (2.x) or ``retcode`` (1.x); a non-zero one becomes a
:class:`FateFlowError` that carries FATE's code, its message and the endpoint. A FATE-Flow that cannot be reached
is a :class:`FateFlowConnectionError`, a wait that ran out of time a :class:`FateFlowTimeout`.

Standard library only: it runs inside Ansible modules on party hosts.
"""

from __future__ import annotations

from typing import Any

# FATE-Flow return codes this project reacts to (fate_flow.entity.code.ReturnCode).
CODE_SUCCESS = 0
CODE_TASK_NOT_FOUND = 2000
CODE_MODEL_NOT_FOUND = 2005
CODE_TABLE_NOT_FOUND = 7001


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
