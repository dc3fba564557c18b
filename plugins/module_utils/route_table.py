# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The route model of a FATE federation and every route table FATE reads, rendered from it.

One description of the federation (parties, their ports, mesh or star topology, the exchange, TLS) renders:

- ``rollsite``: eggroll rollsite's ``route_table.json`` (FATE 1.x);
- ``osx``: OSX's ``route_table.json`` (FATE 2.x), the rollsite shape plus ``self_party``;
- ``nginx``: an nginx snippet (``conf.d``) that routes FATE-Flow's calls between parties by their
  ``dest-party-id`` header;
- ``rabbitmq``: FATE's ``conf/rabbitmq_route_table.yaml``, ``{party_id: {host, port}}``.

A rendered table is plain Python data (what the file holds); :func:`serialize_table` writes it canonically and
:func:`parse_table` reads it back, so a table on disk can be merged with the rendered one without dropping routes
that were added by hand (:func:`merge_tables`) and compared by meaning rather than by text (:func:`tables_equal`).

Star topology: a party's tables know only its own parties and the exchange; the exchange's tables know every
party. The exchange's table is rendered with ``self_party_id=None``.

This file runs inside Ansible modules on party hosts and in the controller alike: standard library only, so the
YAML of the RabbitMQ table is written and read here by a small reader of exactly that shape.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

FORMATS = ("rollsite", "osx", "nginx", "rabbitmq")
TOPOLOGIES = ("mesh", "star")

# FATE's default ports.
DEFAULT_FLOW_HTTP_PORT = 9380
DEFAULT_FLOW_GRPC_PORT = 9360
DEFAULT_PROXY_PORT = 9370
DEFAULT_NGINX_HTTP_PORT = 9300
DEFAULT_RABBITMQ_PORT = 5672
DEFAULT_RABBITMQ_MANAGEMENT_PORT = 15672
DEFAULT_SERVING_PORT = 8059
# KubeFATE publishes the rollsite exchange on 9371 so that it can share a host with a party's rollsite on 9370.
DEFAULT_EXCHANGE_ROLLSITE_PORT = 9371
# OSX's own gRPC port; an OSX broker deployed as the exchange keeps it.
DEFAULT_EXCHANGE_OSX_PORT = 9370

# The party key and the role key FATE's proxies fall back to when nothing more specific matches.
DEFAULT_KEY = "default"
FATEFLOW_ROLE = "fateflow"
# nginx turns the dest-party-id request header into this variable (lower case, dashes become underscores).
NGINX_HEADER_VARIABLE = "$http_dest_party_id"
NGINX_UPSTREAM_VARIABLE = "$fate_flow_upstream"

PORT_RANGE = (1, 65535)
# Host names, IPv4 and IPv6 addresses; anything else (spaces, quotes, ';', braces) would break a table's syntax.
_HOST_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


class RouteTableError(ValueError):
    """A federation or a route table that cannot be used. The message names the problem and the fix."""


class FederationError(RouteTableError):
    """The description of the federation is invalid."""


class TableParseError(RouteTableError):
    """A route table file cannot be read as its format."""


# --------------------------------------------------------------------------------------------------- the model


def _check_port(value: Any, what: str) -> None:
    low, high = PORT_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FederationError(f"{what} is {value!r}, not a port; give an integer from {low} to {high}")


