#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Wait until each of a party's HTTP services (the broker's management API, the serving service) answers."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_http_ready
short_description: Wait until one or more HTTP endpoints of a FATE party answer with status 200
description:
  - Asks each endpoint of I(endpoints) with a GET until it answers with status 200, all of them within one
    deadline (I(wait_timeout)), and returns how long that took.
  - Refused connections, resets, timeouts and any other status are "not yet" until the deadline; then the module
    fails naming each endpoint that did not answer and its last failure.
  - One light call (the Python standard library only) for what would otherwise be an C(ansible.builtin.uri) task
    with C(until) per service. FATE-Flow itself is waited for with M(fateops.federation.fate_flow_server).
version_added: "0.1.0"
author: fateops contributors
options:
  endpoints:
    description: The endpoints to wait for.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: What answers there, for messages (C(broker), C(serving service)).
        type: str
        required: true
      url:
        description: The C(http://) URL to GET.
        type: str
        required: true
      username:
        description: A user for HTTP basic authentication.
        type: str
      password:
        description: The user's password.
        type: str
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
  wait_timeout:
    description: Seconds until every endpoint must have answered; 0 asks each once.
    type: float
    default: 60
  poll_interval:
    description: Seconds between two rounds of asking the endpoints that have not answered yet.
    type: float
    default: 1
extends_documentation_fragment:
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: Wait until the broker and the serving service answer
  fateops.federation.fate_http_ready:
    endpoints:
      - name: broker
        url: http://127.0.0.1:15672/api/overview
        username: fate
        password: "{{ fate_rabbitmq_password }}"
      - name: serving service
        url: http://127.0.0.1:8059/health
    wait_timeout: 120
"""

RETURN = r"""
elapsed:
  description: Seconds until the last endpoint answered.
  returned: always
  type: float
  sample: 0.4
"""

import base64
import time
import urllib.error
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule


def ask(endpoint: dict[str, Any], timeout: float) -> str | None:
    """None when the endpoint answered 200, else what went wrong."""
    request = urllib.request.Request(endpoint["url"], method="GET")
    if endpoint.get("username") is not None:
        pair = f"{endpoint['username']}:{endpoint.get('password') or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
    # No proxy from the environment: these are the party's own services.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            return None if answer.status == 200 else f"status {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"status {exc.code}"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", None) or exc)


def wait(endpoints: list[dict[str, Any]], request_timeout: float, wait_timeout: float, poll_interval: float) -> dict:
    started = time.monotonic()
    deadline = started + wait_timeout
    waiting = {endpoint["name"]: endpoint for endpoint in endpoints}
    last: dict[str, str] = {}
    while True:
        for name, endpoint in list(waiting.items()):
            problem = ask(endpoint, request_timeout)
            if problem is None:
                del waiting[name]
            else:
                last[name] = problem
        if not waiting:
            return {"elapsed": round(time.monotonic() - started, 1)}
        if time.monotonic() >= deadline:
            silent = "; ".join(f"{name} ({waiting[name]['url']}): {last[name]}" for name in waiting)
            raise TimeoutError(f"no answer within {wait_timeout:g} s from {silent}")
        time.sleep(poll_interval)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "endpoints": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "url": {"type": "str", "required": True},
                    "username": {"type": "str"},
                    "password": {"type": "str", "no_log": True},
                },
            },
            "request_timeout": {"type": "float", "default": 5},
            "wait_timeout": {"type": "float", "default": 60},
            "poll_interval": {"type": "float", "default": 1},
        },
        supports_check_mode=True,
    )
    params = module.params
    for endpoint in params["endpoints"]:
        if not endpoint["url"].startswith(("http://", "https://")):
            module.fail_json(
                msg=f"the {endpoint['name']} URL {endpoint['url']!r} is not http(s); give http://host:port/path"
            )
    try:
        result = wait(params["endpoints"], params["request_timeout"], params["wait_timeout"], params["poll_interval"])
    except TimeoutError as exc:
        module.fail_json(msg=f"{exc}; check that service's log, or raise the wait timeout if it is only slow to start")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
