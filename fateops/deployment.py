"""From the facade's -id/-ip/-pw/-u lists to a deployment plan and the Ansible inventory that carries it out.

Pure planning: nothing here touches a host. Parties on the same address share a host. When every party is on
one host, one standalone FATE-Flow plays every party id (FATE's own standalone mode).
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from fateops.errors import FateopsError, UsageError
from fateops.validation import SECRET_SETTINGS, check_user, parse_ip, parse_party_id, settings_problem

if TYPE_CHECKING:
    # The recorded state's records read this module's Flow and ExchangeHost; only the type is needed here.
    from fateops.contracts import State

DEFAULT_USER = "root"
# Where parties live on their hosts, KubeFATE's and AnsibleFATE's place (settings: fate_base_dir).
DEFAULT_BASE_DIR = "/data/projects/fate"
STANDALONE_FLOW = "standalone"
DEFAULT_HTTP_PORT = 9380
DEFAULT_GRPC_PORT = 9360
DEFAULT_SERVING_PORT = 8059
DEFAULT_NGINX_PORT = 9300
DEFAULT_RABBITMQ_PORT = 5672
DEFAULT_RABBITMQ_MANAGEMENT_PORT = 15672
DEFAULT_RABBITMQ_DIST_PORT = 25672
# Several parties on one host (multi-host mode): the n-th party's ports are the defaults plus n times this.
DEFAULT_PORT_STEP = 10
DEFAULT_EXCHANGE_RABBITMQ_BASE = 35672
FEDERATED_FLOW = "rabbitmq"
# The interpreter Ansible's modules run with on a party host reached over ssh (settings: fate_host_python).
DEFAULT_HOST_PYTHON = "/usr/bin/python3"
TOPOLOGIES = ("mesh", "star")
SSH_PORT = 22
COMPOSE_RUNTIME = "compose"
DEFAULT_COMPOSE_PORT_STEP = 100
# The images a compose project runs (settings: fate_compose_image_set): fateops, built here (FATE-Flow, RabbitMQ,
# nginx, serving: the native runtime's federation), or KubeFATE's federatedai/* set (OSX or rollsite, MySQL, ...).
FATEOPS_IMAGE_SET = "fateops"
KUBEFATE_IMAGE_SET = "kubefate"
COMPOSE_IMAGE_SETS = (FATEOPS_IMAGE_SET, KUBEFATE_IMAGE_SET)
# Published ports of a compose project beyond FATE-Flow's and serving's: Flow field -> (setting, FATE's default).
COMPOSE_EXTRA_PORTS = {
    "proxy_port": ("fate_proxy_port", 9370),
    "board_port": ("fate_board_port", 8080),
    "serving_exchange_port": ("fate_compose_serving_exchange_port", 8869),
}
NATIVE_RUNTIME = "native"
RUNTIMES = (NATIVE_RUNTIME, COMPOSE_RUNTIME)
# Every port setting the plan reads, with FATE's default: the one table of them (fateops/validation.py checks
# settings.yml against it and names the default in its fix).
PORT_SETTINGS: dict[str, int] = {
    "fate_flow_http_port": DEFAULT_HTTP_PORT,
    "fate_flow_grpc_port": DEFAULT_GRPC_PORT,
    "fate_serving_port": DEFAULT_SERVING_PORT,
    "fate_nginx_http_port": DEFAULT_NGINX_PORT,
    "fate_rabbitmq_port": DEFAULT_RABBITMQ_PORT,
    "fate_rabbitmq_management_port": DEFAULT_RABBITMQ_MANAGEMENT_PORT,
    "fate_rabbitmq_dist_port": DEFAULT_RABBITMQ_DIST_PORT,
    "fate_exchange_nginx_http_port": DEFAULT_NGINX_PORT,
    "fate_exchange_serving_port": DEFAULT_SERVING_PORT,
    "fate_exchange_rabbitmq_port_base": DEFAULT_EXCHANGE_RABBITMQ_BASE,
    **dict(COMPOSE_EXTRA_PORTS.values()),
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
    """One FATE-Flow instance on a host and the party ids it plays.

    federation "standalone": one FATE-Flow plays every party id of a single-host deployment. federation "rabbitmq":
    one FATE-Flow per party, with the party's own RabbitMQ broker and nginx (the *_port fields below).
    """

    name: str
    party_ids: list[int]
    http_port: int
    grpc_port: int
    serving_port: int = DEFAULT_SERVING_PORT
    federation: str = STANDALONE_FLOW
    nginx_port: int | None = None
    rabbitmq_port: int | None = None
    rabbitmq_management_port: int | None = None
    rabbitmq_dist_port: int | None = None
    # A compose project's other published ports (proxy_port, board_port, serving_exchange_port); none natively.
    extra_ports: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "party_ids": list(self.party_ids),
            "http_port": self.http_port,
            "grpc_port": self.grpc_port,
            "serving_port": self.serving_port,
            "federation": self.federation,
            **self.extra_ports,
        }
        if self.federation != STANDALONE_FLOW:
            data.update({name: getattr(self, name) for name in FEDERATION_PORTS})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flow:
        return cls(
            data["name"],
            [int(p) for p in data["party_ids"]],
            int(data["http_port"]),
            int(data["grpc_port"]),
            int(data.get("serving_port", DEFAULT_SERVING_PORT)),
            data.get("federation", STANDALONE_FLOW),
            **{name: int(data[name]) for name in FEDERATION_PORTS if data.get(name) is not None},
            extra_ports={key: int(data[key]) for key in COMPOSE_EXTRA_PORTS if key in data},
        )


FEDERATION_PORTS = ("nginx_port", "rabbitmq_port", "rabbitmq_management_port", "rabbitmq_dist_port")


@dataclass
class ExchangeHost:
    """The hub of a star: every call between parties passes its nginx (HTTP and, for RabbitMQ, TCP)."""

    ip: str
    user: str
    local: bool
    nginx_port: int = DEFAULT_NGINX_PORT
    serving_port: int = DEFAULT_SERVING_PORT
    # party id -> the exchange's port that leads to that party's broker (stable across deploys).
    rabbitmq_ports: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "user": self.user,
            "local": self.local,
            "nginx_port": self.nginx_port,
            "serving_port": self.serving_port,
            "rabbitmq_ports": {str(k): v for k, v in sorted(self.rabbitmq_ports.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExchangeHost:
        return cls(
            data["ip"],
            data.get("user", DEFAULT_USER),
            bool(data.get("local")),
            int(data.get("nginx_port", DEFAULT_NGINX_PORT)),
            int(data.get("serving_port", DEFAULT_SERVING_PORT)),
            {int(k): int(v) for k, v in (data.get("rabbitmq_ports") or {}).items()},
        )


def parse_parties(
    ids: list[str] | None,
    ips: list[str] | None,
    passwords: list[str] | None = None,
    users: list[str] | None = None,
) -> tuple[list[Party], dict[str, str]]:
    """Validate the facade's lists; returns the parties and the ssh user -u gives each address (none without -u:
    the caller then keeps the user a host was deployed with, or the default)."""
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
        party_id, ip = parse_party_id(raw_id, "-id"), parse_ip(raw_ip, "-ip")
        if party_id in seen:
            if seen[party_id] == ip:
                raise UsageError(f"party id {party_id} is listed twice; list each party once")
            raise UsageError(
                f"party id {party_id} is given for two hosts ({seen[party_id]} and {ip}); a party lives on one host"
            )
        seen[party_id] = ip
        if users:
            user = check_user(users[index] if len(users) > 1 else users[0])
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


def topology(settings: dict[str, Any]) -> str:
    value = settings.get("fate_topology", "mesh")
    if value not in TOPOLOGIES:
        raise UsageError(f"fate_topology is {value!r} in settings.yml; use mesh or star")
    if value == "star" and not settings.get("fate_exchange_host"):
        raise UsageError("fate_topology star needs fate_exchange_host (the exchange's address) in settings.yml")
    return value


def is_federated(hosts: dict[str, Host], settings: dict[str, Any]) -> bool:
    """Parties on several hosts (or a star) need one FATE-Flow per party; one host runs FATE standalone."""
    star = topology(settings) == "star"
    # settings fate_federation_engine: rabbitmq federates parties even on one host (to grow onto more later).
    return len(hosts) > 1 or star or settings.get("fate_federation_engine") == FEDERATED_FLOW


def _setting_port(settings: dict[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise UsageError(f"{name} is {value!r} in settings.yml; give a port number between 1 and 65535")
    return port


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


def compose_image_set(settings: dict[str, Any]) -> str:
    value = settings.get("fate_compose_image_set", FATEOPS_IMAGE_SET)
    if value not in COMPOSE_IMAGE_SETS:
        raise UsageError(f"fate_compose_image_set is {value!r} in settings.yml; use fateops or kubefate")
    return value


def _compose_fateops_ports(settings: dict[str, Any]) -> dict[str, int]:
    """The fateops image set's ports: FATE-Flow's, serving's and the native federation's broker and nginx."""
    return {
        "http_port": _setting_port(settings, "fate_flow_http_port", DEFAULT_HTTP_PORT),
        "grpc_port": _setting_port(settings, "fate_flow_grpc_port", DEFAULT_GRPC_PORT),
        "serving_port": _setting_port(settings, "fate_serving_port", DEFAULT_SERVING_PORT),
        "nginx_port": _setting_port(settings, "fate_nginx_http_port", DEFAULT_NGINX_PORT),
        "rabbitmq_port": _setting_port(settings, "fate_rabbitmq_port", DEFAULT_RABBITMQ_PORT),
        "rabbitmq_management_port": _setting_port(
            settings, "fate_rabbitmq_management_port", DEFAULT_RABBITMQ_MANAGEMENT_PORT
        ),
        "rabbitmq_dist_port": _setting_port(settings, "fate_rabbitmq_dist_port", DEFAULT_RABBITMQ_DIST_PORT),
    }


def _compose_flow(party_id: int, ports: dict[str, int], image_set: str) -> Flow:
    if image_set == FATEOPS_IMAGE_SET:
        return Flow(
            compose_project(party_id),
            [party_id],
            ports["http_port"],
            ports["grpc_port"],
            ports["serving_port"],
            FEDERATED_FLOW,
            **{name: ports[name] for name in FEDERATION_PORTS},
        )
    return Flow(
        compose_project(party_id),
        [party_id],
        ports["http_port"],
        ports["grpc_port"],
        ports["serving_port"],
        extra_ports={key: ports[key] for key in COMPOSE_EXTRA_PORTS},
    )


def plan_compose_flows(
    hosts: dict[str, Host], settings: dict[str, Any], previous: dict[str, list[Flow]] | None = None
) -> dict[str, list[Flow]]:
    """One compose project per party. The k-th project on a Docker host publishes every port at base + k*step;
    a party keeps the slot it was deployed with, so adding a party never moves the others. The fateops image set
    runs the native runtime's federation (a broker and an nginx per party), the KubeFATE set its own proxy."""
    step = int(settings.get("fate_compose_port_step", DEFAULT_COMPOSE_PORT_STEP))
    image_set = compose_image_set(settings)
    base = _compose_fateops_ports(settings) if image_set == FATEOPS_IMAGE_SET else _compose_base_ports(settings)
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
            flows.append(_compose_flow(party_id, ports, image_set))
        seen: dict[int, str] = {}
        for flow in flows:
            named = {"http_port": flow.http_port, "grpc_port": flow.grpc_port, "serving_port": flow.serving_port}
            named.update({name: getattr(flow, name) for name in FEDERATION_PORTS if getattr(flow, name) is not None})
            for key, port in {**named, **flow.extra_ports}.items():
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
    """The FATE-Flow instances of every host.

    One host: one standalone FATE-Flow for every party id. Several hosts: one FATE-Flow per party, each with its
    own broker and nginx; the n-th party of a host (by party id) gets every port shifted by n * fate_port_step.
    Runtime compose: the compose project of every party (previous: the recorded plan, whose ports are kept).
    """
    if settings.get("fate_runtime") == COMPOSE_RUNTIME:
        return plan_compose_flows(hosts, settings, previous)
    http_port = _setting_port(settings, "fate_flow_http_port", DEFAULT_HTTP_PORT)
    grpc_port = _setting_port(settings, "fate_flow_grpc_port", DEFAULT_GRPC_PORT)
    serving_port = _setting_port(settings, "fate_serving_port", DEFAULT_SERVING_PORT)
    if not is_federated(hosts, settings):
        return {
            ip: [Flow(STANDALONE_FLOW, sorted(host.party_ids), http_port, grpc_port, serving_port)]
            for ip, host in hosts.items()
        }
    nginx_port = _setting_port(settings, "fate_nginx_http_port", DEFAULT_NGINX_PORT)
    rabbitmq_port = _setting_port(settings, "fate_rabbitmq_port", DEFAULT_RABBITMQ_PORT)
    management_port = _setting_port(settings, "fate_rabbitmq_management_port", DEFAULT_RABBITMQ_MANAGEMENT_PORT)
    dist_port = _setting_port(settings, "fate_rabbitmq_dist_port", DEFAULT_RABBITMQ_DIST_PORT)
    step = _setting_port(settings, "fate_port_step", DEFAULT_PORT_STEP)
    plan: dict[str, list[Flow]] = {}
    for ip, host in hosts.items():
        plan[ip] = []
        for index, party_id in enumerate(sorted(host.party_ids)):
            shift = index * step
            plan[ip].append(
                Flow(
                    f"party-{party_id}",
                    [party_id],
                    http_port + shift,
                    grpc_port + shift,
                    serving_port + shift,
                    FEDERATED_FLOW,
                    nginx_port + shift,
                    rabbitmq_port + shift,
                    management_port + shift,
                    dist_port + shift,
                )
            )
    return plan


