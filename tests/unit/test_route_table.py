"""The route model: validation, rendering (golden files), parsing, merging, and their properties."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.route_codecs import (
    RouteEntry,
    TableParseError,
    merge_tables,
    parse_table,
    remove_parties,
    route_entries,
    serialize_table,
    tables_equal,
)
from ansible_collections.fateops.federation.plugins.module_utils.route_model import (
    Exchange,
    Federation,
    FederationError,
    Party,
    RouteTableError,
    Tls,
    federation_from_dict,
    party_from_dict,
)
from ansible_collections.fateops.federation.plugins.module_utils.route_render import FORMATS, render_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GOLDEN = Path(__file__).parent / "golden" / "route_tables"
# Set to rewrite the golden files from the renderers after a deliberate change; review the diff before committing.
REGENERATE = os.environ.get("FATEOPS_REGENERATE_GOLDEN") == "1"
EXTENSIONS = {"rollsite": "json", "osx": "json", "nginx": "conf", "rabbitmq": "yaml"}

# KubeFATE's two-party example, and three parties around an exchange (documentation addresses).
MESH = federation_from_dict(
    [{"party_id": 9999, "host": "192.0.2.10"}, {"party_id": 10000, "host": "192.0.2.11"}],
)
STAR = federation_from_dict(
    [
        {"party_id": 9999, "host": "192.0.2.10", "exchange_rabbitmq_port": 35672},
        {"party_id": 10000, "host": "192.0.2.11", "exchange_rabbitmq_port": 35673},
        {"party_id": 10001, "host": "192.0.2.12", "exchange_rabbitmq_port": 35674},
    ],
    topology="star",
    exchange={"host": "192.0.2.1"},
)
# The star with mutual TLS between the parties' proxies and the exchange.
STAR_TLS = Federation(
    STAR.parties,
    topology="star",
    exchange=STAR.exchange,
    tls=Tls(
        ca_file="/data/projects/fate/certs/ca.pem",
        cert_chain_file="/data/projects/fate/certs/proxy.crt",
        private_key_file="/data/projects/fate/certs/proxy.key",
    ),
)
FEDERATIONS = {"mesh": MESH, "star": STAR, "star_tls": STAR_TLS}
VIEWPOINTS = [("mesh", 9999), ("mesh", 10000), ("star", 9999), ("star", 10001), ("star", None)]
GOLDEN_CASES = [(fmt, topology, party) for fmt in FORMATS for topology, party in VIEWPOINTS] + [
    (fmt, "star_tls", party) for fmt in ("rollsite", "osx") for party in (9999, None)
]


def golden_path(table_format: str, topology: str, party: int | None) -> Path:
    return GOLDEN / f"{table_format}_{topology}_{party or 'exchange'}.{EXTENSIONS[table_format]}"


# ------------------------------------------------------------------------------------------------ golden files


@pytest.mark.parametrize(("table_format", "topology", "party"), GOLDEN_CASES)
def test_rendered_tables_match_golden_files(table_format: str, topology: str, party: int | None) -> None:
    text = serialize_table(table_format, render_table(FEDERATIONS[topology], table_format, party))
    path = golden_path(table_format, topology, party)
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("table_format", "topology", "party"), GOLDEN_CASES)
def test_golden_files_parse_back_to_the_rendered_table(table_format: str, topology: str, party: int | None) -> None:
    rendered = render_table(FEDERATIONS[topology], table_format, party)
    parsed = parse_table(table_format, golden_path(table_format, topology, party).read_text(encoding="utf-8"))
    assert tables_equal(table_format, parsed, rendered)
    assert route_entries(table_format, parsed) == route_entries(table_format, rendered)


def test_golden_rabbitmq_files_read_the_same_with_pyyaml() -> None:
    # FATE reads this file with a YAML library: party ids must come back as integers, hosts as text.
    loaded = yaml.safe_load(golden_path("rabbitmq", "mesh", 9999).read_text(encoding="utf-8"))
    assert loaded == {9999: {"host": "192.0.2.10", "port": 5672}, 10000: {"host": "192.0.2.11", "port": 5672}}


def test_golden_json_files_are_plain_json() -> None:
    for path in GOLDEN.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


# A party's table as KubeFATE's generate_config.sh lays it out (tabs, port before ip, other key order): the same
# routes as the renderer's, so the module must see no change.
KUBEFATE_LAYOUT_OSX = """{
\t"route_table":
\t{
\t\t"10000": {
\t\t\t"default": [{
\t\t\t\t"port": 9370,
\t\t\t\t"ip": "192.0.2.11"
\t\t\t}]
\t\t},
\t\t"9999": {"fateflow": [{"port": 9360, "ip": "192.0.2.10"}]}
\t},
\t"permission": {"default_allow": true},
\t"self_party": [ "9999" ]
}
"""
KUBEFATE_LAYOUT_ROLLSITE = """{"permission": {"default_allow": true}, "route_table": {
  "9999": {"fateflow": [{"port": 9360, "ip": "192.0.2.10"}], "default": [{"port": 9370, "ip": "192.0.2.10"}]},
  "10000": {"default": [{"ip": "192.0.2.11", "port": 9370}]},
  "default": {"default": [{"ip": "192.0.2.10", "port": 9370}]}}}"""
KUBEFATE_LAYOUT_RABBITMQ = """# written by hand
10000:
    host: 192.0.2.11   # the host party
    port: 5672

