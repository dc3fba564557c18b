# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The connection options every module that talks to FATE-Flow takes (module_utils.fate_flow_args)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  fate_flow_host:
    description: Address of the party's FATE-Flow.
    type: str
    default: 127.0.0.1
  fate_flow_port:
    description: HTTP port of the party's FATE-Flow.
    type: int
    default: 9380
  fate_flow_url:
    description: Full base URL of FATE-Flow (C(http://host:port)); overrides I(fate_flow_host) and I(fate_flow_port).
    type: str
  request_timeout:
    description: Seconds one HTTP request to FATE-Flow may take.
    type: float
    default: 30
  request_retries:
    description:
      - How many times a connection error is retried.
      - A request that changes something and may have reached FATE-Flow is never repeated.
    type: int
    default: 3
  app_id:
    description: App id for FATE-Flow's client authentication, when it is switched on.
    type: str
  app_token:
    description: App token matching I(app_id).
    type: str
  user_name:
    description: User name sent with client authentication.
    type: str
    default: ""
"""