def plan_exchange(
    hosts: dict[str, Host],
    settings: dict[str, Any],
    recorded: ExchangeHost | None,
    user: str | None = None,
) -> ExchangeHost | None:
    """The star's exchange for these parties, keeping the broker ports already handed out; None for a mesh."""
    if not hosts or not is_federated(hosts, settings) or topology(settings) != "star":
        return None
    ip = parse_ip(settings["fate_exchange_host"], "fate_exchange_host in settings.yml")
    user = user or settings.get("fate_exchange_user") or (recorded.user if recorded else DEFAULT_USER)
    exchange = ExchangeHost(
        ip,
        user,
        is_local_address(ip),
        _setting_port(settings, "fate_exchange_nginx_http_port", DEFAULT_NGINX_PORT),
        _setting_port(settings, "fate_exchange_serving_port", DEFAULT_SERVING_PORT),
    )
    kept = recorded.rabbitmq_ports if recorded and recorded.ip == ip else {}
    party_ids = sorted(pid for host in hosts.values() for pid in host.party_ids)
    used = {port for pid, port in kept.items() if pid in party_ids}
    next_port = _setting_port(settings, "fate_exchange_rabbitmq_port_base", DEFAULT_EXCHANGE_RABBITMQ_BASE)
    for party_id in party_ids:
        if party_id in kept:
            exchange.rabbitmq_ports[party_id] = kept[party_id]
            continue
        while next_port in used or next_port in (exchange.nginx_port, exchange.serving_port):
            next_port += 1
        exchange.rabbitmq_ports[party_id] = next_port
        used.add(next_port)
    return exchange


