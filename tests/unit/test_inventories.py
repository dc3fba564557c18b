"""The example inventories: what an operator writes (parties, settings, how to reach each host), which the
fate_plan inventory plugin turns into the host contract of fateops/deployment.py. The planned contract is what the
roles' argument specs accept, describes federations that render every route table, and is what Ansible reads."""

from __future__ import annotations

import json
import subprocess
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
from fateops.errors import UsageError
from tests.ansible_cli import ansible

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"
EXAMPLES = ["single", "mesh", "star"]
FEDERATED = ["mesh", "star"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((INVENTORIES / name / "hosts.yml").read_text(encoding="utf-8"))


def plan(name: str) -> dict[str, Any]:
    """The inventory the fate_plan plugin makes of an example: the plan of its parties, settings and hosts."""
    data = load(name)
    assert data["plugin"] == "fateops.federation.fate_plan"
    return deployment.plan_inventory(data["parties"], data.get("settings", {}), data.get("hosts", {}))


def planned(data: dict[str, Any]) -> Federation:
    """The route model of the federation a planned inventory carries (all.vars.fate_federation)."""
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


@pytest.mark.parametrize("name", FEDERATED)
def test_every_table_renders_for_every_party(name: str) -> None:
    federation = planned(plan(name))
    assert federation.topology == name
    viewpoints: list[int | None] = list(federation.party_ids)
    if federation.topology == "star":
        viewpoints.append(None)
    for table_format in FORMATS:
        for party in viewpoints:
            table = render_table(federation, table_format, party)
            text = serialize_table(table_format, table)
            assert tables_equal(table_format, parse_table(table_format, text), table)


def test_single_example() -> None:
    data = plan("single")
    # One standalone FATE-Flow federates with nobody.
    assert data["all"]["vars"]["fate_federation"]["parties"] == []
    [(host_name, host, instance)] = instances(data)
    assert host_name == "192.0.2.10" and host["fate_party_ids"] == [9999, 10000]
    assert (instance["name"], instance["runtime"], instance["party_ids"]) == ("standalone", "native", [9999, 10000])
    assert instance["ports"] == {"http": 9380, "grpc": 9360, "serving": 8059}
    assert instance["federation"]["engine"] == "standalone"
    assert host["ansible_user"] == "root" and host["ansible_connection"] == "ssh"
    assert "fate_exchange" not in data["all"]["children"]


def test_mesh_example() -> None:
    federation = planned(plan("mesh"))
    assert [(p.party_id, p.host) for p in federation.parties] == [(9999, "192.0.2.10"), (10000, "192.0.2.11")]
    assert federation.exchange is None
    # The settings' ports, not FATE's defaults.
    host_party = federation.party(10000)
    assert (host_party.flow_http_port, host_party.nginx_http_port, host_party.proxy_port) == (9480, 9400, 9370)
    assert render_table(federation, "nginx", 9999)["routes"]["10000"] == "192.0.2.11:9480"
    assert plan("mesh")["all"]["children"]["fate_parties"]["hosts"]["192.0.2.11"]["ansible_port"] == 22


def test_star_example() -> None:
    data = plan("star")
    federation = planned(data)
    assert federation.party_ids == [9999, 10000, 10001]
    assert federation.exchange is not None
    assert (federation.exchange.host, federation.exchange.rollsite_port) == ("192.0.2.1", 9371)
    # 10000 and 10001 share a host: the second party's ports are shifted by fate_port_step.
    shared = federation.party(10001)
    assert (shared.host, shared.flow_http_port, shared.nginx_http_port, shared.rabbitmq_port) == (
        "192.0.2.11", 9390, 9310, 5682)  # fmt: skip
    assert [p.exchange_rabbitmq_port for p in federation.parties] == [35672, 35673, 35674]
    exchange_routes = render_table(federation, "rabbitmq", None)
    assert exchange_routes["10001"] == {"host": "192.0.2.11", "port": 5682}
    assert data["all"]["children"]["fate_exchange"]["hosts"]["192.0.2.1"]["fate_exchange_state"] == "present"
    assert data["all"]["vars"]["fate_serving_peers"] == {str(p): "192.0.2.1:8059" for p in federation.party_ids}


def _plain(value: Any) -> Any:
    """ansible-inventory's JSON without its marks of untrusted strings ({"__ansible_unsafe": text})."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def ansible_inventory(source: Path) -> subprocess.CompletedProcess[str]:
    return ansible("ansible-inventory", "-i", str(source), "--list")


@pytest.mark.parametrize("name", EXAMPLES)
def test_ansible_reads_the_plan_of_the_example(name: str) -> None:
    listed = ansible_inventory(INVENTORIES / name)
    assert listed.returncode == 0, listed.stderr
    inventory = _plain(json.loads(listed.stdout))
    expected = plan(name)
    hosts = expected["all"]["children"]["fate_parties"]["hosts"]
    assert set(inventory["fate_parties"]["hosts"]) == set(hosts)
    exchange = expected["all"]["children"].get("fate_exchange", {}).get("hosts", {})
    assert set(inventory.get("fate_exchange", {}).get("hosts", [])) == set(exchange)
    for host_name, variables in {**hosts, **exchange}.items():
        seen = inventory["_meta"]["hostvars"][host_name]
        for key, value in {**expected["all"]["vars"], **variables}.items():
            assert seen[key] == value, (host_name, key)


def test_a_mistake_in_an_inventory_is_one_error_naming_it(tmp_path: Path) -> None:
    data = load("mesh")
    data["parties"][1]["party_id"] = "010000"
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    listed = ansible_inventory(tmp_path / "hosts.yml")
    assert listed.returncode != 0
    assert "parties[1].party_id '010000' is not a party id" in listed.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["parties"].append({"party_id": 9999, "host": "192.0.2.12"}), "given for two hosts"),
        (lambda d: d["parties"].append({"party_id": 7}), "give each party as {party_id: ID, host: ADDRESS}"),
        (lambda d: d["settings"].update(fate_flow_http_port=70000), "fate_flow_http_port is 70000"),
        (lambda d: d["hosts"].update({"192.0.2.99": {}}), "hosts names 192.0.2.99"),
        (lambda d: d["settings"].update(fate_topology="star"), "needs fate_exchange_host"),
    ],
)
def test_the_plan_refuses_what_the_facade_refuses(change: Any, message: str) -> None:
    data = load("mesh")
    change(data)
    with pytest.raises(UsageError) as raised:
        deployment.plan_inventory(data["parties"], data["settings"], data["hosts"])
    assert message in str(raised.value)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_is_the_host_contract(name: str) -> None:
    data = plan(name)
    federation = data["all"]["vars"]["fate_federation"]
    parties = {party["party_id"]: party for party in federation["parties"]}
    for host_name, host, instance in instances(data):
        assert contract_problems(instance) == []
        # Every instance carries the federation of the inventory, and the federation its own ports.
        assert {key: value for key, value in instance["federation"].items() if key != "engine"} == federation
        for party_id in instance["party_ids"] if parties else []:
            party, ports = parties[party_id], instance["ports"]
            assert (party["host"], party["flow_http_port"], party["flow_grpc_port"], party["nginx_http_port"]) == (
                host["ansible_host"], ports["http"], ports["grpc"], ports["nginx"])  # fmt: skip
        assert all(
            path.startswith(data["all"]["vars"]["fate_base_dir"] + "/") for path in instance["directories"].values()
        )
        assert set(instance["party_ids"]) <= set(host["fate_party_ids"]), host_name


def _planned_instances() -> list[dict[str, Any]]:
    """The plan's instances for every shape: standalone, federated (mesh and star), compose (both image sets)."""
    one = {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [9999, 10000])}
    two = {**one, "192.0.2.11": deployment.Host("192.0.2.11", "root", False, [10001])}
    star = {"fate_topology": "star", "fate_exchange_host": "192.0.2.1"}
    found = []
    compose = {"fate_runtime": "compose"}
    kubefate = {**compose, "fate_compose_image_set": "kubefate"}
    for hosts, settings in [(one, {}), (two, {}), (two, star), (two, compose), (two, kubefate)]:
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


