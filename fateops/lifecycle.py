"""deploy and delete: the parties' life on their hosts."""

from __future__ import annotations

import os
import sys
from typing import Any

from fateops.deployment import (
    Flow,
    Host,
    Party,
    build_inventory,
    check_reachable,
    group_hosts,
    parse_parties,
    plan_flows,
)
from fateops.errors import FateopsError, UsageError
from fateops.runner import run_playbook
from fateops.workspace import Workspace


def effective_settings(workspace: Workspace) -> dict[str, Any]:
    settings = workspace.settings()
    base_dir = os.environ.get("FATEOPS_BASE_DIR")
    if base_dir:
        settings["fate_base_dir"] = os.path.abspath(base_dir)
    return settings


def _recorded_parties(state: dict[str, Any]) -> dict[int, str]:
    return {int(p["party_id"]): p["ip"] for p in state["deployment"]["parties"]}


def _recorded_users(state: dict[str, Any]) -> dict[str, str]:
    return {ip: host["user"] for ip, host in state["deployment"]["hosts"].items()}


def _recorded_flows(state: dict[str, Any]) -> dict[str, list[Flow]]:
    return {ip: [Flow.from_dict(f) for f in host.get("flows", [])] for ip, host in state["deployment"]["hosts"].items()}


def _deployment_record(hosts: dict[str, Host], flows: dict[str, list[Flow]]) -> dict[str, Any]:
    return {
        "parties": [
            {"party_id": party_id, "ip": ip} for ip, host in sorted(hosts.items()) for party_id in host.party_ids
        ],
        "hosts": {
            ip: {"user": host.user, "local": host.local, "flows": [f.as_dict() for f in flows.get(ip, [])]}
            for ip, host in sorted(hosts.items())
        },
    }


def _check_hosts(hosts: dict[str, Host]) -> None:
    for host in hosts.values():
        if not host.local:
            check_reachable(host.ip)


def _summary(label: str, changed: int, hosts: int, elapsed: float) -> None:
    what = "no change" if changed == 0 else f"{changed} change(s)"
    sys.stderr.write(f"fateops {label}: {what} on {hosts} host(s) in {elapsed:.1f}s\n")


def deploy(
    workspace: Workspace,
    ids: list[str] | None,
    ips: list[str] | None,
    passwords: list[str] | None,
    users: list[str] | None,
) -> None:
    parties, user_of = parse_parties(ids, ips, passwords, users)
    settings = effective_settings(workspace)
    with workspace.locked():
        state = workspace.load_state()
        recorded = _recorded_parties(state)
        for party in parties:
            if party.party_id in recorded and recorded[party.party_id] != party.ip:
                raise UsageError(
                    f"party {party.party_id} is deployed on {recorded[party.party_id]}, not {party.ip}; "
                    "delete it first to move it"
                )
        # Deploy adds to what is deployed: the target is every recorded party plus the given ones.
        target = {pid: Party(pid, ip) for pid, ip in recorded.items()}
        target.update({p.party_id: p for p in parties})
        users_by_ip = {**_recorded_users(state), **user_of}
        hosts = group_hosts(sorted(target.values(), key=lambda p: p.party_id), users_by_ip)
        _check_hosts(hosts)
        flows = plan_flows(hosts, settings, _recorded_flows(state))
        inventory = build_inventory(hosts, flows, settings)
        result = run_playbook(workspace, "deploy.yml", inventory, "deploy")
        if not result.ok:
            raise FateopsError(result.error)
        state["deployment"] = _deployment_record(hosts, flows)
        workspace.save_state(state)
        workspace.write_inventory(inventory)
    _summary("deploy", result.changed, len(hosts), result.elapsed)


def delete(
    workspace: Workspace,
    ids: list[str] | None,
    ips: list[str] | None,
    passwords: list[str] | None,
    users: list[str] | None,
) -> None:
    parties, user_of = parse_parties(ids, ips, passwords, users)
    settings = effective_settings(workspace)
    with workspace.locked():
        state = workspace.load_state()
        recorded = _recorded_parties(state)
        users_by_ip = {**_recorded_users(state), **user_of}
        gone = {p.party_id for p in parties}
        remaining = [Party(pid, ip) for pid, ip in sorted(recorded.items()) if pid not in gone]
        remaining_hosts = group_hosts(remaining, users_by_ip)
        remaining_flows = plan_flows(remaining_hosts, settings, _recorded_flows(state)) if remaining_hosts else {}

        # What exists now: the recorded flows, or (never recorded) what a deploy of these parties would make.
        old_flows = _recorded_flows(state)
        unrecorded = [p for p in parties if p.party_id not in recorded]
        if unrecorded:
            for ip, flows in plan_flows(group_hosts(unrecorded, users_by_ip), settings).items():
                names = {f.name for f in old_flows.get(ip, [])}
                old_flows.setdefault(ip, []).extend(f for f in flows if f.name not in names)
        absent = {
            ip: [f for f in flows if f.name not in {k.name for k in remaining_flows.get(ip, [])}]
            for ip, flows in old_flows.items()
        }
        absent = {ip: flows for ip, flows in absent.items() if flows}
        touched = group_hosts([Party(pid, ip) for pid, ip in recorded.items()] + parties, users_by_ip)
        hosts = {ip: remaining_hosts.get(ip, Host(ip, touched[ip].user, touched[ip].local)) for ip in touched}
        hosts = {ip: host for ip, host in hosts.items() if ip in absent or ip in remaining_flows}
        if not hosts:
            sys.stderr.write("fateops delete: nothing deployed for these parties; no change\n")
            return
        _check_hosts(hosts)
        inventory = build_inventory(hosts, remaining_flows, settings, absent)
        result = run_playbook(workspace, "delete.yml", inventory, "delete")
        if not result.ok:
            raise FateopsError(result.error)
        state["deployment"] = _deployment_record(remaining_hosts, remaining_flows)
        workspace.save_state(state)
        workspace.write_inventory(build_inventory(remaining_hosts, remaining_flows, settings))
    _summary("delete", result.changed, len(hosts), result.elapsed)


def recorded_inventory(workspace: Workspace, state: dict[str, Any]) -> dict[str, Any]:
    """The inventory of what is deployed now, for playbooks that work on deployed parties."""
    parties = [Party(pid, ip) for pid, ip in _recorded_parties(state).items()]
    if not parties:
        raise UsageError("nothing is deployed in this workspace; run -f deploy first")
    hosts = group_hosts(parties, _recorded_users(state))
    return build_inventory(hosts, _recorded_flows(state), effective_settings(workspace))