# ------------------------------------------------------------------------------------------ the host contract
# What the plan hands every party host: its inventory variable fate_instances (and fate_instances_absent, the
# instances to remove), a list of Instance.as_dict(). Roles, playbooks and templates read it; none works out a
# port, a path or a peer list again. Validated on the Ansible side by roles/party_common's meta/argument_specs.yml
# (a host's fate_instances) and the same fate_instance option of every role that takes one instance.

# FATE's federation engine of a compose project, by FATE generation (the project's own proxy).
COMPOSE_FEDERATION_ENGINES = {2: "osx", 1: "rollsite"}
DEFAULT_COMPOSE_GENERATION = 2


def _present(record: Any) -> dict[str, Any]:
    """A record's fields without the ones that do not apply to this instance (None)."""
    return {key: value for key, value in asdict(record).items() if value is not None}


@dataclass(frozen=True)
class InstanceDirectories:
    """Absolute paths of one instance on its host. instance holds everything of it; the others apply by runtime
    (native: home .. serving, with rabbitmq and nginx when federated; compose: compose_project and images)."""

    instance: str
    home: str | None = None
    venv: str | None = None
    logs: str | None = None
    run: str | None = None
    supervisor: str | None = None
    serving: str | None = None
    # Where fateops keeps what it records per instance: uploaded tables' state, imported models' archives.
    tables: str | None = None
    models: str | None = None
    rabbitmq: str | None = None
    nginx: str | None = None
    compose_project: str | None = None
    # Image archives shipped for offline Docker hosts: shared by every compose project of the host.
    images: str | None = None
    # A compose project's copies of uploaded files, where its FATE-Flow container reads them.
    uploads: str | None = None

    def as_dict(self) -> dict[str, str]:
        return _present(self)


