"""From the facade's -id/-ip/-pw/-u lists to a deployment plan and the Ansible inventory that carries it out.

Pure planning: nothing here touches a host. Parties on the same address share a host. When every party is on
one host, one standalone FATE-Flow plays every party id (FATE's own standalone mode). With the compose runtime
(`fate_runtime: compose` in settings.yml) every party is its own docker compose project, `confs-<party_id>`, and
parties that share a Docker host get their published ports offset by `fate_compose_port_step` (100).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

from fateops.errors import FateopsError, UsageError

DEFAULT_USER = "root"
STANDALONE_FLOW = "standalone"
DEFAULT_HTTP_PORT = 9380
DEFAULT_GRPC_PORT = 9360
DEFAULT_SERVING_PORT = 8059
SSH_PORT = 22
COMPOSE_RUNTIME = "compose"
DEFAULT_COMPOSE_PORT_STEP = 100
# Published ports of a compose project beyond FATE-Flow's and serving's: Flow field -> (setting, FATE's default).
COMPOSE_EXTRA_PORTS = {
    "proxy_port": ("fate_proxy_port", 9370),
    "board_port": ("fate_board_port", 8080),
    "serving_exchange_port": ("fate_compose_serving_exchange_port", 8869),
}


@dataclass(frozen=True)
class Party:
    party_id: int
    ip: str


@dataclass
class Host:
    ip: str
    user: str
    local: bool
    party_ids: list[int] = field(default_factory=list)


@dataclass
class Flow:
    """One FATE-Flow instance on a host and the party ids it plays."""

    name: str
    party_ids: list[int]
    http_port: int
    grpc_port: int
    serving_port: int = DEFAULT_SERVING_PORT
    # A compose project's other published ports (proxy_port, board_port, serving_exchange_port); none natively.
    extra_ports: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "party_ids": list(self.party_ids),
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "serving_port": self.serving_port,
            **self.extra_ports,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flow:
        return cls(
            data["name"],
            [int(p) for p in data["party_ids"]],
            int(data["http_port"]),
            int(data["grpc_port"]),
            int(data.get("serving_port", DEFAULT_SERVING_PORT)),
            {key: int(data[key]) for key in COMPOSE_EXTRA_PORTS if key in data},
        )

    def ports(self) -> dict[str, int]:
        return {
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "serving_port": self.serving_port,
            **self.extra_ports,
        }


def parse_party_id(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"party id {text!r} is not an integer; FATE party ids are positive integers") from None
    if value <= 0:
        raise UsageError(f"party id {value} must be a positive integer")
    return value


def parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address; give each host as an IPv4 or IPv6 address") from None


def parse_parties(
    ids: list[str] | None,
    ips: list[str] | None,
    passwords: list[str] | None = None,
    users: list[str] | None = None,
) -> tuple[list[Party], dict[str, str]]:
    """Validate the facade's lists; returns the parties and the ssh user of each address."""
    if not ids:
        raise UsageError("no party id given; pass -id ID [ID ...]")
    if not ips:
        raise UsageError("no host address given; pass -ip IP [IP ...], one per -id")
    if len(ids) != len(ips):
        raise UsageError(f"-id has {len(ids)} values but -ip has {len(ips)}; give one -ip per -id")
    if passwords is not None and len(passwords) != len(ids):
        raise UsageError(f"-pw has {len(passwords)} values but -id has {len(ids)}; give one -pw per -id")
    if users is not None and len(users) not in (1, len(ids)):
        raise UsageError(f"-u has {len(users)} values; give one user for all hosts or one per -id")

    parties: list[Party] = []
    seen: dict[int, str] = {}
    user_of: dict[str, str] = {}
    for index, (raw_id, raw_ip) in enumerate(zip(ids, ips, strict=True)):
        party_id, ip = parse_party_id(raw_id), parse_ip(raw_ip)
        if party_id in seen:
            if seen[party_id] == ip:
                raise UsageError(f"party id {party_id} is listed twice; list each party once")
            raise UsageError(
                f"party id {party_id} is given for two hosts ({seen[party_id]} and {ip}); a party lives on one host"
            )
        seen[party_id] = ip
        user = (users[index] if len(users) > 1 else users[0]) if users else DEFAULT_USER
        if user_of.setdefault(ip, user) != user:
            raise UsageError(f"host {ip} is given two ssh users ({user_of[ip]} and {user}); use one user per host")
        parties.append(Party(party_id, ip))
    return parties, user_of


