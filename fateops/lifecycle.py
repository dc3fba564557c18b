"""deploy and delete: the parties' life on their hosts.

Both compute the target deployment (deploy: what is recorded plus the given parties; delete: what is recorded minus
them), and converge every touched host to it in one run of playbooks/deploy.yml: instances that go away are
removed first, the others are (re)configured in place, route tables included.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fateops import credentials
from fateops.contracts import DeploymentRecord, HostRecord, State
from fateops.deployment import (
    DEFAULT_BASE_DIR,
    DEFAULT_USER,
    ExchangeHost,
    Flow,
    Host,
    Party,
    build_inventory,
    check_reachable,
    group_hosts,
    is_local_address,
    parse_parties,
    plan_exchange,
    plan_flows,
)
from fateops.errors import FateopsError, UsageError
from fateops.runner import RunResult, run_playbook
from fateops.workspace import Workspace, deployment_id


def effective_settings(workspace: Workspace) -> dict[str, Any]:
    """settings.yml with what every playbook relies on filled in: the plan, not each playbook, holds the default."""
    settings = workspace.settings()
    base_dir = os.environ.get("FATEOPS_BASE_DIR")
    if base_dir:
        settings["fate_base_dir"] = os.path.abspath(base_dir)
    settings.setdefault("fate_base_dir", DEFAULT_BASE_DIR)
    return settings


def _recorded_parties(state: State) -> dict[int, str]:
    return {p.party_id: p.ip for p in state.deployment.parties}


def _recorded_users(state: State) -> dict[str, str]:
    return {ip: host.user for ip, host in state.deployment.hosts.items()}


def _recorded_flows(state: State) -> dict[str, list[Flow]]:
    # Copies: planning works on these (and extends them with instances to remove); the record changes only when a
    # deploy succeeded.
    return {ip: copy.deepcopy(host.flows) for ip, host in state.deployment.hosts.items()}


def _deployment_record(
    deployment_id: str, hosts: dict[str, Host], flows: dict[str, list[Flow]], exchange: ExchangeHost | None
) -> DeploymentRecord:
    return DeploymentRecord(
        deployment_id,
        [Party(party_id, ip) for ip, host in sorted(hosts.items()) for party_id in host.party_ids],
        {ip: HostRecord(host.user, host.local, flows.get(ip, [])) for ip, host in sorted(hosts.items())},
        exchange,
    )


def _connect(
    workspace: Workspace, logins: dict[str, tuple[str, bool]], passwords: dict[str, str], label: str
) -> dict[str, dict[str, Any]]:
    """Make the workspace key work on every remote host (the password is used once, where the key is not
    accepted yet) and return the connection variables Ansible then uses: ip -> variables."""
    from fateops.bootstrap import SshLogin, bootstrap_hosts, connection_vars

    remote = {ip: user for ip, (user, local) in logins.items() if not local}
    for ip in remote:
        check_reachable(ip)
    if not remote:
        return {}
    results = bootstrap_hosts(
        workspace, [SshLogin(ip, user=user, password=passwords.get(ip)) for ip, user in sorted(remote.items())]
    )
    installed = [r.host for r in results if r.key_installed]
    if installed:
        sys.stderr.write(f"fateops {label}: installed the workspace ssh key on {', '.join(installed)}\n")
    return {ip: connection_vars(workspace, ip, user=user) for ip, user in remote.items()}


def _summary(label: str, changed: int, hosts: int, elapsed: float) -> None:
    what = "no change" if changed == 0 else f"{changed} change(s)"
    sys.stderr.write(f"fateops {label}: {what} on {hosts} host(s) in {elapsed:.1f}s\n")


def _passwords_by_ip(parties: list[Party], passwords: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for party, password in zip(parties, passwords or [], strict=False):
        found.setdefault(party.ip, password)
    return found


def _run_deploy(workspace: Workspace, state: State, inventory: dict[str, Any], label: str, new_id: bool) -> RunResult:
    """Run deploy.yml. A deployment id used for the first time is saved even when the run fails, once it may have
    marked instances (something changed, or the run was stopped): the next try must still own them."""
    try:
        result = run_playbook(workspace, "deploy.yml", inventory, label)
    except BaseException:
        if new_id:
            workspace.save_state(state)
        raise
    if new_id and not result.ok and result.changed:
        workspace.save_state(state)
    return result


def _converge(
    workspace: Workspace,
    state: State,
    target: list[Party],
    users_by_ip: dict[str, str],
    settings: dict[str, Any],
    passwords: dict[str, str],
    label: str,
    extra_absent: dict[str, list[Flow]] | None = None,
) -> None:
    """Bring every touched host to the target deployment, then record it."""
    hosts = group_hosts(sorted(target, key=lambda p: p.party_id), users_by_ip)
    flows = plan_flows(hosts, settings, _recorded_flows(state)) if hosts else {}
    recorded_exchange = state.deployment.exchange
    exchange = plan_exchange(hosts, settings, recorded_exchange)

    # Instances that exist now (recorded, or what a deploy would have made) and are not in the target.
    old_flows = _recorded_flows(state)
    for ip, extra in (extra_absent or {}).items():
        names = {f.name for f in old_flows.get(ip, [])}
        old_flows.setdefault(ip, []).extend(f for f in extra if f.name not in names)
    absent: dict[str, list[Flow]] = {}
    for ip, old in old_flows.items():
        kept = {f.name for f in flows.get(ip, [])}
        gone = [f for f in old if f.name not in kept]
        if gone:
            absent[ip] = gone
    exchange_absent = None
    if recorded_exchange is not None and (exchange is None or exchange.ip != recorded_exchange.ip):
        exchange_absent = recorded_exchange
    if not flows and not absent and exchange_absent is None:
        sys.stderr.write(f"fateops {label}: nothing deployed for these parties; no change\n")
        return

    run_hosts = dict(hosts)
    recorded_hosts = state.deployment.hosts
    for ip in absent:
        if ip not in run_hosts:
            local = recorded_hosts[ip].local if ip in recorded_hosts else None
            local = is_local_address(ip) if local is None else local
            run_hosts[ip] = Host(ip, users_by_ip.get(ip, DEFAULT_USER), local)
    logins = {ip: (host.user, host.local) for ip, host in run_hosts.items()}
    for hub in (exchange, exchange_absent):
        if hub is not None:
            logins.setdefault(hub.ip, (hub.user, hub.local))
    # Read once at start and removed from the environment (fateops/credentials.py); never passed on.
    exchange_password = credentials.exchange_password()
    if exchange is not None and exchange_password and exchange.ip not in passwords:
        passwords = {**passwords, exchange.ip: exchange_password}
    connection = _connect(workspace, logins, passwords, label)
    new_id = not state.deployment.id
    owner = deployment_id(state)
    staying = {pid for host in hosts.values() for pid in host.party_ids}
    removed = sorted({pid for gone in absent.values() for flow in gone for pid in flow.party_ids} - staying)
    inventory = build_inventory(
        run_hosts,
        flows,
        settings,
        absent,
        exchange,
        exchange_absent,
        connection,
        removed,
        owner,
        str(workspace.settings_path),
    )
    result = _run_deploy(workspace, state, inventory, label, new_id)
    if not result.ok:
        raise FateopsError(result.error)
    state.deployment = _deployment_record(owner, hosts, flows, exchange)
    workspace.save_state(state)
    workspace.write_inventory(
        build_inventory(
            hosts,
            flows,
            settings,
            exchange=exchange,
            connection=connection,
            deployment_id=owner,
            settings_file=str(workspace.settings_path),
        )
    )
    _summary(label, result.changed, len(logins), result.elapsed)


# The facade's -id, -ip, -pw and -u lists, as parsed (None when not given).
Given = list[str] | None


@dataclass
class _Change:
    """A deploy or delete under the workspace lock: the given parties and what the workspace records."""

    parties: list[Party]
    state: State
    recorded: dict[int, str]
    users_by_ip: dict[str, str]
    settings: dict[str, Any]
    passwords_by_ip: dict[str, str]


@contextlib.contextmanager
def _change(workspace: Workspace, ids: Given, ips: Given, passwords: Given, users: Given) -> Iterator[_Change]:
    """Checks the lists and settings.yml before taking the lock, then holds it while the change runs."""
    parties, user_of = parse_parties(ids, ips, passwords, users)
    settings = effective_settings(workspace)
    with workspace.locked():
        state = workspace.load_state()
        users_by_ip = {**_recorded_users(state), **user_of}
        yield _Change(
            parties, state, _recorded_parties(state), users_by_ip, settings, _passwords_by_ip(parties, passwords)
        )


def deploy(workspace: Workspace, ids: Given, ips: Given, passwords: Given, users: Given) -> None:
    with _change(workspace, ids, ips, passwords, users) as change:
        recorded = change.recorded
        for party in change.parties:
            if party.party_id in recorded and recorded[party.party_id] != party.ip:
                raise UsageError(
                    f"party {party.party_id} is deployed on {recorded[party.party_id]}, not {party.ip}; "
                    "delete it first to move it"
                )
        # Deploy adds to what is deployed: the target is every recorded party plus the given ones.
        target = {pid: Party(pid, ip) for pid, ip in recorded.items()}
        target.update({p.party_id: p for p in change.parties})
        _converge(
            workspace,
            change.state,
            list(target.values()),
            change.users_by_ip,
            change.settings,
            change.passwords_by_ip,
            "deploy",
        )


def delete(workspace: Workspace, ids: Given, ips: Given, passwords: Given, users: Given) -> None:
    with _change(workspace, ids, ips, passwords, users) as change:
        gone = {p.party_id for p in change.parties}
        remaining = [Party(pid, ip) for pid, ip in sorted(change.recorded.items()) if pid not in gone]
        # Parties never recorded here (a lost workspace): remove what a deploy of them alone would have made.
        unrecorded = [p for p in change.parties if p.party_id not in change.recorded]
        extra = plan_flows(group_hosts(unrecorded, change.users_by_ip), change.settings) if unrecorded else {}
        _converge(
            workspace,
            change.state,
            remaining,
            change.users_by_ip,
            change.settings,
            change.passwords_by_ip,
            "delete",
            extra,
        )


def recorded_inventory(workspace: Workspace, state: State) -> dict[str, Any]:
    """The inventory of what is deployed now, for playbooks that work on deployed parties."""
    parties = [Party(pid, ip) for pid, ip in _recorded_parties(state).items()]
    if not parties:
        raise UsageError("nothing is deployed in this workspace; run -f deploy first")
    hosts = group_hosts(parties, _recorded_users(state))
    exchange = state.deployment.exchange
    connection = _recorded_connection(workspace, hosts, exchange)
    return build_inventory(
        hosts,
        _recorded_flows(state),
        effective_settings(workspace),
        exchange=exchange,
        connection=connection,
        deployment_id=state.deployment.id,
        settings_file=str(workspace.settings_path),
    )


def _recorded_connection(
    workspace: Workspace, hosts: dict[str, Host], exchange: ExchangeHost | None
) -> dict[str, dict[str, Any]]:
    from fateops.bootstrap import connection_vars

    connection = {ip: connection_vars(workspace, ip, user=host.user) for ip, host in hosts.items() if not host.local}
    if exchange is not None and not exchange.local:
        connection[exchange.ip] = connection_vars(workspace, exchange.ip, user=exchange.user)
    return connection