@dataclass(frozen=True)
class InstanceFiles:
    """Files of a native instance that its programs are started with: the venv's interpreter, supervisord's
    configuration, and FATE's task launcher with its socket (roles/party_native/files/fate_task_launcher.py)."""

    python: str
    supervisor_conf: str
    task_launcher: str
    task_socket: str

    def as_dict(self) -> dict[str, str]:
        return _present(self)


@dataclass(frozen=True)
class InstancePorts:
    """Every port an instance listens on (native federation: nginx and the broker's; compose: the published ones)."""

    http: int
    grpc: int
    serving: int
    nginx: int | None = None
    amqp: int | None = None
    management: int | None = None
    dist: int | None = None
    proxy: int | None = None
    board: int | None = None
    serving_exchange: int | None = None

    def as_dict(self) -> dict[str, int]:
        return _present(self)

    def every(self) -> list[int]:
        return list(self.as_dict().values())


@dataclass(frozen=True)
class FederationParty:
    """One party as the others reach it: the shape fateops.federation.fate_route_table takes."""

    party_id: int
    host: str
    flow_http_port: int
    flow_grpc_port: int
    serving_port: int
    nginx_http_port: int | None = None
    rabbitmq_port: int | None = None
    rabbitmq_management_port: int | None = None
    # A compose project's osx or rollsite.
    proxy_port: int | None = None
    exchange_rabbitmq_port: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return _present(self)