def is_local_address(ip: str) -> bool:
    """True when ip belongs to this machine: it can be bound to."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ip, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def check_reachable(ip: str, port: int = SSH_PORT, timeout: float = 5.0) -> None:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise FateopsError(
            f"host {ip} is unreachable: ssh port {port} did not answer ({reason}); check the address and that sshd runs"
        ) from None


def group_hosts(parties: list[Party], user_of: dict[str, str]) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    for party in parties:
        host = hosts.get(party.ip)
        if host is None:
            host = hosts[party.ip] = Host(party.ip, user_of.get(party.ip, DEFAULT_USER), is_local_address(party.ip))
        host.party_ids.append(party.party_id)
    return hosts


def compose_project(party_id: int) -> str:
    """A party's compose project name, KubeFATE's directory name for it."""
    return f"confs-{party_id}"


def _compose_base_ports(settings: dict[str, Any]) -> dict[str, int]:
    ports = {
        "http_port": int(settings.get("fate_flow_http_port", DEFAULT_HTTP_PORT)),
        "grpc_port": int(settings.get("fate_flow_grpc_port", DEFAULT_GRPC_PORT)),
        "serving_port": int(settings.get("fate_serving_port", DEFAULT_SERVING_PORT)),
    }
    ports.update({key: int(settings.get(name, default)) for key, (name, default) in COMPOSE_EXTRA_PORTS.items()})
    return ports


def plan_compose_flows(
    hosts: dict[str, Host], settings: dict[str, Any], previous: dict[str, list[Flow]] | None = None
) -> dict[str, list[Flow]]:
    """One compose project per party. The k-th project on a Docker host publishes every port at base + k*step;
    a party keeps the slot it was deployed with, so adding a party never moves the others."""
    step = int(settings.get("fate_compose_port_step", DEFAULT_COMPOSE_PORT_STEP))
    base = _compose_base_ports(settings)
    plans: dict[str, list[Flow]] = {}
    for ip, host in hosts.items():
        kept = {f.party_ids[0]: f for f in (previous or {}).get(ip, []) if f.name == compose_project(f.party_ids[0])}
        used_slots = {
            (f.http_port - base["http_port"]) // step for f in kept.values() if f.party_ids[0] in host.party_ids
        }
        flows: list[Flow] = []
        for party_id in sorted(host.party_ids):
            if party_id in kept:
                flows.append(kept[party_id])
                continue
            slot = next(k for k in range(len(host.party_ids) + len(used_slots) + 1) if k not in used_slots)
            used_slots.add(slot)
            ports = {key: value + slot * step for key, value in base.items()}
            extra = {key: ports[key] for key in COMPOSE_EXTRA_PORTS}
            flows.append(
                Flow(
                    compose_project(party_id),
                    [party_id],
                    ports["http_port"],
                    ports["grpc_port"],
                    ports["serving_port"],
                    extra,
                )
            )
        seen: dict[int, str] = {}
        for flow in flows:
            for key, port in flow.ports().items():
                if port in seen or not 0 < port < 65536:
                    raise FateopsError(
                        f"host {ip}: {flow.name} {key} {port} is not a free port of the plan (also {seen.get(port)}); "
                        "set fate_compose_port_step or the base ports in settings.yml so that they do not overlap"
                    )
                seen[port] = f"{flow.name} {key}"
        plans[ip] = flows
    return plans


def plan_flows(
    hosts: dict[str, Host], settings: dict[str, Any], previous: dict[str, list[Flow]] | None = None
) -> dict[str, list[Flow]]:
    """The FATE-Flow instances of every host (compose runtime: the compose project of every party)."""
    if settings.get("fate_runtime") == COMPOSE_RUNTIME:
        return plan_compose_flows(hosts, settings, previous)
    http_port = int(settings.get("fate_flow_http_port", DEFAULT_HTTP_PORT))
    grpc_port = int(settings.get("fate_flow_grpc_port", DEFAULT_GRPC_PORT))
    serving_port = int(settings.get("fate_serving_port", DEFAULT_SERVING_PORT))
    if len(hosts) > 1:
        raise FateopsError(
            "parties on several hosts need one FATE-Flow per party federated over RabbitMQ, which this "
            "release does not deploy yet; put every party on one host"
        )
    return {
        ip: [Flow(STANDALONE_FLOW, sorted(host.party_ids), http_port, grpc_port, serving_port)]
        for ip, host in hosts.items()
    }


def host_vars(host: Host) -> dict[str, Any]:
    if host.local:
        # The playbook's own interpreter: no ssh, no discovery of whatever python3 the PATH offers.
        return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    return {"ansible_host": host.ip, "ansible_user": host.user, "ansible_connection": "ssh"}


def build_inventory(
    hosts: dict[str, Host],
    flows: dict[str, list[Flow]],
    settings: dict[str, Any],
    absent: dict[str, list[Flow]] | None = None,
) -> dict[str, Any]:
    inventory_hosts: dict[str, Any] = {}
    # Every party's serving address, for a guest's calls to its hosts.
    peers = {
        str(party_id): f"{ip}:{flow.serving_port}"
        for ip, host_flows in flows.items()
        for flow in host_flows
        for party_id in flow.party_ids
    }
    for ip in sorted(set(hosts) | set(absent or {})):
        host = hosts[ip]
        entry = host_vars(host)
        entry["fate_party_ids"] = sorted(host.party_ids)
        entry["fate_flows"] = [flow.as_dict() for flow in flows.get(ip, [])]
        if absent and ip in absent:
            entry["fate_flows_absent"] = [flow.as_dict() for flow in absent[ip]]
        inventory_hosts[ip] = entry
    return {
        "all": {
            "vars": {**settings, "fate_serving_peers": peers},
            "children": {"fate_parties": {"hosts": inventory_hosts}},
        }
    }


@dataclass(frozen=True)
class PartyFlow:
    """Where a deployed party's FATE-Flow is."""

    party_id: int
    ip: str
    flow_name: str
    http_port: int
    serving_port: int = DEFAULT_SERVING_PORT


def party_flows(state: dict[str, Any]) -> dict[int, PartyFlow]:
    """party id -> the FATE-Flow that plays it, from the recorded deployment."""
    found: dict[int, PartyFlow] = {}
    for ip, host in state["deployment"]["hosts"].items():
        for flow in host.get("flows", []):
            for party_id in flow["party_ids"]:
                found[int(party_id)] = PartyFlow(
                    int(party_id),
                    ip,
                    flow["name"],
                    int(flow["http_port"]),
                    int(flow.get("serving_port", DEFAULT_SERVING_PORT)),
                )
    return found


def deployed_flow(state: dict[str, Any], party_id: int) -> PartyFlow:
    flows = party_flows(state)
    if party_id not in flows:
        deployed = ", ".join(str(p) for p in sorted(flows)) or "none"
        raise UsageError(f"party {party_id} is not deployed (deployed: {deployed}); deploy it first with -f deploy")
    return flows[party_id]
