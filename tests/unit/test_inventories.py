"""The example inventories describe federations that render every route table, and Ansible reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.route_table import (
    FORMATS,
    FederationError,
    federation_from_inventory,
    parse_table,
    render_table,
    serialize_table,
    tables_equal,
)

INVENTORIES = Path(__file__).resolve().parents[2] / "inventories"
EXAMPLES = ["mesh", "star"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((INVENTORIES / name / "hosts.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_table_renders_for_every_party(name: str) -> None:
    federation = federation_from_inventory(load(name))
    assert federation.topology == name
    viewpoints: list[int | None] = list(federation.party_ids)
    if federation.topology == "star":
        viewpoints.append(None)
    for table_format in FORMATS:
        for party in viewpoints:
            table = render_table(federation, table_format, party)
            text = serialize_table(table_format, table)
            assert tables_equal(table_format, parse_table(table_format, text), table)


def test_mesh_example() -> None:
    federation = federation_from_inventory(load("mesh"))
    assert [(p.party_id, p.host) for p in federation.parties] == [(9999, "192.0.2.10"), (10000, "192.0.2.11")]
    assert federation.exchange is None
    host_party = federation.party(10000)
    assert (host_party.flow_http_port, host_party.nginx_http_port, host_party.proxy_port) == (9480, 9400, 9370)
    assert render_table(federation, "nginx", 9999)["routes"]["10000"] == "192.0.2.11:9480"


def test_star_example() -> None:
    federation = federation_from_inventory(load("star"))
    assert federation.party_ids == [9999, 10000, 10001]
    assert federation.exchange is not None
    assert (federation.exchange.host, federation.exchange.rollsite_port) == ("192.0.2.1", 9371)
    exchange_routes = render_table(federation, "rollsite", None)["route_table"]
    assert exchange_routes["10001"] == {"default": [{"ip": "192.0.2.12", "port": 9470}]}


@pytest.mark.parametrize("name", EXAMPLES)
def test_ansible_reads_the_example(name: str) -> None:
    command = Path(sys.executable).parent / "ansible-inventory"
    if not command.exists():
        pytest.skip("ansible-inventory is not installed beside this python")
    listed = subprocess.run(
        [str(command), "-i", str(INVENTORIES / name / "hosts.yml"), "--list"],
        check=True,
        capture_output=True,
        text=True,
    )
    inventory = json.loads(listed.stdout)
    assert set(inventory["fate_parties"]["hosts"]) == {p.host for p in federation_from_inventory(load(name)).parties}


# --------------------------------------------------------------------------------- federation_from_inventory


def inventory(parties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    children: dict[str, Any] = {"fate_parties": {"hosts": parties}}
    children.update(extra.pop("children", {}))
    return {"all": {"vars": extra.pop("vars", {}), "children": children, **extra}}


def test_variables_on_all_the_group_and_the_host_layer() -> None:
    data = inventory(
        {"a": {"ansible_host": "192.0.2.10", "fate_party_ids": [9999], "fate_flow_http_port": 9481}, "192.0.2.11": {}},
        vars={"fate_flow_http_port": 9480, "fate_rabbitmq_port": 5673, "fate_party_ids": [10000]},
    )
    data["all"]["children"]["fate_parties"]["vars"] = {"fate_rabbitmq_port": 5674}
    federation = federation_from_inventory(data)
    first, second = federation.party(9999), federation.party(10000)
    assert (first.host, first.flow_http_port, first.rabbitmq_port) == ("192.0.2.10", 9481, 5674)
    assert (second.host, second.flow_http_port, second.rabbitmq_port) == ("192.0.2.11", 9480, 5674)


def test_fate_flows_set_the_ports_of_their_parties() -> None:
    flows = [{"name": "standalone", "party_ids": [9999, 10000], "http_port": 9580, "grpc_port": 9560}]
    federation = federation_from_inventory(
        inventory({"192.0.2.10": {"fate_party_ids": [9999, 10000, 10001], "fate_flows": flows}})
    )
    assert federation.party(10000).flow_http_port == 9580
    assert federation.party(9999).flow_grpc_port == 9560
    assert federation.party(10001).flow_http_port == 9380


def test_party_ids_written_as_text_are_read() -> None:
    federation = federation_from_inventory(inventory({"192.0.2.10": {"fate_party_ids": ["9999"]}}))
    assert federation.party_ids == [9999]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "no 'all' group"),
        ({"all": {"children": {}}}, "no host in group fate_parties"),
        (inventory({"192.0.2.10": {}}), "inventory host 192.0.2.10 has no fate_party_ids list"),
        (inventory({"192.0.2.10": {"fate_party_ids": ["guest"]}}), "party id 'guest' is not an integer"),
        (
            inventory({"192.0.2.10": {"fate_party_ids": [9999]}, "192.0.2.11": {"fate_party_ids": [9999]}}),
            "duplicate party id 9999",
        ),
        (inventory({"192.0.2.10": {"fate_party_ids": [9999], "fate_proxy_port": 0}}), "proxy_port is 0, not a port"),
        (inventory({"192.0.2.10": {"fate_party_ids": [9999]}}, vars={"fate_topology": "star"}), "needs an exchange"),
        (inventory({"192.0.2.10": {"fate_party_ids": [9999]}}, vars={"fate_topology": "ring"}), "unknown topology"),
        (
            inventory(
                {"192.0.2.10": {"fate_party_ids": [9999]}},
                children={"fate_exchange": {"hosts": {"192.0.2.1": {}, "192.0.2.2": {}}}},
            ),
            "a star has one exchange",
        ),
    ],
)
def test_inventory_mistakes_are_named(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(FederationError, match=problem):
        federation_from_inventory(data)