@dataclass(frozen=True)
class Federation:
    """Every party of the federation, the topology and the star's exchange, and the parties that left (whose routes
    go); engine: FATE's federation engine of the instance that reads it."""

    topology: str
    parties: list[FederationParty]
    exchange: dict[str, Any] | None
    removed_parties: list[int]
    engine: str = STANDALONE_FLOW

    def routes(self) -> dict[str, Any]:
        """The federation without the engine: all.vars.fate_federation, what the exchange role reads."""
        return {
            "topology": self.topology,
            "parties": [party.as_dict() for party in self.parties],
            "exchange": self.exchange,
            "removed_parties": [{"party_id": party_id} for party_id in self.removed_parties],
        }

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, **self.routes()}


@dataclass(frozen=True)
class Instance:
    """One FATE-Flow instance (native) or compose project (compose) as its host runs it: the host contract."""

    name: str
    runtime: str
    party_ids: list[int]
    directories: InstanceDirectories
    ports: InstancePorts
    federation: Federation
    files: InstanceFiles | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "runtime": self.runtime,
            "party_ids": list(self.party_ids),
            "directories": self.directories.as_dict(),
            "ports": self.ports.as_dict(),
            "federation": self.federation.as_dict(),
        }
        if self.files is not None:
            data["files"] = self.files.as_dict()
        return data


def base_dir(settings: dict[str, Any]) -> PurePosixPath:
    return PurePosixPath(settings.get("fate_base_dir", DEFAULT_BASE_DIR))


# supervisord's control socket in an instance's run directory (roles/party_native/templates/supervisord.conf.j2),
# and the longest path a Unix socket may have (sun_path's 108 bytes, its final NUL included).
SUPERVISOR_SOCKET = "supervisor.sock"
# FATE's task launcher in the instance's venv, and its socket beside supervisord's (no longer than it, so the
# length check below covers both).
TASK_LAUNCHER = "fate-task-launcher"
TASK_SOCKET = "tasks.sock"
UNIX_SOCKET_PATH_MAX = 107