9999:
    port: 5672
    host: '192.0.2.10'
"""


@pytest.mark.parametrize(
    ("table_format", "text"),
    [("osx", KUBEFATE_LAYOUT_OSX), ("rollsite", KUBEFATE_LAYOUT_ROLLSITE), ("rabbitmq", KUBEFATE_LAYOUT_RABBITMQ)],
)
def test_same_routes_in_another_layout_are_equal(table_format: str, text: str) -> None:
    assert tables_equal(table_format, parse_table(table_format, text), render_table(MESH, table_format, 9999))


def test_nginx_snippet_with_other_whitespace_and_comments_is_equal() -> None:
    text = serialize_table("nginx", render_table(MESH, "nginx", 9999))
    edited = text.replace("    9999 192.0.2.10:9380;", "  9999    192.0.2.10:9380 ;  # guest").replace("\n}", "\n\n}")
    assert tables_equal("nginx", parse_table("nginx", edited), render_table(MESH, "nginx", 9999))


# ---------------------------------------------------------------------------------------------------- validation


def test_duplicate_party_id_is_rejected() -> None:
    with pytest.raises(FederationError, match=r"duplicate party id 9999 .*list each party once"):
        federation_from_dict([{"party_id": 9999, "host": "192.0.2.10"}, {"party_id": 9999, "host": "192.0.2.11"}])


@pytest.mark.parametrize("port", [0, 65536, -1, "http", True, 93.8, None])
def test_bad_port_is_rejected(port: Any) -> None:
    data = {"party_id": 9999, "host": "192.0.2.10", "flow_http_port": port}
    if port is None:
        # Null means "FATE's default" (what Ansible passes for an unset suboption).
        assert party_from_dict(data).flow_http_port == 9380
        return
    with pytest.raises(FederationError, match=r"party 9999 flow_http_port is .*not a port; give an integer from 1"):
        party_from_dict(data)


def test_port_written_as_text_is_accepted() -> None:
    assert party_from_dict({"party_id": "9999", "host": "192.0.2.10", "proxy_port": "9371"}).proxy_port == 9371


@pytest.mark.parametrize("party_id", ["guest", 99.5, True, [9999]])
def test_non_integer_party_id_is_rejected(party_id: Any) -> None:
    with pytest.raises(FederationError, match=r"party id .* is not an integer; FATE party ids are positive integers"):
        party_from_dict({"party_id": party_id, "host": "192.0.2.10"})


def test_missing_or_non_positive_party_id_is_rejected() -> None:
    with pytest.raises(FederationError, match="party_id of a party is missing"):
        party_from_dict({"host": "192.0.2.10"})
    with pytest.raises(FederationError, match="party id 0 is not positive"):
        Party(0, "192.0.2.10")


def test_star_without_exchange_is_rejected() -> None:
    with pytest.raises(FederationError, match=r"topology star needs an exchange .*give exchange.host"):
        federation_from_dict([{"party_id": 9999, "host": "192.0.2.10"}], topology="star")


def test_unknown_topology_is_rejected() -> None:
    with pytest.raises(FederationError, match=r"unknown topology 'ring'; use one of mesh, star"):
        federation_from_dict([{"party_id": 9999, "host": "192.0.2.10"}], topology="ring")


def test_unknown_party_is_rejected() -> None:
    with pytest.raises(FederationError, match=r"unknown party 20000: the federation has parties 9999, 10000"):
        render_table(MESH, "osx", 20000)
    with pytest.raises(FederationError, match="unknown party 20000"):
        render_table(MESH, "rabbitmq", 20000)


@pytest.mark.parametrize("host", ["", None, "192.0.2.10; drop", "host name", '"q"', "a{b}"])
def test_bad_host_is_rejected(host: Any) -> None:
    with pytest.raises(FederationError, match="party 9999"):
        party_from_dict({"party_id": 9999, "host": host})


def test_no_party_is_rejected() -> None:
    with pytest.raises(FederationError, match="has no party"):
        Federation(())


def test_mesh_needs_the_party_whose_table_it_is() -> None:
    with pytest.raises(FederationError, match="self_party_id is missing; a mesh has no exchange"):
        render_table(MESH, "rollsite", None)


def test_tls_certificate_without_key_is_rejected() -> None:
    with pytest.raises(FederationError, match="cert_chain_file and private_key_file together"):
        Tls(cert_chain_file="/certs/party.crt")


def test_exchange_on_a_party_host_must_not_take_its_ports() -> None:
    federation = federation_from_dict(
        [{"party_id": 9999, "host": "192.0.2.10"}], topology="star", exchange={"host": "192.0.2.10"}
    )
    # rollsite's exchange is on 9371, the party's rollsite on 9370: they share the host.
    render_table(federation, "rollsite", 9999)
    with pytest.raises(FederationError, match=r"exchange's osx_port and party 9999's proxy_port are both"):
        render_table(federation, "osx", None)
    with pytest.raises(FederationError, match="give the exchange another nginx_http_port"):
        render_table(federation, "nginx", 9999)


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(RouteTableError, match="unknown route table format 'pulsar'"):
        render_table(MESH, "pulsar", 9999)


# ------------------------------------------------------------------------------------------------------ rendering


def test_mesh_party_routes_to_every_other_party_directly() -> None:
    table = render_table(MESH, "osx", 9999)
    assert table["route_table"]["10000"] == {"default": [{"ip": "192.0.2.11", "port": 9370}]}
    assert table["route_table"]["9999"] == {"fateflow": [{"ip": "192.0.2.10", "port": 9360}]}
    assert table["self_party"] == ["9999"]
    assert "default" not in table["route_table"]


def test_star_party_knows_only_itself_and_the_exchange() -> None:
    for table_format, exchange_port in (("rollsite", 9371), ("osx", 9370)):
        routes = render_table(STAR, table_format, 10000)["route_table"]
        assert set(routes) == {"default", "10000"}
        assert routes["default"] == {"default": [{"ip": "192.0.2.1", "port": exchange_port}]}
    nginx = render_table(STAR, "nginx", 10000)
    assert nginx["routes"] == {"10000": "192.0.2.11:9380", "default": "192.0.2.1:9300"}


def test_star_exchange_knows_every_party() -> None:
    rollsite = render_table(STAR, "rollsite", None)["route_table"]
    assert rollsite == {str(party.party_id): {"default": [{"ip": party.host, "port": 9370}]} for party in STAR.parties}
    nginx = render_table(STAR, "nginx", None)
    assert nginx == {
        "listen": 9300,
        "routes": {"9999": "192.0.2.10:9300", "10000": "192.0.2.11:9300", "10001": "192.0.2.12:9300"},
    }
    assert render_table(STAR, "osx", None)["self_party"] == []


def test_parties_behind_one_proxy_are_all_local() -> None:
    federation = federation_from_dict(
        [
            {"party_id": 9999, "host": "192.0.2.10"},
            {"party_id": 10000, "host": "192.0.2.10"},
            {"party_id": 10001, "host": "192.0.2.11"},
        ],
        topology="star",
        exchange={"host": "192.0.2.1"},
    )
    osx = render_table(federation, "osx", 10000)
    assert osx["self_party"] == ["9999", "10000"]
    assert set(osx["route_table"]) == {"default", "9999", "10000"}
    assert render_table(federation, "nginx", 9999)["routes"] == {
        "9999": "192.0.2.10:9380",
        "10000": "192.0.2.10:9380",
        "default": "192.0.2.1:9300",
    }


def test_port_overrides_reach_the_tables() -> None:
    federation = federation_from_dict(
        [
            {"party_id": 9999, "host": "192.0.2.10", "flow_http_port": 9480, "nginx_http_port": 9400},
            {
                "party_id": 10000,
                "host": "192.0.2.11",
                "proxy_port": 9470,
                "flow_grpc_port": 9460,
                "rabbitmq_port": 5673,
            },
        ]
    )
    assert render_table(federation, "nginx", 10000)["routes"]["9999"] == "192.0.2.10:9480"
    assert render_table(federation, "nginx", 9999)["listen"] == 9400
    assert render_table(federation, "osx", 9999)["route_table"]["10000"]["default"][0]["port"] == 9470
    assert render_table(federation, "rollsite", 10000)["route_table"]["10000"]["fateflow"][0]["port"] == 9460
    assert render_table(federation, "rabbitmq", 9999)["10000"] == {"host": "192.0.2.11", "port": 5673}


def test_tls_marks_routes_between_hosts_only() -> None:
    federation = Federation(
        STAR.parties,
        topology="star",
        exchange=Exchange("192.0.2.1"),
        tls=Tls(ca_file="/certs/ca.pem", cert_chain_file="/certs/party.crt", private_key_file="/certs/party.key"),
    )
    osx = render_table(federation, "osx", 9999)["route_table"]
    assert osx["default"]["default"][0] == {
        "ip": "192.0.2.1",
        "port": 9370,
        "useSSL": True,
        "caFile": "/certs/ca.pem",
        "certChainFile": "/certs/party.crt",
        "privateKeyFile": "/certs/party.key",
    }
    assert osx["9999"]["fateflow"][0] == {"ip": "192.0.2.10", "port": 9360}
    rollsite = render_table(federation, "rollsite", None)["route_table"]
    assert all(route["default"][0]["is_secure"] is True for route in rollsite.values())
    assert "is_secure" not in render_table(federation, "rollsite", 9999)["route_table"]["9999"]["default"][0]


def test_ipv6_addresses_are_bracketed_in_nginx() -> None:
    federation = federation_from_dict([{"party_id": 9999, "host": "2001:db8::10"}])
    assert render_table(federation, "nginx", 9999)["routes"] == {"9999": "[2001:db8::10]:9380"}
    text = serialize_table("nginx", render_table(federation, "nginx", 9999))
    assert "    9999 [2001:db8::10]:9380;" in text
    assert route_entries("nginx", parse_table("nginx", text)) == [RouteEntry("9999", "http", "2001:db8::10", 9380)]


def test_nginx_snippet_answers_404_for_an_unknown_party() -> None:
    text = serialize_table("nginx", render_table(MESH, "nginx", 9999))
    assert "map $http_dest_party_id $fate_flow_upstream {" in text
    assert '    default "";' in text
    assert 'if ($fate_flow_upstream = "") {' in text
    assert "return 404 \"no FATE-Flow route for dest-party-id '$http_dest_party_id' on this nginx" in text
    assert "proxy_pass http://$fate_flow_upstream;" in text
    assert "listen 9300;" in text


def test_route_entries_of_a_rollsite_table() -> None:
    entries = route_entries("rollsite", render_table(MESH, "rollsite", 10000))
    assert entries == [
        RouteEntry("default", "default", "192.0.2.11", 9370),
        RouteEntry("9999", "default", "192.0.2.10", 9370),
        RouteEntry("10000", "default", "192.0.2.11", 9370),
        RouteEntry("10000", "fateflow", "192.0.2.11", 9360),
    ]


def test_serialization_does_not_depend_on_key_order() -> None:
    table = render_table(STAR, "osx", 9999)
    shuffled = {
        "permission": table["permission"],
        "self_party": table["self_party"],
        "route_table": dict(reversed(list(table["route_table"].items()))),
    }
    assert serialize_table("osx", shuffled) == serialize_table("osx", table)


# -------------------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("table_format", "text", "problem"),
    [
        ("osx", "{not json", "not valid JSON"),
        ("osx", "[]", "top level is not a JSON object"),
        ("rollsite", '{"permission": {}}', "no 'route_table' object"),
        ("rollsite", '{"route_table": {"9999": []}}', r"route_table.9999 is not an object of roles"),
        ("rollsite", '{"route_table": {"9999": {"default": {"ip": "x"}}}}', "is not a list of endpoints"),
        ("osx", '{"route_table": {}, "self_party": "9999"}', "self_party is not a list"),
        ("rabbitmq", "9999:\n\thost: a\n", "indentation must be spaces"),
        ("rabbitmq", "9999: {host: a, port: 1}\n", "needs its host and port on indented lines"),
        ("rabbitmq", "9999:\n  host: a\n9999:\n  host: b\n", "party 9999 appears twice"),
        ("rabbitmq", "9999:\n  host: a\n  host: b\n", r"9999.host appears twice"),
        ("rabbitmq", "9999:\n  host: a\n    port: 1\n", "indentation differs"),
        ("rabbitmq", "  host: a\n", "before any party id"),
        ("rabbitmq", "9999:\n", "party 9999 has no host and port"),
        ("rabbitmq", "9999:\n  host: [a, b]\n", "YAML this reader does not take"),
        ("rabbitmq", "just text\n", "expected 'key: value'"),
        ("nginx", "server { listen 9300; }\n", r"no 'map \$http_dest_party_id' block"),
        ("nginx", "map $http_dest_party_id $x { 9999 a b; }\n", "is not 'party_id address;'"),
    ],
)
def test_unreadable_tables_name_the_problem_and_the_fix(table_format: str, text: str, problem: str) -> None:
    with pytest.raises(TableParseError, match=problem) as raised:
        parse_table(table_format, text)
    assert "exclusive=true" in str(raised.value)


def test_rabbitmq_reader_takes_comments_quotes_and_markers() -> None:
    text = (
        '---\n# parties\n"9999":\n  host: "192.0.2.10" # guest\n  port: 5672\n'
        "10000:\n  host: 'it''s'\n  port: 5672\n...\n"
    )
    assert parse_table("rabbitmq", text) == {
        "9999": {"host": "192.0.2.10", "port": 5672},
        "10000": {"host": "it's", "port": 5672},
    }
    assert parse_table("rabbitmq", "{}\n") == {}
    assert parse_table("rabbitmq", "") == {}
    assert parse_table("rabbitmq", "9999:\r\n  host: a\r\n  port: 1\r\n") == {"9999": {"host": "a", "port": 1}}


def test_rabbitmq_writer_quotes_what_yaml_would_misread() -> None:
    table = {"9999": {"host": "yes", "port": 5672, "note": "1.5"}, "edge": {"host": "0x1F", "port": 1}}
    text = serialize_table("rabbitmq", table)
    assert yaml.safe_load(text) == {9999: table["9999"], "edge": table["edge"]}
    assert parse_table("rabbitmq", text) == table


# -------------------------------------------------------------------------------------------------------- merging


def test_hand_added_routes_survive_and_owned_routes_are_replaced() -> None:
    existing = render_table(MESH, "osx", 9999)
    existing["route_table"]["20000"] = {"default": [{"ip": "198.51.100.7", "port": 9370, "protocol": "grpc"}]}
    existing["route_table"]["10000"] = {"default": [{"ip": "203.0.113.1", "port": 1}]}
    existing["self_party"].append("30000")
    merged = merge_tables("osx", existing, render_table(MESH, "osx", 9999), MESH.party_ids)
    assert merged["route_table"]["20000"] == existing["route_table"]["20000"]
    assert merged["route_table"]["10000"] == {"default": [{"ip": "192.0.2.11", "port": 9370}]}
    assert merged["self_party"] == ["9999", "30000"]


def test_exclusive_keeps_only_the_rendered_routes() -> None:
    existing = {"route_table": {"20000": {"default": [{"ip": "198.51.100.7", "port": 9370}]}}}
    rendered = render_table(MESH, "rollsite", 9999)
    assert merge_tables("rollsite", existing, rendered, MESH.party_ids, exclusive=True) == rendered


def test_hand_set_permission_survives() -> None:
    existing = {"route_table": {}, "permission": {"default_allow": False}}
    merged = merge_tables("rollsite", existing, render_table(MESH, "rollsite", 9999), MESH.party_ids)
    assert merged["permission"] == {"default_allow": False}


def test_moving_to_a_star_drops_the_direct_routes_of_known_parties() -> None:
    existing = render_table(MESH, "rollsite", 9999)
    merged = merge_tables("rollsite", existing, render_table(STAR, "rollsite", 9999), STAR.party_ids)
    assert set(merged["route_table"]) == {"default", "9999"}


def test_hand_set_nginx_default_survives_in_a_mesh() -> None:
    existing = render_table(MESH, "nginx", 9999)
    existing["routes"]["default"] = "198.51.100.7:9300"
    existing["routes"]["20000"] = "198.51.100.8:9380"
    merged = merge_tables("nginx", existing, render_table(MESH, "nginx", 9999), MESH.party_ids)
    assert merged["routes"]["default"] == "198.51.100.7:9300"
    assert merged["routes"]["20000"] == "198.51.100.8:9380"


def test_removing_a_party_removes_only_its_routes() -> None:
    table = render_table(STAR, "rabbitmq", 9999)
    table["20000"] = {"host": "198.51.100.7", "port": 5672}
    assert remove_parties("rabbitmq", table, [10001]) == {
        "9999": {"host": "192.0.2.10", "port": 5672},
        "10000": {"host": "192.0.2.1", "port": 35673},
        "20000": {"host": "198.51.100.7", "port": 5672},
    }
    osx = render_table(STAR, "osx", None)
    osx["self_party"] = ["10001"]
    removed = remove_parties("osx", osx, ["10001"])
    assert set(removed["route_table"]) == {"9999", "10000"}
    assert removed["self_party"] == []


def test_merge_into_nothing_is_the_rendered_table() -> None:
    rendered = render_table(STAR, "nginx", None)
    assert merge_tables("nginx", None, rendered, STAR.party_ids) == rendered


# ---------------------------------------------------------------------------------------------- property tests

_PARTY_HOSTS = st.one_of(
    st.sampled_from(["192.0.2.10", "192.0.2.11", "192.0.2.12", "2001:db8::10"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,5})?", fullmatch=True),
)
_PORTS = st.integers(1, 65535)
_IDS = st.integers(1, 99_999)


@st.composite
def federations(draw: st.DrawFn) -> Federation:
    party_ids = draw(st.lists(_IDS, min_size=1, max_size=6, unique=True))
    parties = tuple(
        Party(
            party_id,
            draw(_PARTY_HOSTS),
            flow_http_port=draw(_PORTS),
            flow_grpc_port=draw(_PORTS),
            proxy_port=draw(st.sampled_from([9370, 9470, draw(_PORTS)])),
            nginx_http_port=draw(st.sampled_from([9300, draw(_PORTS)])),
            rabbitmq_port=draw(_PORTS),
            exchange_rabbitmq_port=draw(_PORTS),
        )
        for party_id in party_ids
    )
    topology = draw(st.sampled_from(["mesh", "star"]))
    # The exchange gets a host no party has, so that its ports never clash with a party's.
    exchange = Exchange("192.0.2.254", draw(_PORTS), draw(_PORTS), draw(_PORTS)) if topology == "star" else None
    tls = draw(st.none() | st.builds(Tls, st.just("/certs/ca.pem"), st.just("/certs/a.crt"), st.just("/certs/a.key")))
    return Federation(parties, topology, exchange, tls)


@st.composite
def viewpoints(draw: st.DrawFn) -> tuple[Federation, str, int | None]:
    federation = draw(federations())
    table_format = draw(st.sampled_from(FORMATS))
    choices: list[int | None] = list(federation.party_ids)
    if federation.topology == "star":
        choices.append(None)
    return federation, table_format, draw(st.sampled_from(choices))


# Routes someone added by hand: ids far above the federation's (or "default"), with extra keys FATE allows.
_HAND_IDS = st.integers(100_000, 999_999).map(str)
_ENDPOINTS = st.fixed_dictionaries(
    {"ip": st.sampled_from(["198.51.100.7", "hand.example"]), "port": _PORTS},
    optional={"protocol": st.sampled_from(["grpc", "http"]), "useSSL": st.booleans()},
)


def hand_routes(table_format: str) -> st.SearchStrategy[dict[str, Any]]:
    if table_format in ("rollsite", "osx"):
        roles = st.dictionaries(
            st.sampled_from(["default", "fateflow", "serving"]),
            st.lists(_ENDPOINTS, min_size=1, max_size=2),
            min_size=1,
        )
        return st.dictionaries(_HAND_IDS | st.just("default"), roles, max_size=3)
    if table_format == "nginx":
        return st.dictionaries(_HAND_IDS, st.sampled_from(["198.51.100.7:9380", "[2001:db8::7]:9300"]), max_size=3)
    brokers = st.fixed_dictionaries({"host": st.sampled_from(["198.51.100.7", "hand.example"]), "port": _PORTS})
    return st.dictionaries(_HAND_IDS, brokers, max_size=3)


def with_routes(table_format: str, base: dict[str, Any], routes: dict[str, Any]) -> dict[str, Any]:
    table = json.loads(json.dumps(base))
    if table_format in ("rollsite", "osx"):
        table["route_table"].update(routes)
    elif table_format == "nginx":
        table["routes"].update(routes)
    else:
        table.update(routes)
    return table


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(viewpoints())
def test_render_serialize_parse_round_trip(case: tuple[Federation, str, int | None]) -> None:
    federation, table_format, party = case
    rendered = render_table(federation, table_format, party)
    text = serialize_table(table_format, rendered)
    parsed = parse_table(table_format, text)
    assert tables_equal(table_format, parsed, rendered)
    assert route_entries(table_format, parsed) == route_entries(table_format, rendered)
    assert serialize_table(table_format, parsed) == text


@PROPERTY_SETTINGS
@given(st.data())
def test_merge_is_idempotent_and_keeps_hand_added_routes(data: st.DataObject) -> None:
    federation, table_format, party = data.draw(viewpoints())
    rendered = render_table(federation, table_format, party)
    other = data.draw(viewpoints().filter(lambda case: case[1] == table_format), label="an older table")
    hand = data.draw(hand_routes(table_format), label="hand-added routes")
    existing = with_routes(table_format, render_table(other[0], table_format, other[2]), hand)

    merged = merge_tables(table_format, existing, rendered, federation.party_ids)
    assert merge_tables(table_format, merged, rendered, federation.party_ids) == merged
    routes = merged.get("route_table", merged.get("routes", merged))
    owned = {str(i) for i in federation.party_ids}
    rendered_keys = set(rendered.get("route_table", rendered.get("routes", rendered)))
    for key, value in hand.items():
        if key not in owned and key not in rendered_keys:
            assert routes[key] == value
    for key in rendered_keys:
        assert routes[key] == rendered.get("route_table", rendered.get("routes", rendered))[key]
    # What is merged is written and read back as the same table.
    assert tables_equal(table_format, parse_table(table_format, serialize_table(table_format, merged)), merged)
    assert merge_tables(table_format, existing, rendered, federation.party_ids, exclusive=True) == rendered


@PROPERTY_SETTINGS
@given(st.data())
def test_removing_parties_touches_no_other_route(data: st.DataObject) -> None:
    federation, table_format, party = data.draw(viewpoints())
    table = render_table(federation, table_format, party)
    removed = data.draw(st.lists(st.sampled_from(federation.party_ids), unique=True))
    result = remove_parties(table_format, table, removed)
    before = table.get("route_table", table.get("routes", table))
    after = result.get("route_table", result.get("routes", result))
    assert set(after) == {key for key in before if key not in {str(i) for i in removed}}
    assert all(after[key] == before[key] for key in after)
    assert remove_parties(table_format, result, removed) == result


_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(
    categories=("Lu", "Ll", "Nd"), max_codepoint=0xFFFF
)
_YAML_SCALARS = st.one_of(
    st.text(_PRINTABLE, max_size=12),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
)


@PROPERTY_SETTINGS
@given(
    st.dictionaries(
        st.text(_PRINTABLE, min_size=1, max_size=8),
        st.dictionaries(st.text(_PRINTABLE, min_size=1, max_size=8), _YAML_SCALARS, min_size=1, max_size=3),
        max_size=4,
    )
)
def test_rabbitmq_yaml_reads_the_same_here_and_in_pyyaml(table: dict[str, dict[str, Any]]) -> None:
    text = serialize_table("rabbitmq", table)
    assert parse_table("rabbitmq", text) == table
    loaded = yaml.safe_load(text)
    assert {str(key): value for key, value in loaded.items()} == table


def test_star_routes_rabbitmq_through_the_exchange() -> None:
    # AMQP has no header to route on: the exchange forwards one port per party to that party's broker.
    table = render_table(STAR, "rabbitmq", 9999)
    assert table == {
        "9999": {"host": "192.0.2.10", "port": 5672},
        "10000": {"host": "192.0.2.1", "port": 35673},
        "10001": {"host": "192.0.2.1", "port": 35674},
    }
    assert render_table(STAR, "rabbitmq", None)["10000"] == {"host": "192.0.2.11", "port": 5672}


def test_star_rabbitmq_needs_the_exchange_port_of_every_party() -> None:
    star = federation_from_dict(
        [{"party_id": 9999, "host": "192.0.2.10"}, {"party_id": 10000, "host": "192.0.2.11"}],
        topology="star",
        exchange={"host": "192.0.2.1"},
    )
    with pytest.raises(FederationError, match="party 10000 has no exchange_rabbitmq_port"):
        render_table(star, "rabbitmq", 9999)