def _check_host(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise FederationError(f"{what} has no host; give the address other parties reach it at")
    if not _HOST_PATTERN.fullmatch(value):
        raise FederationError(f"{what} host {value!r} is not a host name or an IP address; fix the address")


def _check_party_id(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FederationError(f"party id {value!r} is not an integer; FATE party ids are positive integers")
    if value <= 0:
        raise FederationError(f"party id {value} is not positive; FATE party ids are positive integers")


@dataclass(frozen=True)
class Party:
    """One FATE party: its id, the address other parties reach it at, and the ports of its services."""

    party_id: int
    host: str
    flow_http_port: int = DEFAULT_FLOW_HTTP_PORT
    flow_grpc_port: int = DEFAULT_FLOW_GRPC_PORT
    # The party's osx (FATE 2.x) or rollsite (FATE 1.x): FATE calls either its proxy.
    proxy_port: int = DEFAULT_PROXY_PORT
    nginx_http_port: int = DEFAULT_NGINX_HTTP_PORT
    rabbitmq_port: int = DEFAULT_RABBITMQ_PORT
    rabbitmq_management_port: int = DEFAULT_RABBITMQ_MANAGEMENT_PORT
    serving_port: int = DEFAULT_SERVING_PORT
    # Star with RabbitMQ: the exchange's port that forwards to this party's broker (AMQP carries no header to
    # route on, so the exchange gives every party a port of its own). None in a mesh.
    exchange_rabbitmq_port: int | None = None

    def __post_init__(self) -> None:
        _check_party_id(self.party_id)
        _check_host(self.host, f"party {self.party_id}")
        for name in PARTY_PORT_FIELDS:
            if name == "exchange_rabbitmq_port" and self.exchange_rabbitmq_port is None:
                continue
            _check_port(getattr(self, name), f"party {self.party_id} {name}")


PARTY_PORT_FIELDS = tuple(f.name for f in fields(Party) if f.name.endswith("_port"))


@dataclass(frozen=True)
class Exchange:
    """The star topology's hub: a rollsite or OSX broker, and an nginx for FATE-Flow's calls."""

    host: str
    rollsite_port: int = DEFAULT_EXCHANGE_ROLLSITE_PORT
    osx_port: int = DEFAULT_EXCHANGE_OSX_PORT
    nginx_http_port: int = DEFAULT_NGINX_HTTP_PORT
    # The exchange's nginx port for the online serving calls between parties (routed on dest-party-id).
    serving_port: int = DEFAULT_SERVING_PORT

    def __post_init__(self) -> None:
        _check_host(self.host, "the exchange")
        for name in EXCHANGE_PORT_FIELDS:
            _check_port(getattr(self, name), f"the exchange's {name}")


EXCHANGE_PORT_FIELDS = tuple(f.name for f in fields(Exchange) if f.name.endswith("_port"))


@dataclass(frozen=True)
class Tls:
    """Certificates a proxy uses towards the other side. Paths are on the host that runs the proxy.

    osx carries them in each route (useSSL, caFile, certChainFile, privateKeyFile); rollsite only marks a
    route ``is_secure`` and reads its certificates from eggroll.properties; nginx and RabbitMQ tables have no
    TLS fields.
    """

    ca_file: str = ""
    cert_chain_file: str = ""
    private_key_file: str = ""

    def __post_init__(self) -> None:
        for name in ("ca_file", "cert_chain_file", "private_key_file"):
            if not isinstance(getattr(self, name), str):
                raise FederationError(f"tls {name} is {getattr(self, name)!r}; give a file path as text")
        if bool(self.cert_chain_file) != bool(self.private_key_file):
            raise FederationError(
                "tls needs cert_chain_file and private_key_file together (the certificate and its key); "
                "give both or neither"
            )


@dataclass(frozen=True)
class Federation:
    """Every party, the topology and, for a star, the exchange. Validated when built."""

    parties: tuple[Party, ...]
    topology: str = "mesh"
    exchange: Exchange | None = None
    tls: Tls | None = None

    def __post_init__(self) -> None:
        # Accept any iterable of parties but keep an immutable, hashable tuple.
        object.__setattr__(self, "parties", tuple(self.parties))
        if self.topology not in TOPOLOGIES:
            raise FederationError(f"unknown topology {self.topology!r}; use one of {', '.join(TOPOLOGIES)}")
        if not self.parties:
            raise FederationError("the federation has no party; give at least one party with party_id and host")
        seen: dict[int, Party] = {}
        for party in self.parties:
            if not isinstance(party, Party):
                raise FederationError(f"{party!r} is not a Party; build parties with party_from_dict()")
            if party.party_id in seen:
                raise FederationError(
                    f"duplicate party id {party.party_id} (hosts {seen[party.party_id].host} and {party.host}); "
                    "list each party once"
                )
            seen[party.party_id] = party
        if self.topology == "star" and self.exchange is None:
            raise FederationError(
                "topology star needs an exchange (the hub every party routes through); give exchange.host "
                "or use topology mesh"
            )

    @property
    def party_ids(self) -> list[int]:
        return sorted(party.party_id for party in self.parties)

    def party(self, party_id: int) -> Party:
        """The party with this id; an unknown id raises FederationError."""
        for party in self.parties:
            if party.party_id == party_id:
                return party
        known = ", ".join(str(i) for i in self.party_ids)
        raise FederationError(f"unknown party {party_id!r}: the federation has parties {known}; add it first")


def _as_int(value: Any, what: str) -> Any:
    """Integers written as text (inventories, JSON) become integers; anything else is left for validation."""
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return int(value)
    if value is None:
        raise FederationError(f"{what} is missing; give it")
    return value


def party_from_dict(data: Mapping[str, Any]) -> Party:
    """A Party from plain data (module arguments, inventory); absent or null ports take FATE's defaults."""
    if not isinstance(data, Mapping):
        raise FederationError(f"party {data!r} is not a mapping; give party_id and host")
    party_id = _as_int(data.get("party_id"), "party_id of a party")
    values: dict[str, Any] = {"party_id": party_id, "host": data.get("host")}
    for name in PARTY_PORT_FIELDS:
        if data.get(name) is not None:
            values[name] = _as_int(data[name], f"party {party_id} {name}")
    return Party(**values)


def exchange_from_dict(data: Mapping[str, Any]) -> Exchange:
    if not isinstance(data, Mapping):
        raise FederationError(f"exchange {data!r} is not a mapping; give at least exchange.host")
    values: dict[str, Any] = {"host": data.get("host")}
    for name in EXCHANGE_PORT_FIELDS:
        if data.get(name) is not None:
            values[name] = _as_int(data[name], f"the exchange's {name}")
    return Exchange(**values)


def tls_from_dict(data: Mapping[str, Any]) -> Tls:
    if not isinstance(data, Mapping):
        raise FederationError(f"tls {data!r} is not a mapping; give ca_file, cert_chain_file, private_key_file")
    return Tls(**{name: data.get(name) or "" for name in ("ca_file", "cert_chain_file", "private_key_file")})


def federation_from_dict(
    parties: Iterable[Mapping[str, Any]],
    topology: str = "mesh",
    exchange: Mapping[str, Any] | None = None,
    tls: Mapping[str, Any] | None = None,
) -> Federation:
    """A Federation from plain data, the shape of fate_route_table's arguments."""
    return Federation(
        parties=tuple(party_from_dict(item) for item in parties),
        topology=topology,
        exchange=exchange_from_dict(exchange) if exchange else None,
        tls=tls_from_dict(tls) if tls else None,
    )


# Inventory variable -> Party field. Values set on all, on the group or on the host, the host winning.
INVENTORY_PARTY_VARIABLES = {
    "fate_flow_http_port": "flow_http_port",
    "fate_flow_grpc_port": "flow_grpc_port",
    "fate_proxy_port": "proxy_port",
    "fate_nginx_http_port": "nginx_http_port",
    "fate_rabbitmq_port": "rabbitmq_port",
    "fate_rabbitmq_management_port": "rabbitmq_management_port",
    "fate_serving_port": "serving_port",
    "fate_exchange_rabbitmq_port": "exchange_rabbitmq_port",
}
INVENTORY_EXCHANGE_VARIABLES = {
    "fate_exchange_rollsite_port": "rollsite_port",
    "fate_exchange_osx_port": "osx_port",
    "fate_nginx_http_port": "nginx_http_port",
    "fate_exchange_serving_port": "serving_port",
}
PARTIES_GROUP = "fate_parties"
EXCHANGE_GROUP = "fate_exchange"


def _group(children: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(group vars, hosts) of an inventory group; a group written as `name:` with nothing under it is empty."""
    group = children.get(name) or {}
    if not isinstance(group, Mapping):
        raise FederationError(f"inventory group {name} is not a mapping; give it hosts:")
    return dict(group.get("vars") or {}), dict(group.get("hosts") or {})


def federation_from_inventory(data: Mapping[str, Any]) -> Federation:
    """The federation an Ansible YAML inventory describes (the data PyYAML loads from it).

    Shape: ``all.vars.fate_topology`` (mesh by default), ``all.children.fate_parties.hosts.<host>`` with
    ``fate_party_ids`` and optional port variables (``fate_flow_http_port`` ...; see INVENTORY_PARTY_VARIABLES),
    ``all.children.fate_exchange.hosts`` with at most one host for a star, ``all.vars.fate_route_tls`` for TLS.
    A host's address is its ``ansible_host``, else its inventory name. A host's ``fate_flows`` list (the lead's
    deploy plan: party_ids, http_port, grpc_port per FATE-Flow; proxy_port and serving_port per compose project)
    sets those ports of its parties.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("all"), Mapping):
        raise FederationError("the inventory has no 'all' group; give a YAML inventory with all.children")
    top = data["all"]
    all_vars = dict(top.get("vars") or {})
    children = top.get("children") or {}
    group_vars, hosts = _group(children, PARTIES_GROUP)
    if not hosts:
        raise FederationError(f"the inventory has no host in group {PARTIES_GROUP}; add the party hosts there")

    parties: list[Party] = []
    for name, own_vars in hosts.items():
        host_vars = {**all_vars, **group_vars, **(own_vars or {})}
        party_ids = host_vars.get("fate_party_ids")
        if not isinstance(party_ids, list) or not party_ids:
            raise FederationError(f"inventory host {name} has no fate_party_ids list; give its party ids")
        address = host_vars.get("ansible_host") or str(name)
        ports = {field: host_vars[var] for var, field in INVENTORY_PARTY_VARIABLES.items() if var in host_vars}
        flow_ports: dict[Any, dict[str, Any]] = {}
        for flow in host_vars.get("fate_flows") or []:
            for party_id in flow.get("party_ids") or []:
                flow_ports[_as_int(party_id, "a party id of fate_flows")] = {
                    key: flow[source]
                    # A compose project's plan also carries its published proxy and serving ports.
                    for source, key in (
                        ("http_port", "flow_http_port"),
                        ("grpc_port", "flow_grpc_port"),
                        ("proxy_port", "proxy_port"),
                        ("serving_port", "serving_port"),
                    )
                    if flow.get(source) is not None
                }
        for raw_id in party_ids:
            party_id = _as_int(raw_id, f"a party id of inventory host {name}")
            parties.append(
                party_from_dict({**ports, **flow_ports.get(party_id, {}), "party_id": party_id, "host": address})
            )

    exchange_vars, exchange_hosts = _group(children, EXCHANGE_GROUP)
    if len(exchange_hosts) > 1:
        raise FederationError(
            f"group {EXCHANGE_GROUP} has {len(exchange_hosts)} hosts ({', '.join(map(str, exchange_hosts))}); "
            "a star has one exchange"
        )
    exchange = None
    for name, own_vars in exchange_hosts.items():
        host_vars = {**all_vars, **exchange_vars, **(own_vars or {})}
        exchange = exchange_from_dict(
            {
                "host": host_vars.get("ansible_host") or str(name),
                **{field: host_vars[var] for var, field in INVENTORY_EXCHANGE_VARIABLES.items() if var in host_vars},
            }
        )
    tls = all_vars.get("fate_route_tls")
    return Federation(
        parties=tuple(parties),
        topology=all_vars.get("fate_topology", "mesh"),
        exchange=exchange,
        tls=tls_from_dict(tls) if tls else None,
    )


# --------------------------------------------------------------------------------------------------- rendering


def _viewpoint(federation: Federation, self_party_id: int | None) -> Party | None:
    """The party whose table is rendered, or None for the exchange's."""
    if self_party_id is None:
        if federation.topology != "star":
            raise FederationError(
                "self_party_id is missing; a mesh has no exchange, so give the party whose table to render"
            )
        return None
    return federation.party(self_party_id)


def _exchange(federation: Federation) -> Exchange:
    if federation.exchange is None:
        raise FederationError("topology star needs an exchange; give exchange.host or use topology mesh")
    return federation.exchange


def _check_exchange_port(federation: Federation, exchange_port: str, party_port: str, service: str) -> None:
    """An exchange on a party's host must not take the port of that party's own service."""
    exchange = _exchange(federation)
    for party in federation.parties:
        if party.host == exchange.host and getattr(party, party_port) == getattr(exchange, exchange_port):
            raise FederationError(
                f"the exchange's {exchange_port} and party {party.party_id}'s {party_port} are both "
                f"{exchange.host}:{getattr(exchange, exchange_port)}: the exchange's {service} and the party's "
                f"cannot share a port; give the exchange another {exchange_port}"
            )


def _colocated(federation: Federation, me: Party, port_field: str) -> list[Party]:
    """Parties served by the same proxy as `me` (same host and port): they are all local to that proxy."""
    port = getattr(me, port_field)
    return sorted(
        (p for p in federation.parties if p.host == me.host and getattr(p, port_field) == port),
        key=lambda p: p.party_id,
    )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _endpoint(host: str, port: int) -> dict[str, Any]:
    return {"ip": host, "port": port}


def _rollsite_remote(host: str, port: int, tls: Tls | None) -> dict[str, Any]:
    entry = _endpoint(host, port)
    if tls is not None:
        entry["is_secure"] = True
    return entry


def _osx_remote(host: str, port: int, tls: Tls | None) -> dict[str, Any]:
    entry = _endpoint(host, port)
    if tls is not None:
        entry["useSSL"] = True
        for key, value in (
            ("caFile", tls.ca_file),
            ("certChainFile", tls.cert_chain_file),
            ("privateKeyFile", tls.private_key_file),
        ):
            if value:
                entry[key] = value
    return entry


def render_rollsite(federation: Federation, self_party_id: int | None = None) -> dict[str, Any]:
    """Eggroll rollsite's route_table.json (FATE 1.x) for one party, or for the exchange (None)."""
    me = _viewpoint(federation, self_party_id)
    if federation.topology == "star":
        _check_exchange_port(federation, "rollsite_port", "proxy_port", "rollsite")
    routes: dict[str, Any] = {}
    if me is None:
        for party in federation.parties:
            routes[str(party.party_id)] = {
                DEFAULT_KEY: [_rollsite_remote(party.host, party.proxy_port, federation.tls)]
            }
    else:
        local = _colocated(federation, me, "proxy_port")
        if federation.topology == "star":
            exchange = _exchange(federation)
            routes[DEFAULT_KEY] = {
                DEFAULT_KEY: [_rollsite_remote(exchange.host, exchange.rollsite_port, federation.tls)]
            }
        else:
            # KubeFATE's mesh shape: rollsite always has a "default" party (its polling mode asks for it), and in a
            # mesh there is no hub, so it names the party's own rollsite.
            routes[DEFAULT_KEY] = {DEFAULT_KEY: [_endpoint(me.host, me.proxy_port)]}
            for party in federation.parties:
                if party not in local:
                    routes[str(party.party_id)] = {
                        DEFAULT_KEY: [_rollsite_remote(party.host, party.proxy_port, federation.tls)]
                    }
        for party in local:
            routes[str(party.party_id)] = {
                DEFAULT_KEY: [_endpoint(party.host, party.proxy_port)],
                FATEFLOW_ROLE: [_endpoint(party.host, party.flow_grpc_port)],
            }
    return {"route_table": routes, "permission": {"default_allow": True}}


def render_osx(federation: Federation, self_party_id: int | None = None) -> dict[str, Any]:
    """OSX's route_table.json (FATE 2.x) for one party, or for the exchange (None)."""
    me = _viewpoint(federation, self_party_id)
    if federation.topology == "star":
        _check_exchange_port(federation, "osx_port", "proxy_port", "osx")
    routes: dict[str, Any] = {}
    self_party: list[str] = []
    if me is None:
        for party in federation.parties:
            routes[str(party.party_id)] = {DEFAULT_KEY: [_osx_remote(party.host, party.proxy_port, federation.tls)]}
    else:
        local = _colocated(federation, me, "proxy_port")
        if federation.topology == "star":
            exchange = _exchange(federation)
            routes[DEFAULT_KEY] = {DEFAULT_KEY: [_osx_remote(exchange.host, exchange.osx_port, federation.tls)]}
        else:
            for party in federation.parties:
                if party not in local:
                    routes[str(party.party_id)] = {
                        DEFAULT_KEY: [_osx_remote(party.host, party.proxy_port, federation.tls)]
                    }
        # No "default" role for a local party: OSX flags a route to its own address as a cycle and refuses it.
        for party in local:
            routes[str(party.party_id)] = {FATEFLOW_ROLE: [_endpoint(party.host, party.flow_grpc_port)]}
        self_party = [str(party.party_id) for party in local]
    return {"route_table": routes, "self_party": self_party, "permission": {"default_allow": True}}


def render_nginx(federation: Federation, self_party_id: int | None = None) -> dict[str, Any]:
    """The nginx routing of FATE-Flow's calls between parties, as data: the port nginx listens on and
    dest-party-id -> upstream address ("default" for any other id; absent means 404)."""
    me = _viewpoint(federation, self_party_id)
    if federation.topology == "star":
        _check_exchange_port(federation, "nginx_http_port", "nginx_http_port", "nginx")
    routes: dict[str, str] = {}
    if me is None:
        listen = _exchange(federation).nginx_http_port
        for party in federation.parties:
            routes[str(party.party_id)] = _address(party.host, party.nginx_http_port)
    else:
        listen = me.nginx_http_port
        if federation.topology == "star":
            exchange = _exchange(federation)
            for party in _colocated(federation, me, "nginx_http_port"):
                routes[str(party.party_id)] = _address(party.host, party.flow_http_port)
            routes[DEFAULT_KEY] = _address(exchange.host, exchange.nginx_http_port)
        else:
            for party in federation.parties:
                routes[str(party.party_id)] = _address(party.host, party.flow_http_port)
    return {"listen": listen, "routes": routes}


def render_rabbitmq(federation: Federation, self_party_id: int | None = None) -> dict[str, Any]:
    """FATE's rabbitmq_route_table.yaml: where each party's broker is reached. In a mesh every party's own
    broker. In a star a party reaches its own broker directly and every other party's through the exchange's
    port for that party; the exchange's own table lists every party's broker (what its ports forward to)."""
    me = _viewpoint(federation, self_party_id) if federation.topology == "star" else None
    if self_party_id is not None:
        federation.party(self_party_id)
    table: dict[str, Any] = {}
    for party in sorted(federation.parties, key=lambda p: p.party_id):
        if me is None or party.party_id == me.party_id:
            table[str(party.party_id)] = {"host": party.host, "port": party.rabbitmq_port}
            continue
        if party.exchange_rabbitmq_port is None:
            raise FederationError(
                f"party {party.party_id} has no exchange_rabbitmq_port; a star routes RabbitMQ through the exchange, "
                "so give every party the exchange port that leads to its broker"
            )
        table[str(party.party_id)] = {"host": _exchange(federation).host, "port": party.exchange_rabbitmq_port}
    return table


_RENDERERS = {
    "rollsite": render_rollsite,
    "osx": render_osx,
    "nginx": render_nginx,
    "rabbitmq": render_rabbitmq,
}


def _check_format(table_format: str) -> None:
    if table_format not in FORMATS:
        raise RouteTableError(f"unknown route table format {table_format!r}; use one of {', '.join(FORMATS)}")


def render_table(federation: Federation, table_format: str, self_party_id: int | None = None) -> dict[str, Any]:
    """The table of `table_format` for party `self_party_id` (None: the exchange of a star)."""
    _check_format(table_format)
    return _RENDERERS[table_format](federation, self_party_id)


# ------------------------------------------------------------------------------------------------ serializing


_PARTY_ID_TEXT = re.compile(r"[1-9][0-9]*")


def _party_order(key: Any) -> tuple[int, int, str]:
    text = str(key)
    if text == DEFAULT_KEY:
        return (0, 0, text)
    if _PARTY_ID_TEXT.fullmatch(text):
        return (1, int(text), text)
    return (2, 0, text)


def _first(order: Iterable[str], keys: Iterable[str]) -> list[str]:
    """`keys` with those named in `order` first, in that order, then the rest sorted."""
    keys = list(keys)
    head = [key for key in order if key in keys]
    return head + sorted(key for key in keys if key not in head)


def _canonical_route_json(table: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _first(("route_table", "self_party", "permission"), table):
        value = table[key]
        if key == "route_table" and isinstance(value, Mapping):
            value = {party: _canonical_roles(value[party]) for party in sorted(value, key=_party_order)}
        elif key == "self_party" and isinstance(value, list):
            value = sorted(value, key=_party_order)
        out[key] = value
    return out


def _canonical_roles(roles: Any) -> Any:
    if not isinstance(roles, Mapping):
        return roles
    return {
        role: [
            {key: entry[key] for key in _first(("ip", "port"), entry)} if isinstance(entry, Mapping) else entry
            for entry in roles[role]
        ]
        if isinstance(roles[role], list)
        else roles[role]
        for role in _first((DEFAULT_KEY, FATEFLOW_ROLE), roles)
    }


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""}


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        # Plain only where no YAML reader can take it for a number, a boolean, a date or null: a name that
        # starts with a letter, or a dotted address. Everything else is double-quoted (JSON escapes are YAML's).
        plain_name = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", value) and value.lower() not in _YAML_WORDS
        dotted = re.fullmatch(r"[0-9]+(\.[0-9]+){2,}", value)
        # ASCII escapes keep every character on its line: no Unicode line separator can split a value.
        return value if plain_name or dotted else json.dumps(value, ensure_ascii=True)
    raise RouteTableError(f"{value!r} cannot be written to the RabbitMQ route table; use text or a number")


def _serialize_rabbitmq(table: Mapping[str, Any]) -> str:
    if not table:
        return "{}\n"
    lines: list[str] = []
    for party in sorted(table, key=_party_order):
        # Party ids stay plain so that YAML readers (FATE's) load them as the integers FATE looks up.
        key = str(party) if _PARTY_ID_TEXT.fullmatch(str(party)) else json.dumps(str(party), ensure_ascii=True)
        value = table[party]
        if not isinstance(value, Mapping) or not value:
            raise RouteTableError(
                f"route of party {party} in the RabbitMQ table is {value!r}; give a mapping with host and port"
            )
        lines.append(f"{key}:")
        for name in _first(("host", "port"), value):
            if isinstance(value[name], (Mapping, list)):
                raise RouteTableError(f"{party}.{name} of the RabbitMQ table is nested; give host and port only")
            lines.append(f"  {_yaml_scalar(str(name))}: {_yaml_scalar(value[name])}")
    return "\n".join(lines) + "\n"


_NGINX_TOKEN = re.compile(r"[A-Za-z0-9_.:\[\]-]+")


def _nginx_value(value: str) -> str:
    if value == "":
        return '""'
    if _NGINX_TOKEN.fullmatch(value):
        return value
    raise RouteTableError(f"nginx route value {value!r} is not an address; give host:port")


def _serialize_nginx(table: Mapping[str, Any]) -> str:
    routes = table.get("routes") or {}
    listen = table.get("listen")
    _check_port(listen, "the nginx listen port")
    lines = [
        "# FATE-Flow coordination between parties, written by fateops.federation.fate_route_table.",
        "# FATE-Flow names the party a call is for in its dest-party-id header; this maps it to an upstream.",
        f"map {NGINX_HEADER_VARIABLE} {NGINX_UPSTREAM_VARIABLE} {{",
    ]
    for key in sorted((k for k in routes if k != DEFAULT_KEY), key=_party_order):
        if not _NGINX_TOKEN.fullmatch(str(key)):
            raise RouteTableError(f"nginx route key {key!r} is not a party id; give party ids as numbers")
        lines.append(f"    {key} {_nginx_value(routes[key])};")
    lines.append(f"    {DEFAULT_KEY} {_nginx_value(routes.get(DEFAULT_KEY, ''))};")
    lines += [
        "}",
        "",
        "server {",
        f"    listen {listen};",
        "    server_name _;",
        "    default_type text/plain;",
        # Model files and data can be large; FATE-Flow, not nginx, decides what it accepts.
        "    client_max_body_size 0;",
        "    location / {",
        f'        if ({NGINX_UPSTREAM_VARIABLE} = "") {{',
        f"            return 404 \"no FATE-Flow route for dest-party-id '{NGINX_HEADER_VARIABLE}' on this nginx: "
        'add that party to the federation and render its route tables again\\n";',
        "        }",
        "        proxy_http_version 1.1;",
        f"        proxy_pass http://{NGINX_UPSTREAM_VARIABLE};",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def serialize_table(table_format: str, table: Mapping[str, Any]) -> str:
    """The canonical text of a table: the same table always gives the same text, whatever its key order."""
    _check_format(table_format)
    if table_format in ("rollsite", "osx"):
        return json.dumps(_canonical_route_json(table), indent=2, ensure_ascii=False) + "\n"
    if table_format == "rabbitmq":
        return _serialize_rabbitmq(table)
    return _serialize_nginx(table)


# ---------------------------------------------------------------------------------------------------- parsing

_FIX_HINT = "fix the file, or set exclusive=true to replace it"


def _parse_route_json(text: str, table_format: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TableParseError(f"not valid JSON ({exc}); {_FIX_HINT}") from None
    if not isinstance(data, dict):
        raise TableParseError(f"the top level is not a JSON object; {_FIX_HINT}")
    routes = data.get("route_table")
    if not isinstance(routes, dict):
        raise TableParseError(f"no 'route_table' object; {_FIX_HINT}")
    for party, roles in routes.items():
        if not isinstance(roles, dict):
            raise TableParseError(f"route_table.{party} is not an object of roles; {_FIX_HINT}")
        for role, entries in roles.items():
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise TableParseError(f"route_table.{party}.{role} is not a list of endpoints; {_FIX_HINT}")
    if table_format == "osx" and "self_party" in data:
        self_party = data["self_party"]
        if not isinstance(self_party, list) or not all(isinstance(item, (str, int)) for item in self_party):
            raise TableParseError(f"self_party is not a list of party ids; {_FIX_HINT}")
    return data


def _yaml_value(text: str, line_number: int) -> Any:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.loads(text)
        except ValueError:
            raise TableParseError(f"line {line_number}: bad double-quoted text {text}; {_FIX_HINT}") from None
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise TableParseError(f"line {line_number}: unterminated quoted text {text}; {_FIX_HINT}")
        return text[1:-1].replace("''", "'")
    if text[:1] in "[{&*!|>%@`":
        raise TableParseError(
            f"line {line_number}: {text!r} is YAML this reader does not take; write plain 'key: value' lines "
            f"like FATE's example, or set exclusive=true to replace the file"
        )
    lowered = text.lower()
    if lowered in ("", "~", "null"):
        return None
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", text):
        return float(text)
    return text


def _strip_yaml_comment(line: str) -> str:
    quote = ""
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1  # an escaped character, even a quote, does not end the text
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
        index += 1
    return line


def _split_yaml_key(line: str, line_number: int) -> tuple[str, str]:
    match = re.fullmatch(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s:'"][^:]*?)\s*:(?:\s+(.*)|\s*)""", line)
    if not match:
        raise TableParseError(f"line {line_number}: expected 'key: value', found {line.strip()!r}; {_FIX_HINT}")
    key = _yaml_value(match.group(1), line_number)
    return ("" if key is None else str(key)), (match.group(2) or "")


def parse_rabbitmq(text: str) -> dict[str, Any]:
    """FATE's rabbitmq_route_table.yaml: ``{party_id: {host, port, ...}}`` with party ids as text."""
    table: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    current_key = ""
    child_indent: int | None = None
    # YAML breaks lines at \n (and \r\n) only; str.splitlines() would also split at Unicode separators.
    lines = text.replace("\r\n", "\n").split("\n")
    content = [(number, _strip_yaml_comment(raw).rstrip()) for number, raw in enumerate(lines, start=1)]
    content = [(number, line) for number, line in content if line.strip() and line.strip() not in ("---", "...")]
    if len(content) == 1 and content[0][1].strip() == "{}":
        return {}
    for number, line in content:
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise TableParseError(f"line {number}: YAML indentation must be spaces, not tabs; {_FIX_HINT}")
        indent = len(line) - len(line.lstrip(" "))
        key, value = _split_yaml_key(line, number)
        if indent == 0:
            if value.strip():
                raise TableParseError(
                    f"line {number}: party {key} needs its host and port on indented lines below it; {_FIX_HINT}"
                )
            if key in table:
                raise TableParseError(f"line {number}: party {key} appears twice; {_FIX_HINT}")
            current, current_key, child_indent = {}, key, None
            table[key] = current
            continue
        if current is None:
            raise TableParseError(f"line {number}: an indented line before any party id; {_FIX_HINT}")
        if child_indent is None:
            child_indent = indent
        elif indent != child_indent:
            raise TableParseError(f"line {number}: indentation differs from the lines above it; {_FIX_HINT}")
        if key in current:
            raise TableParseError(f"line {number}: {current_key}.{key} appears twice; {_FIX_HINT}")
        if not value.strip():
            raise TableParseError(f"line {number}: {current_key}.{key} has no value; {_FIX_HINT}")
        current[key] = _yaml_value(value, number)
    for key, value in table.items():
        if not value:
            raise TableParseError(f"party {key} has no host and port; {_FIX_HINT}")
    return table


def _strip_nginx_comments(text: str) -> str:
    out: list[str] = []
    for line in text.splitlines():
        quote = ""
        kept = line
        for index, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char
            elif char == "#":
                kept = line[:index]
                break
        out.append(kept)
    return "\n".join(out)


def parse_nginx(text: str) -> dict[str, Any]:
    """The routes of an nginx snippet written by :func:`serialize_table`: its listen port and its
    ``map $http_dest_party_id`` entries. Other directives are the renderer's, not data."""
    body = _strip_nginx_comments(text)
    mapping = re.search(r"\bmap\s+\$http_dest_party_id\s+\$\w+\s*\{([^{}]*)\}", body)
    if not mapping:
        raise TableParseError(f"no 'map $http_dest_party_id' block: fate_route_table did not write this; {_FIX_HINT}")
    routes: dict[str, str] = {}
    for statement in mapping.group(1).split(";"):
        words = statement.split()
        if not words:
            continue
        if len(words) != 2:
            raise TableParseError(f"map entry {statement.strip()!r} is not 'party_id address;'; {_FIX_HINT}")
        key, value = words
        if value in ('""', "''"):
            value = ""
        elif value[:1] in "\"'" and value[-1:] == value[:1]:
            value = value[1:-1]
        if key in routes:
            raise TableParseError(f"party {key} appears twice in the map; {_FIX_HINT}")
        routes[key] = value
    listen_match = re.search(r"^\s*listen\s+(?:\S*:)?([0-9]+)\b[^;]*;", body[mapping.end() :], re.MULTILINE)
    listen = int(listen_match.group(1)) if listen_match else None
    if routes.get(DEFAULT_KEY) == "":
        # `default "";` is how the renderer writes "no default route".
        del routes[DEFAULT_KEY]
    return {"listen": listen, "routes": routes}


def parse_table(table_format: str, text: str) -> dict[str, Any]:
    """Read a table file's text back into the data the renderers produce. Raises TableParseError."""
    _check_format(table_format)
    if table_format in ("rollsite", "osx"):
        return _parse_route_json(text, table_format)
    if table_format == "rabbitmq":
        return parse_rabbitmq(text)
    return parse_nginx(text)


@dataclass(frozen=True)
class RouteEntry:
    """One route of a table: to `party` (an id, or "default") for `role`, reach `host`:`port`.

    `role` is the table's own role key for rollsite and osx ("default", "fateflow", ...), "http" for nginx and
    "broker" for RabbitMQ. `attributes` holds the entry's other keys as found (protocol, useSSL, caFile, ...).
    """

    party: str
    role: str
    host: str
    port: int | None
    attributes: tuple[tuple[str, Any], ...] = ()


def _split_address(address: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"\[(.+)\]:([0-9]+)|([^:]+):([0-9]+)", address)
    if not match:
        return address, None
    host = match.group(1) or match.group(3)
    return host, int(match.group(2) or match.group(4))


def route_entries(table_format: str, table: Mapping[str, Any]) -> list[RouteEntry]:
    """Every route of a table, in canonical order."""
    _check_format(table_format)
    entries: list[RouteEntry] = []
    if table_format in ("rollsite", "osx"):
        routes = _canonical_route_json(table).get("route_table", {})
        for party, roles in routes.items():
            for role, endpoints in roles.items():
                for endpoint in endpoints:
                    attributes = tuple((k, v) for k, v in endpoint.items() if k not in ("ip", "port"))
                    entries.append(RouteEntry(party, role, endpoint.get("ip", ""), endpoint.get("port"), attributes))
    elif table_format == "nginx":
        routes = table.get("routes") or {}
        for party in sorted(routes, key=_party_order):
            host, port = _split_address(routes[party])
            entries.append(RouteEntry(party, "http", host, port))
    else:
        for party in sorted(table, key=_party_order):
            value = dict(table[party])
            attributes = tuple((k, value[k]) for k in sorted(value) if k not in ("host", "port"))
            entries.append(RouteEntry(str(party), "broker", value.get("host", ""), value.get("port"), attributes))
    return entries


# ------------------------------------------------------------------------------------------ merging, comparing


def _routes(table_format: str, table: dict[str, Any]) -> dict[str, Any]:
    """The party-keyed part of a table, the one object in it that merges route by route."""
    if table_format in ("rollsite", "osx"):
        return table.setdefault("route_table", {})
    if table_format == "nginx":
        return table.setdefault("routes", {})
    return table


def merge_tables(
    table_format: str,
    existing: Mapping[str, Any] | None,
    rendered: Mapping[str, Any],
    owned_party_ids: Iterable[int | str],
    exclusive: bool = False,
) -> dict[str, Any]:
    """The rendered table merged into the existing one.

    The model owns the routes of every party in `owned_party_ids` (the federation) and every key the rendered
    table has ("default" in a star): those are replaced by the rendered ones, or dropped when the rendered table
    has none (a party reached through the exchange). Every other route of `existing` (added by hand) is kept,
    and so is a hand-set ``permission``, unless `exclusive`, which gives the rendered table alone.
    """
    _check_format(table_format)
    if exclusive or existing is None:
        return copy.deepcopy(dict(rendered))
    merged = copy.deepcopy(dict(existing))
    rendered_copy = copy.deepcopy(dict(rendered))
    rendered_routes = _routes(table_format, rendered_copy)
    owned = {str(party_id) for party_id in owned_party_ids} | set(rendered_routes)
    routes = _routes(table_format, merged)
    for key in [key for key in routes if str(key) in owned]:
        del routes[key]
    routes.update(rendered_routes)
    if table_format in ("rollsite", "osx") and "permission" in rendered_copy:
        merged.setdefault("permission", rendered_copy["permission"])
    if table_format == "osx":
        kept = [str(item) for item in existing.get("self_party") or [] if str(item) not in owned]
        merged["self_party"] = sorted(set(kept) | set(rendered_copy.get("self_party") or []), key=_party_order)
    if table_format == "nginx":
        merged["listen"] = rendered_copy.get("listen")
    return merged


def remove_parties(table_format: str, existing: Mapping[str, Any], party_ids: Iterable[int | str]) -> dict[str, Any]:
    """The existing table without the routes of these parties (and, for osx, without them in self_party)."""
    _check_format(table_format)
    removed = {str(party_id) for party_id in party_ids}
    result = copy.deepcopy(dict(existing))
    routes = _routes(table_format, result)
    for key in [key for key in routes if str(key) in removed]:
        del routes[key]
    if table_format == "osx" and "self_party" in result:
        result["self_party"] = [item for item in result["self_party"] if str(item) not in removed]
    return result


def _normalized(table_format: str, table: Mapping[str, Any]) -> Any:
    data = copy.deepcopy(dict(table))
    if table_format == "osx" and isinstance(data.get("self_party"), list):
        # self_party is a set of ids; OSX does not care about their order or whether they are text or numbers.
        data["self_party"] = sorted({str(item) for item in data["self_party"]}, key=_party_order)
    if table_format == "rabbitmq":
        data = {str(key): value for key, value in data.items()}
    if table_format == "nginx":
        routes = dict(data.get("routes") or {})
        if routes.get(DEFAULT_KEY) == "":
            del routes[DEFAULT_KEY]
        data["routes"] = {str(key): value for key, value in routes.items()}
    return data


def tables_equal(table_format: str, first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """True when two tables route the same way: key order, whitespace and formatting do not count."""
    _check_format(table_format)
    return _normalized(table_format, first) == _normalized(table_format, second)