def test_the_compose_scenario_gives_the_contract_the_plan_makes_of_its_parties() -> None:
    """molecule/compose writes its host contract out (molecule has no inventory plugin); it must be the plan's
    for guest 9999 and host 10000 on one Docker host with its settings, or the scenario tests something the
    facade never deploys."""
    base = "/cache/test-compose"
    text = (ROOT / "molecule" / "compose" / "molecule.yml").read_text(encoding="utf-8")
    scenario = yaml.safe_load(text.replace("${FATEOPS_TEST_CACHE:-/var/cache/fateops-test}", "/cache"))
    inventory = scenario["provisioner"]["inventory"]
    group, host = inventory["group_vars"]["all"], inventory["host_vars"]["localhost"]
    settings = {
        "fate_runtime": "compose",
        "fate_base_dir": base,
        "fate_flow_http_port": 10080,
        "fate_flow_grpc_port": 10060,
        "fate_serving_port": 10059,
        "fate_nginx_http_port": 10090,
        "fate_rabbitmq_port": 10072,
        "fate_rabbitmq_management_port": 10073,
        "fate_rabbitmq_dist_port": 10074,
    }
    parties = [{"party_id": 9999, "host": "127.0.0.1"}, {"party_id": 10000, "host": "127.0.0.1"}]
    made = deployment.plan_inventory(parties, settings, {"127.0.0.1": {"ansible_connection": "local"}})
    made_host = made["all"]["children"]["fate_parties"]["hosts"]["127.0.0.1"]
    assert host["fate_instances"] == made_host["fate_instances"]
    assert host["fate_party_ids"] == made_host["fate_party_ids"]
    for name in ("fate_runtime", "fate_base_dir", "fate_model_temp_dir", "fate_federation", "fate_serving_peers"):
        assert group[name] == made["all"]["vars"][name], name