def instance_directories(flow: Flow, settings: dict[str, Any]) -> InstanceDirectories:
    """The one place an instance's paths are worked out (FATE-Flow's layout under home stays the party role's)."""
    root = base_dir(settings)
    top = root / flow.name
    if flow_runtime(flow) == COMPOSE_RUNTIME:
        # tables: fateops's records of uploads; uploads: the files FATE-Flow reads (mounted into its container);
        # serving: the bindings' inputs on their way into the serving container.
        return InstanceDirectories(
            str(top),
            compose_project=str(top),
            images=str(root / "images"),
            tables=str(top / "fateops" / "tables"),
            serving=str(top / "serving"),
            uploads=str(top / "uploads"),
        )
    federated = flow.federation != STANDALONE_FLOW
    socket_path = top / "run" / SUPERVISOR_SOCKET
    if len(str(socket_path).encode()) > UNIX_SOCKET_PATH_MAX:
        raise UsageError(
            f"fate_base_dir {str(root)!r} is too long: supervisord's socket {socket_path} would take "
            f"{len(str(socket_path).encode())} bytes and a Unix socket's path at most {UNIX_SOCKET_PATH_MAX}; "
            "choose a shorter fate_base_dir in settings.yml"
        )
    return InstanceDirectories(
        str(top),
        home=str(top / "home"),
        venv=str(top / "venv"),
        logs=str(top / "logs"),
        run=str(top / "run"),
        supervisor=str(top / "supervisor.d"),
        serving=str(top / "serving"),
        tables=str(top / "home" / "fateops" / "tables"),
        models=str(top / "home" / "fateops" / "models"),
        rabbitmq=str(top / "rabbitmq") if federated else None,
        nginx=str(top / "nginx") if federated else None,
    )


def instance_ports(flow: Flow) -> InstancePorts:
    return InstancePorts(
        flow.http_port,
        flow.grpc_port,
        flow.serving_port,
        nginx=flow.nginx_port,
        amqp=flow.rabbitmq_port,
        management=flow.rabbitmq_management_port,
        dist=flow.rabbitmq_dist_port,
        proxy=flow.extra_ports.get("proxy_port"),
        board=flow.extra_ports.get("board_port"),
        serving_exchange=flow.extra_ports.get("serving_exchange_port"),
    )


def flow_runtime(flow: Flow) -> str:
    """A planned or recorded instance's runtime, from its name: a compose project is named like KubeFATE's."""
    return COMPOSE_RUNTIME if flow.name == compose_project(flow.party_ids[0]) else NATIVE_RUNTIME


def plan_federation(
    flows: dict[str, list[Flow]], exchange: ExchangeHost | None, removed: list[int] | None = None
) -> Federation:
    """Every party's addresses, for the route tables of each party and of the exchange (fate_route_table), and the
    parties that left, whose routes go. Standalone FATE-Flows federate with nobody; compose projects through their
    own proxies (osx or rollsite), native parties through their broker and nginx."""
    parties = []
    for ip, host_flows in sorted(flows.items()):
        for flow in host_flows:
            native = flow_runtime(flow) == NATIVE_RUNTIME
            if native and flow.federation == STANDALONE_FLOW:
                continue
            for party_id in flow.party_ids:
                parties.append(
                    FederationParty(
                        party_id,
                        ip,
                        flow.http_port,
                        flow.grpc_port,
                        flow.serving_port,
                        nginx_http_port=flow.nginx_port,
                        rabbitmq_port=flow.rabbitmq_port,
                        rabbitmq_management_port=flow.rabbitmq_management_port,
                        proxy_port=flow.extra_ports.get("proxy_port"),
                        exchange_rabbitmq_port=exchange.rabbitmq_ports[party_id] if exchange and native else None,
                    )
                )
    # The exchange's rollsite and OSX ports (compose) are the route model's defaults unless an inventory says else.
    hub = (
        {"host": exchange.ip, "nginx_http_port": exchange.nginx_port, "serving_port": exchange.serving_port}
        if exchange
        else None
    )
    return Federation(
        "star" if exchange else "mesh",
        sorted(parties, key=lambda party: party.party_id),
        hub,
        sorted(removed or []),
    )


def flow_engine(flow: Flow, settings: dict[str, Any]) -> str:
    if flow_runtime(flow) == COMPOSE_RUNTIME and flow.federation != FEDERATED_FLOW:
        return COMPOSE_FEDERATION_ENGINES[int(settings.get("fate_compose_generation", DEFAULT_COMPOSE_GENERATION))]
    return flow.federation


