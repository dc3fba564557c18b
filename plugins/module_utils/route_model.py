# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The route model of a FATE federation: parties, their ports, mesh or star topology, the exchange, TLS.

One :class:`Federation`, validated when built, is what every route table is rendered from (``route_render``)
and what the tables on disk are merged with (``route_codecs``). :func:`federation_from_dict` reads it from plain
data, the shape of fate_route_table's arguments and of the controller's ``fate_federation`` contract
(``fateops/deployment.py``).

Standard library only: it runs inside Ansible modules on party hosts and in the controller alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

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

PORT_RANGE = (1, 65535)
# Host names, IPv4 and IPv6 addresses; anything else (spaces, quotes, ';', braces) would break a table's syntax.
_HOST_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


class RouteTableError(ValueError):
    """A federation or a route table that cannot be used. The message names the problem and the fix."""


class FederationError(RouteTableError):
    """The description of the federation is invalid."""


def check_port(value: Any, what: str) -> None:
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
            check_port(getattr(self, name), f"party {self.party_id} {name}")


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
            check_port(getattr(self, name), f"the exchange's {name}")


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
