# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The FATE-Flow connection options every fateops module takes, and the client built from them.

The options are documented once, in the ``fateops.federation.fate_flow`` doc fragment; a module adds
:func:`client_argument_spec` to its own argument spec and calls :func:`client_from_params`.

Standard library only: it runs inside Ansible modules on party hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_transport import (
    DEFAULT_PORT,
    ClientAuth,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient


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


def client_from_params(params: Mapping[str, Any], *, dest_party_id: str | None = None) -> FateFlowClient:
    """Build the client from module parameters made with :func:`client_argument_spec`; ``dest_party_id``: see
    ``fate_flow_transport.FateFlowTransport``."""
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
        dest_party_id=dest_party_id,
    )
