#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Run a FATE-Flow instance's supervisord and bring its programs up to date, in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_supervisor
short_description: Run an instance's supervisord, let it pick up changed programs, restart programs that stopped
description:
  - One call for what a deploy asks supervisord - is it running; if not, start it (it starts every program); if
    so, apply changed program files (what C(supervisorctl update) does) and restart the programs of I(programs)
    that are neither running nor starting (a program that gave up, FATAL, is restarted).
  - A running supervisord is asked over its XML-RPC interface on the unix socket of the instance's configuration
    (C([supervisorctl] serverurl), else C([unix_http_server] file)), so no supervisorctl process is started.
  - C(changed) says what happened - supervisord started, program groups updated, programs restarted. Callers
    restart a program for a changed configuration only when this module did not (re)start it already.
  - Check mode starts and updates nothing; it reports what C(supervisorctl reread) would apply.
version_added: "0.1.0"
author: fateops contributors
options:
  python:
    description: The instance's interpreter, with supervisor installed.
    type: path
    required: true
  config:
    description: The instance's supervisord.conf.
    type: path
    required: true
  programs:
    description: Programs that must run; each one that is neither RUNNING nor STARTING is restarted.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Run supervisord of party 9999 and keep FATE-Flow running
  fateops.federation.fate_supervisor:
    python: /data/projects/fate/party-9999/venv/bin/python
    config: /data/projects/fate/party-9999/supervisord.conf
    programs: [fateflow]
"""

RETURN = r"""
started:
  description: supervisord was not running and was started (so every program started with its current files).
  returned: always
  type: bool
updated:
  description: Program groups C(supervisorctl update) added, changed or removed (in check mode, would).
  returned: always
  type: list
  elements: str
  sample: [serving]
restarted:
  description: Programs of I(programs) restarted because they were not running.
  returned: always
  type: list
  elements: str
states:
  description: The state supervisord reports for each program of I(programs), before any restart.
  returned: when supervisord was running
  type: dict
  sample: {"fateflow": "RUNNING"}
"""

import configparser
import http.client
import os
import socket
import xmlrpc.client
from typing import Any

from ansible.module_utils.basic import AnsibleModule

RUNNING_STATES = ("RUNNING", "STARTING")
# supervisord's XML-RPC fault codes (supervisor.xmlrpc.Faults).
BAD_NAME = 10
NOT_RUNNING = 70
# Seconds one call may take: stopping a program waits up to its stopwaitsecs, starting one its startsecs.
CALL_TIMEOUT = 120


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path, self._timeout = path, timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


def socket_path(config: str) -> str:
    """The unix socket supervisorctl would talk to: [supervisorctl] serverurl, else [unix_http_server] file."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"))
    parser.read(config)
    url = parser.get("supervisorctl", "serverurl", fallback="")
    if url.startswith("unix://"):
        return url[len("unix://") :]
    return parser.get("unix_http_server", "file", fallback="")


def connect(config: str) -> Any:
    """supervisord's XML-RPC interface over the instance's unix socket (no supervisorctl process per question)."""
    return xmlrpc.client.ServerProxy(
        "http://localhost/RPC2", transport=_UnixTransport(socket_path(config), CALL_TIMEOUT)
    ).supervisor


def answers(rpc: Any) -> bool:
    try:
        rpc.getPID()
    except (OSError, xmlrpc.client.ProtocolError):
        return False
    return True


def state_of(rpc: Any, program: str) -> str | None:
    try:
        return rpc.getProcessInfo(program)["statename"]
    except xmlrpc.client.Fault as fault:
        if fault.faultCode == BAD_NAME:
            return None
        raise


def update(rpc: Any, check_mode: bool) -> list[str]:
    """What C(supervisorctl update) does (C(reread) in check mode): the groups added, changed or removed."""
    added, changed, removed = rpc.reloadConfig()[0]
    if not check_mode:
        for group in changed + removed:
            try:
                rpc.stopProcessGroup(group, True)
            except xmlrpc.client.Fault as fault:
                if fault.faultCode not in (BAD_NAME, NOT_RUNNING):
                    raise
            rpc.removeProcessGroup(group)
        for group in added + changed:
            rpc.addProcessGroup(group)
    return list(dict.fromkeys(added + changed + removed))


def restart(rpc: Any, program: str) -> None:
    try:
        rpc.stopProcess(program, True)
    except xmlrpc.client.Fault as fault:
        if fault.faultCode != NOT_RUNNING:
            raise
    rpc.startProcess(program, True)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "path", "required": True},
            "config": {"type": "path", "required": True},
            "programs": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    python, config = module.params["python"], module.params["config"]

    result = {"changed": False, "started": False, "updated": [], "restarted": []}
    if not os.path.exists(python):
        if not module.check_mode:
            module.fail_json(msg=f"{python} does not exist; link the instance's venv (fate_venv) before running it")
        # In check mode on a new instance: supervisord would be started.
        result.update(changed=True, started=True)
        module.exit_json(**result)
    rpc = connect(config)
    if not answers(rpc):
        result.update(changed=True, started=True)
        if not module.check_mode:
            argv = [python, "-m", "supervisor.supervisord", "-c", config]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                last = (err.strip() or out.strip() or f"exit status {rc}").splitlines()[-1]
                module.fail_json(msg=f"supervisord -c {config} failed: {last}", cmd=argv, rc=rc, stdout=out, stderr=err)
        module.exit_json(**result)
    programs = module.params["programs"]
    try:
        result["updated"] = update(rpc, module.check_mode)
        states = {program: state_of(rpc, program) for program in programs}
        result["states"] = {program: state for program, state in states.items() if state is not None}
        stopped = [p for p in programs if states[p] not in RUNNING_STATES and p not in result["updated"]]
        if not module.check_mode:
            for program in stopped:
                restart(rpc, program)
    except (xmlrpc.client.Fault, xmlrpc.client.ProtocolError, OSError) as exc:
        detail = exc.faultString if isinstance(exc, xmlrpc.client.Fault) else str(exc)
        module.fail_json(msg=f"supervisord of {config} refused: {detail}; see the instance's supervisord.log", **result)
    result.update(restarted=stopped, changed=bool(result["updated"] or stopped))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