def plan_instance(flow: Flow, settings: dict[str, Any], federation: Federation) -> Instance:
    """The contract of one planned (or recorded) instance."""
    runtime = flow_runtime(flow)
    directories = instance_directories(flow, settings)
    files = None
    if runtime == NATIVE_RUNTIME:
        top = PurePosixPath(directories.instance)
        files = InstanceFiles(
            str(top / "venv" / "bin" / "python"),
            str(top / "supervisord.conf"),
            str(top / "venv" / "bin" / TASK_LAUNCHER),
            str(top / "run" / TASK_SOCKET),
        )
    return Instance(
        flow.name,
        runtime,
        list(flow.party_ids),
        directories,
        instance_ports(flow),
        replace(federation, engine=flow_engine(flow, settings)),
        files,
    )


def host_vars(host: Host) -> dict[str, Any]:
    if host.local:
        # The controller's own interpreter (the one ansible-playbook runs with): no ssh, no discovery of whatever
        # python3 the PATH offers. A path, not a template: inventories are written as data.
        return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return {"ansible_host": host.ip, "ansible_user": host.user, "ansible_connection": "ssh"}


def serving_peers(flows: dict[str, list[Flow]], exchange: ExchangeHost | None) -> dict[str, str]:
    """Where a guest's serving service reaches each party's: directly, or through the exchange of a star."""
    return {
        str(party_id): f"{exchange.ip}:{exchange.serving_port}" if exchange else f"{ip}:{flow.serving_port}"
        for ip, host_flows in flows.items()
        for flow in host_flows
        for party_id in flow.party_ids
    }


class Template(str):
    """A string of the plan's own that Ansible renders: the one kind an inventory is written with without !unsafe
    (every other string, settings.yml's included, is data)."""


def secret_references(settings: dict[str, Any], settings_file: str) -> dict[str, Any]:
    """For each secret setting (SECRET_SETTINGS) present: a template that reads it from settings_file on the
    controller when a task needs it, so the inventory names the secret without holding it. What the lookup reads
    comes back as data, never rendered."""
    found: dict[str, Any] = {}
    for name in SECRET_SETTINGS:
        if name in settings:
            found[name] = Template(
                "{{ (lookup('ansible.builtin.file', fate_settings_file) | from_yaml)['" + name + "'] }}"
            )
    if found:
        found["fate_settings_file"] = settings_file
    return found


def build_inventory(
    hosts: dict[str, Host],
    flows: dict[str, list[Flow]],
    settings: dict[str, Any],
    absent: dict[str, list[Flow]] | None = None,
    exchange: ExchangeHost | None = None,
    exchange_absent: ExchangeHost | None = None,
    connection: dict[str, dict[str, Any]] | None = None,
    removed: list[int] | None = None,
    deployment_id: str | None = None,
    settings_file: str | None = None,
) -> dict[str, Any]:
    """The inventory of a run. connection: ip -> connection variables (the workspace's ssh key) of remote hosts.
    deployment_id: the workspace's, which every instance records as its owner (fate_deployment_id).
    settings_file: the settings.yml that settings came from; its secret settings are then read from there at run
    time instead of being copied (without it they stay in the inventory: one its operator writes and keeps)."""
    connection = connection or {}

    def entry_for(ip: str, local: bool, user: str) -> dict[str, Any]:
        entry = dict(connection[ip]) if ip in connection else host_vars(Host(ip, user, local))
        if entry.get("ansible_connection") == "ssh":
            # Not Ansible's discovery, which can pick a python3.x launcher that is not installed.
            entry["ansible_python_interpreter"] = settings.get("fate_host_python", DEFAULT_HOST_PYTHON)
        return entry

    federation = plan_federation(flows, exchange, removed)
    inventory_hosts: dict[str, Any] = {}
    for ip in sorted(set(hosts) | set(absent or {})):
        host = hosts[ip]
        entry = entry_for(ip, host.local, host.user)
        entry["fate_party_ids"] = sorted(host.party_ids)
        entry["fate_instances"] = [plan_instance(flow, settings, federation).as_dict() for flow in flows.get(ip, [])]
        if absent and ip in absent:
            entry["fate_instances_absent"] = [
                plan_instance(flow, settings, federation).as_dict() for flow in absent[ip]
            ]
        inventory_hosts[ip] = entry
    children: dict[str, Any] = {"fate_parties": {"hosts": inventory_hosts}}
    hub = exchange or exchange_absent
    if hub is not None:
        entry = entry_for(hub.ip, hub.local, hub.user)
        entry["fate_exchange_state"] = "present" if exchange else "absent"
        children["fate_exchange"] = {"hosts": {hub.ip: entry}}
    secrets = secret_references(settings, settings_file) if settings_file else {}
    all_vars = {
        **{name: value for name, value in settings.items() if name not in secrets},
        **secrets,
        # Every path of the contract is under it; playbooks pass it to the modules that check the base dir.
        "fate_base_dir": str(base_dir(settings)),
        # Where migrate writes the archives it makes (a host's, not an instance's).
        "fate_model_temp_dir": str(settings.get("fate_model_temp_dir") or base_dir(settings) / "temp" / "models"),
        "fate_serving_peers": serving_peers(flows, exchange),
        "fate_federation": federation.routes(),
    }
    if deployment_id:
        # After the settings: settings.yml cannot pass for another deployment.
        all_vars["fate_deployment_id"] = deployment_id
    return {"all": {"vars": all_vars, "children": children}}


