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
  - One call for what a deploy asks supervisord - is it running (C(supervisorctl pid)); if not, start it (it
    starts every program); if so, apply changed program files (C(supervisorctl update)) and restart the programs of
    I(programs) that are neither running nor starting (a program that gave up, FATAL, is restarted).
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

import os
import re

from ansible.module_utils.basic import AnsibleModule

RUNNING_STATES = ("RUNNING", "STARTING")


def parse_pid(stdout: str) -> int | None:
    """supervisord's pid from C(supervisorctl pid), None when it does not answer."""
    text = stdout.strip()
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def parse_groups(stdout: str) -> list[str]:
    """Program groups named by C(supervisorctl update) or C(reread): C(name: updated process group) and the like."""
    groups: list[str] = []
    for line in stdout.splitlines():
        name, sep, _ = line.partition(":")
        if sep and name.strip() and " " not in name.strip() and name.strip() not in groups:
            groups.append(name.strip())
    return groups


def parse_states(stdout: str) -> dict[str, str]:
    """Program states from C(supervisorctl status NAME ...): C(fateflow   RUNNING   pid 42, uptime 0:01:02)."""
    states: dict[str, str] = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            states[fields[0]] = fields[1]
    return states


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
    ctl = [python, "-m", "supervisor.supervisorctl", "-c", config]

    def run(*args: str, check: bool = True) -> str:
        rc, out, err = module.run_command(list(args))
        if check and rc != 0:
            last = (err.strip() or out.strip() or f"exit status {rc}").splitlines()[-1]
            module.fail_json(msg=f"{' '.join(args[2:6])} failed: {last}", cmd=list(args), rc=rc, stdout=out, stderr=err)
        return out

    result = {"changed": False, "started": False, "updated": [], "restarted": []}
    if not os.path.exists(python):
        if not module.check_mode:
            module.fail_json(msg=f"{python} does not exist; link the instance's venv (fate_venv) before running it")
        # In check mode on a new instance: supervisord would be started.
        result.update(changed=True, started=True)
        module.exit_json(**result)
    if parse_pid(run(*ctl, "pid", check=False)) is None:
        result.update(changed=True, started=True)
        if not module.check_mode:
            run(python, "-m", "supervisor.supervisord", "-c", config)
        module.exit_json(**result)
    result["updated"] = parse_groups(run(*ctl, "reread" if module.check_mode else "update"))
    programs = module.params["programs"]
    # status exits non-zero when a program is not running: its output still says which.
    states = parse_states(run(*ctl, "status", *programs, check=False)) if programs else {}
    result["states"] = states
    stopped = [p for p in programs if states.get(p) not in RUNNING_STATES and p not in result["updated"]]
    if stopped and not module.check_mode:
        run(*ctl, "restart", *stopped)
    result.update(restarted=stopped, changed=bool(result["updated"] or stopped))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
