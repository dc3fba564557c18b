# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Every route table FATE reads, rendered from the route model (``route_model.Federation``) as plain data.

- ``rollsite``: eggroll rollsite's ``route_table.json`` (FATE 1.x);
- ``osx``: OSX's ``route_table.json`` (FATE 2.x), the rollsite shape plus ``self_party``;
- ``nginx``: the nginx routing of FATE-Flow's calls between parties by their ``dest-party-id`` header
  (the port nginx listens on and party id -> upstream), for a party's nginx and for the exchange's;
- ``rabbitmq``: FATE's ``conf/rabbitmq_route_table.yaml``, ``{party_id: {host, port}}``.

A rendered table is what the file holds, as data; ``route_codecs`` writes it as text and reads it back.

Star topology: a party's tables know only its own parties and the exchange; the exchange's tables know every
party. The exchange's table is rendered with ``self_party_id=None``.

Standard library only: it runs inside Ansible modules on party hosts and in the controller alike.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.route_model import (
    Exchange,
    Federation,
    FederationError,
    Party,
    RouteTableError,
    Tls,
)

FORMATS = ("rollsite", "osx", "nginx", "rabbitmq")

# The party key and the role key FATE's proxies fall back to when nothing more specific matches.
DEFAULT_KEY = "default"
FATEFLOW_ROLE = "fateflow"


def check_format(table_format: str) -> None:
    """Raise RouteTableError for a format no renderer (and no codec) knows."""
    if table_format not in FORMATS:
        raise RouteTableError(f"unknown route table format {table_format!r}; use one of {', '.join(FORMATS)}")


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


def render_table(federation: Federation, table_format: str, self_party_id: int | None = None) -> dict[str, Any]:
    """The table of `table_format` for party `self_party_id` (None: the exchange of a star)."""
    check_format(table_format)
    return _RENDERERS[table_format](federation, self_party_id)