@dataclass(frozen=True)
class PartyFlow:
    """Where a deployed party's FATE-Flow is."""

    party_id: int
    ip: str
    flow_name: str
    http_port: int
    serving_port: int = DEFAULT_SERVING_PORT


def party_flows(state: State) -> dict[int, PartyFlow]:
    """party id -> the FATE-Flow that plays it, from the recorded deployment."""
    found: dict[int, PartyFlow] = {}
    for ip, host in state.deployment.hosts.items():
        for flow in host.flows:
            for party_id in flow.party_ids:
                found[party_id] = PartyFlow(party_id, ip, flow.name, flow.http_port, flow.serving_port)
    return found


def deployed_flow(state: State, party_id: int) -> PartyFlow:
    flows = party_flows(state)
    if party_id not in flows:
        deployed = ", ".join(str(p) for p in sorted(flows)) or "none"
        raise UsageError(f"party {party_id} is not deployed (deployed: {deployed}); deploy it first with -f deploy")
    return flows[party_id]


def plan_inventory(
    parties: list[dict[str, Any]], settings: dict[str, Any], host_variables: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The inventory of a deployment an operator writes by hand (the fate_plan inventory plugin): each party as
    {party_id, host}, settings.yml's variables, and per host address the variables Ansible reaches it with
    (ansible_user, ansible_port, keys...). The same plan and contract as -f deploy, without a workspace: nothing
    is recorded, so nothing is removed and instances record no owner."""
    if not isinstance(parties, list) or not parties:
        raise UsageError("parties is empty; list each party as {party_id: ID, host: ADDRESS}")
    for index, party in enumerate(parties):
        if not isinstance(party, dict) or set(party) != {"party_id", "host"}:
            raise UsageError(f"parties[{index}] is {party!r}; give each party as {{party_id: ID, host: ADDRESS}}")
        parse_party_id(party["party_id"], f"parties[{index}].party_id")
        parse_ip(party["host"], f"parties[{index}].host")
    problem = settings_problem(settings)
    if problem:
        raise UsageError(f"settings: {problem}")
    host_variables = host_variables or {}
    ids = [str(party["party_id"]) for party in parties]
    ips = [str(party["host"]) for party in parties]
    users = [str(host_variables.get(ip, {}).get("ansible_user", DEFAULT_USER)) for ip in ips]
    planned, user_of = parse_parties(ids, ips, users=users)
    unknown = sorted(set(host_variables) - set(ips) - {settings.get("fate_exchange_host")})
    if unknown:
        raise UsageError(f"hosts names {', '.join(unknown)}, which no party (nor the exchange) lives on; remove it")
    hosts = group_hosts(planned, user_of)
    flows = plan_flows(hosts, settings)
    exchange_user = host_variables.get(settings.get("fate_exchange_host"), {}).get("ansible_user")
    exchange = plan_exchange(hosts, settings, None, exchange_user)
    connection = {}
    for ip, local, user in [(h.ip, h.local, h.user) for h in hosts.values()] + (
        [(exchange.ip, exchange.local, exchange.user)] if exchange else []
    ):
        if ip in host_variables:
            connection[ip] = {**host_vars(Host(ip, user, local)), **host_variables[ip]}
    return build_inventory(hosts, flows, settings, exchange=exchange, connection=connection)
