"""The example inventories are the host contract (fateops/deployment.py's shape, accepted by the roles' argument
specs) and describe federations that render every route table, and Ansible reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.fateops.federation.plugins.module_utils.route_codecs import (
    parse_table,
    serialize_table,
    tables_equal,
)
from ansible_collections.fateops.federation.plugins.module_utils.route_model import Federation, federation_from_dict
from ansible_collections.fateops.federation.plugins.module_utils.route_render import FORMATS, render_table

from fateops import deployment

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"
EXAMPLES = ["mesh", "star"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((INVENTORIES / name / "hosts.yml").read_text(encoding="utf-8"))


def planned(data: dict[str, Any]) -> Federation:
    """The route model of the federation an inventory's contract carries (all.vars.fate_federation)."""
    federation = data["all"]["vars"]["fate_federation"]
    return federation_from_dict(federation["parties"], federation["topology"], federation["exchange"])


def instances(data: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    hosts = data["all"]["children"]["fate_parties"]["hosts"]
    return [(name, host, instance) for name, host in hosts.items() for instance in host["fate_instances"]]


def instance_spec(role: str, entry_point: str = "main") -> dict[str, Any]:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return specs["argument_specs"][entry_point]["options"]["fate_instance"]


def contract_spec() -> dict[str, Any]:
    """The instance contract as party_common holds it: the options of each item of a host's fate_instances."""
    specs = yaml.safe_load((ROOT / "roles" / "party_common" / "meta" / "argument_specs.yml").read_text())
    listed = specs["argument_specs"]["preflight"]["options"]["fate_instances"]
    return {"type": "dict", "options": listed["options"]}


def contract_problems(instance: dict[str, Any]) -> list[str]:
    """What the party role's argument spec refuses in one instance of the contract."""
    result = ArgumentSpecValidator({"fate_instance": instance_spec("party_native")}).validate(
        {"fate_instance": instance}
    )
    return [str(error) for error in result.errors]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_table_renders_for_every_party(name: str) -> None:
    federation = planned(load(name))
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
    federation = planned(load("mesh"))
    assert [(p.party_id, p.host) for p in federation.parties] == [(9999, "192.0.2.10"), (10000, "192.0.2.11")]
    assert federation.exchange is None
    host_party = federation.party(10000)
    assert (host_party.flow_http_port, host_party.nginx_http_port, host_party.proxy_port) == (9480, 9400, 9370)
    assert render_table(federation, "nginx", 9999)["routes"]["10000"] == "192.0.2.11:9480"


def test_star_example() -> None:
    federation = planned(load("star"))
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
    assert set(inventory["fate_parties"]["hosts"]) == {p.host for p in planned(load(name)).parties}


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_is_the_host_contract(name: str) -> None:
    data = load(name)
    federation = data["all"]["vars"]["fate_federation"]
    parties = {party["party_id"]: party for party in federation["parties"]}
    for host_name, host, instance in instances(data):
        assert contract_problems(instance) == []
        # Every instance carries the federation of the inventory, and the federation its own ports.
        assert {key: value for key, value in instance["federation"].items() if key != "engine"} == federation
        for party_id in instance["party_ids"]:
            party, ports = parties[party_id], instance["ports"]
            assert (party["host"], party["flow_http_port"], party["flow_grpc_port"], party["nginx_http_port"]) == (
                host["ansible_host"], ports["http"], ports["grpc"], ports["nginx"])  # fmt: skip
        assert all(
            path.startswith(data["all"]["vars"]["fate_base_dir"] + "/") for path in instance["directories"].values()
        )
        assert host["fate_party_ids"] == instance["party_ids"], host_name


def _planned_instances() -> list[dict[str, Any]]:
    """The plan's instances for every shape: standalone, federated (mesh and star), compose."""
    one = {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [9999, 10000])}
    two = {**one, "192.0.2.11": deployment.Host("192.0.2.11", "root", False, [10001])}
    star = {"fate_topology": "star", "fate_exchange_host": "192.0.2.1"}
    found = []
    for hosts, settings in [(one, {}), (two, {}), (two, star), (two, {"fate_runtime": "compose"})]:
        flows = deployment.plan_flows(hosts, settings)
        exchange = deployment.plan_exchange(hosts, settings, None)
        inventory = deployment.build_inventory(hosts, flows, settings, exchange=exchange, removed=[7])
        found.extend(instance for _, _, instance in instances(inventory))
    return found


def test_the_plan_is_what_the_roles_accept() -> None:
    planned_instances = _planned_instances()
    assert {instance["runtime"] for instance in planned_instances} == {"native", "compose"}
    assert {instance["federation"]["engine"] for instance in planned_instances} == {"standalone", "rabbitmq", "osx"}
    for instance in planned_instances:
        assert contract_problems(instance) == [], instance["name"]


def test_every_role_that_reads_the_contract_validates_all_of_it() -> None:
    reference = instance_spec("party_native")
    for role, entry_point in [
        ("party_compose", "main"),
        ("federation", "main"),
        ("serving", "main"),
        ("serving", "bind"),
    ]:
        assert instance_spec(role, entry_point) == reference, (role, entry_point)
    # Every role validates exactly the contract party_common holds for a host's list of instances.
    assert reference["options"] == contract_spec()["options"]
    # The spec names every field the plan can emit (an instance of every shape has them all between them).
    spec = instance_spec("party_native")["options"]
    for instance in _planned_instances():
        assert set(instance) <= set(spec)
        for record in ("directories", "ports", "files"):
            assert set(instance.get(record, {})) <= set(spec[record]["options"])
