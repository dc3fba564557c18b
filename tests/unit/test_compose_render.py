"""The compose runtime's projects for FATE 2.x and 1.x, mesh and star, and several parties on one Docker host:
rendered in-process from the role's templates and variables (the role's own render step runs in
tests/integration/test_compose_role.py), validated against the Compose Specification's schema, every config
file parsed, and the cross-references checked: published ports, service names, route entries, party ids."""

from __future__ import annotations

import configparser
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.fateops.federation.plugins.module_utils.route_codecs import serialize_table
from ansible_collections.fateops.federation.plugins.module_utils.route_model import federation_from_dict
from ansible_collections.fateops.federation.plugins.module_utils.route_render import render_table

from fateops.deployment import Host, build_inventory, plan_exchange, plan_flows

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
# KubeFATE's image set (tests/unit/test_compose_fateops_render.py renders the fateops set's project).
SETTINGS = {"fate_runtime": "compose", "fate_compose_image_set": "kubefate"}

# Published ports of each generation: .env variable -> the contract's port key (an instance's ports).
PUBLISHED = {
    2: {"FATE_FLOW_HTTP_PORT": "http", "FATE_FLOW_GRPC_PORT": "grpc", "FATE_PROXY_PORT": "proxy",
        "FATE_BOARD_PORT": "board"},
    1: {"FATE_FLOW_HTTP_PORT": "http", "FATE_FLOW_GRPC_PORT": "grpc", "FATE_PROXY_PORT": "proxy",
        "FATE_BOARD_PORT": "board", "FATE_SERVING_PORT": "serving", "FATE_SERVING_EXCHANGE_PORT": "serving_exchange"},
}  # fmt: skip
ROUTE_TABLE = {2: "confs/osx/route_table.json", 1: "confs/eggroll/route_table.json"}
SERVICES = {
    2: {"mysql", "osx", "fateflow", "fateboard"},
    1: {"mysql", "rollsite", "clustermanager", "nodemanager", "fateflow", "fateboard", "serving-zookeeper",
        "serving-server", "serving-proxy"},
}  # fmt: skip


def _example(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "inventories" / name / "hosts.yml").read_text())


def _shared_host() -> dict[str, Any]:
    """Two parties on one Docker host: the case KubeFATE cannot deploy."""
    return {
        "all": {
            "vars": {"fate_topology": "mesh"},
            "children": {"fate_parties": {"hosts": {"192.0.2.20": {"fate_party_ids": [9999, 10000]}}}},
        }
    }


CASES = {"mesh": _example("mesh"), "star": _example("star"), "shared": _shared_host()}


def _inventory(example: dict[str, Any]) -> dict[str, Any]:
    """The facade's plan (one compose project per party) for the example's hosts and topology, run on this
    machine."""
    if "plugin" in example:
        # An example inventory (the fate_plan plugin's): the parties and settings an operator writes.
        hosts = {}
        for party in example["parties"]:
            hosts.setdefault(party["host"], Host(party["host"], "root", False)).party_ids.append(party["party_id"])
        settings = {**example.get("settings", {}), **SETTINGS}
        exchange_hosts = [settings["fate_exchange_host"]] if "fate_exchange_host" in settings else []
    else:
        top = example["all"]
        party_hosts = top["children"]["fate_parties"]["hosts"]
        hosts = {ip: Host(ip, "root", False, list(vars_["fate_party_ids"])) for ip, vars_ in party_hosts.items()}
        settings = {**SETTINGS, "fate_topology": (top.get("vars") or {}).get("fate_topology", "mesh")}
        exchange_hosts = list(((top["children"].get("fate_exchange") or {}).get("hosts")) or [])
        if exchange_hosts:
            settings["fate_exchange_host"] = exchange_hosts[0]
    exchange = plan_exchange(hosts, settings, None)
    inventory = build_inventory(hosts, plan_flows(hosts, settings), settings, exchange=exchange)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    for ip, entry in inventory["all"]["children"]["fate_parties"]["hosts"].items():
        entry.update(local, ansible_host=ip)
    if exchange_hosts:
        inventory["all"]["children"]["fate_exchange"] = {"hosts": {h: dict(local) for h in exchange_hosts}}
    return inventory


def _trusted(value: Any) -> Any:
    """Role variables as Ansible loads them from the role's YAML: their strings may be templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


ROLE = ROOT / "roles" / "party_compose"
# The role's variables over those of the role it depends on (party_common), as Ansible layers them.
ROLE_VARIABLES = _trusted(
    {
        **yaml.safe_load((ROOT / "roles" / "party_common" / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROOT / "roles" / "party_common" / "vars" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
    }
)
# What the role's ship step made on the host and read back.
SECRETS = {
    "MYSQL_ROOT_PASSWORD": "root-Secret-1",
    "MYSQL_PASSWORD": "fate-Secret-2",
    "FATEBOARD_PASSWORD": "board-Secret-3",
}


def placed(instance: dict[str, Any], project: Path) -> dict[str, Any]:
    """The planned instance with its project directory moved to where this test renders it (both generations of
    one plan side by side, as tests/unit/compose/render.yml does)."""
    return {
        **instance,
        "directories": {**instance["directories"], "instance": str(project), "compose_project": str(project)},
    }


def render_project(inventory: dict[str, Any], ip: str, flow: dict[str, Any], generation: int, project: Path) -> None:
    """One party's project, rendered in-process as the role's render step does: the same templates, the same
    role variables (party_common's and party_compose's defaults and vars, the inventory, the planned instance),
    the route table from the route model with the instance's federation."""
    top = inventory["all"]
    groups = {name: list((group or {}).get("hosts") or {}) for name, group in top["children"].items()}
    hostvars = {
        host: {**top["vars"], **(group.get("vars") or {}), **(values or {})}
        for group in top["children"].values()
        for host, values in ((group or {}).get("hosts") or {}).items()
    }
    variables = {
        **ROLE_VARIABLES,
        **_trusted(hostvars[ip]),
        "groups": groups,
        "hostvars": hostvars,
        "inventory_hostname": ip,
        "role_path": str(ROLE),
        "ansible_managed": "Ansible managed",
        "fate_runtime": "compose",
        "fate_compose_image_set": "kubefate",
        "fate_compose_generation": generation,
        "fate_base_dir": str(project.parent),
        "fate_instance": placed(flow, project),
        "fate_compose_secrets": SECRETS,
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    templates = Path(templar.template(trust_as_template("{{ fate_compose_templates }}")))
    # The plan puts the project in its own directory under the base dir, named after the project.
    assert flow["directories"]["compose_project"] == f"{top['vars']['fate_base_dir']}/{flow['name']}"
    for item in ROLE_VARIABLES["fate_compose_layout"][f"fate-{generation}"]:
        target = project / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        source = (templates / f"{item['path']}.j2").read_text()
        target.write_text(templar.template(trust_as_template(source)))
    (project / ".secrets").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    (route,) = ROLE_VARIABLES["fate_compose_route_tables"][f"fate-{generation}"]
    federation = federation_from_dict(
        flow["federation"]["parties"], flow["federation"]["topology"], flow["federation"]["exchange"]
    )
    table = render_table(federation, route["format"], flow["party_ids"][0])
    (project / route["path"]).write_text(serialize_table(route["format"], table))


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp(f"compose-{request.param}")
    inventory = _inventory(CASES[request.param])
    for ip, entry in inventory["all"]["children"]["fate_parties"]["hosts"].items():
        for flow in entry["fate_instances"]:
            for generation in (2, 1):
                render_project(inventory, ip, flow, generation, root / f"fate-{generation}" / ip / flow["name"])
    return {"case": request.param, "root": root, "inventory": inventory}


def _projects(rendered: dict[str, Any], generation: int) -> list[tuple[str, dict[str, Any], Path]]:
    projects = []
    for ip, entry in rendered["inventory"]["all"]["children"]["fate_parties"]["hosts"].items():
        for flow in entry["fate_instances"]:
            projects.append((ip, flow, rendered["root"] / f"fate-{generation}" / ip / flow["name"]))
    return projects


def _dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


_VARIABLE = re.compile(r"\$\{([A-Z_]+)(?::?[-?][^}]*)?\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ against .env, as docker compose resolves them."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"{match.group(1)} is used but .env does not set it"
        return env[match.group(1)]

    return _VARIABLE.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def _properties(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = path.read_text()
    parser.read_string(text if text.lstrip().startswith("[") or "[eggroll]" in text else "[top]\n" + text)
    return {key: value for section in parser.sections() for key, value in parser[section].items()}


@pytest.mark.parametrize("generation", [2, 1])
def test_compose_files_follow_the_compose_spec(rendered: dict[str, Any], generation: int) -> None:
    for _, _, project in _projects(rendered, generation):
        document = yaml.safe_load((project / "docker-compose.yml").read_text())
        jsonschema.Draft7Validator(SCHEMA).validate(document)
        assert set(document["services"]) == SERVICES[generation]


@pytest.mark.parametrize("generation", [2, 1])
def test_cross_references_inside_a_project(rendered: dict[str, Any], generation: int) -> None:
    for _, flow, project in _projects(rendered, generation):
        party_id = flow["party_ids"][0]
        env = _dotenv(project / ".env")
        compose = _interpolate(yaml.safe_load((project / "docker-compose.yml").read_text()), env)
        assert compose["name"] == env["COMPOSE_PROJECT_NAME"] == flow["name"] == f"confs-{party_id}"
        assert compose["networks"]["fate"]["name"] == f"fate-{party_id}"
        services = compose["services"]
        secrets = _dotenv(project / ".secrets")
        published: dict[int, str] = {}
        for name, service in services.items():
            for dependency in service.get("depends_on") or []:
                assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert_mounts_exist(project, compose, name, service)
            for file in service.get("env_file") or []:
                assert (project / file).is_file()
            for mapping in service.get("ports") or []:
                bind, host_port, container_port = mapping.split(":")
                assert bind == "0.0.0.0"
                assert int(host_port) not in published, f"port {host_port} published twice"
                published[int(host_port)] = f"{name}:{container_port}"
        expected = {int(env[variable]): key for variable, key in PUBLISHED[generation].items()}
        assert set(published) == set(expected)
        ports = flow["ports"]
        for port, key in expected.items():
            assert port == ports[key], f"{key}: .env publishes {port}, the plan says {ports[key]}"
        assert published[ports["http"]] == "fateflow:9380"
        assert published[ports["grpc"]] == "fateflow:9360"
        assert published[ports["proxy"]] == ("osx:9370" if generation == 2 else "rollsite:9370")

        conf = yaml.safe_load((project / "confs/fate_flow/service_conf.yaml").read_text())
        assert conf["party_id"] == str(party_id)
        assert conf["fateflow"]["host"] in services
        if generation == 2:
            environment = services["fateflow"]["environment"]
            assert environment["FATE_PROJECT_BASE"] == "/data/projects/fate"
            # FATE's task processes inherit one numeric thread each (fate_flow_task_threads' default).
            assert [environment[name] for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")] == [
                "1", "1", "1"]  # fmt: skip
            assert conf["database"]["mysql"]["passwd"] == secrets["MYSQL_PASSWORD"]
            assert conf["database"]["mysql"]["host"] in services
            assert conf["default_engines"]["federation"] == "osx"
            assert conf["federation"]["osx"]["host"] in services
            broker = _properties(project / "confs/osx/broker.properties")
            assert broker["self.party"] == str(party_id)
        else:
            assert conf["database"]["passwd"] == secrets["MYSQL_PASSWORD"]
            assert conf["database"]["host"] in services
            assert conf["fate_on_eggroll"]["rollsite"]["host"] in services
            assert all(address.split(":")[0] in services for address in conf["servings"]["hosts"])
            eggroll = _properties(project / "confs/eggroll/eggroll.properties")
            assert eggroll["eggroll.rollsite.party.id"] == str(party_id)
            assert eggroll["eggroll.resourcemanager.clustermanager.jdbc.password"] == secrets["MYSQL_PASSWORD"]
            assert eggroll["eggroll.rollsite.host"] in services
            assert _properties(project / "confs/serving-proxy/application.properties")["coordinator"] == str(party_id)
            proxy_routes = json.loads((project / "confs/serving-proxy/route_table.json").read_text())
            assert set(proxy_routes["route_table"]) == {str(party_id)}
            _properties(project / "confs/serving-server/serving-server.properties")
        board = _properties(project / "confs/fateboard/application.properties")
        assert board["server.board.login.password"] == secrets["FATEBOARD_PASSWORD"]
        assert board["fateflow.url"].split("//")[1].split(":")[0] in services
        for sql in (project / "confs/mysql/init").iterdir():
            statements = [s.strip() for s in re.sub(r"--[^\n]*", "", sql.read_text()).split(";") if s.strip()]
            assert statements
            assert all(re.match(r"(CREATE|ALTER|GRANT|FLUSH|USE)\b", s) for s in statements), sql


@pytest.mark.parametrize("generation", [2, 1])
def test_route_tables_match_the_plan(rendered: dict[str, Any], generation: int) -> None:
    projects = _projects(rendered, generation)
    everyone = {flow["party_ids"][0]: (ip, flow) for ip, flow, _ in projects}
    exchange_hosts = list((rendered["inventory"]["all"]["children"].get("fate_exchange") or {}).get("hosts") or [])
    for ip, flow, project in projects:
        party_id = flow["party_ids"][0]
        table = json.loads((project / ROUTE_TABLE[generation]).read_text())
        routes = table["route_table"]
        # Its own FATE-Flow, at the grpc port this project publishes.
        assert routes[str(party_id)]["fateflow"] == [{"ip": ip, "port": flow["ports"]["grpc"]}]
        if generation == 2:
            assert table["self_party"] == [str(party_id)]
        if exchange_hosts:
            port = 9370 if generation == 2 else 9371
            assert routes["default"]["default"] == [{"ip": exchange_hosts[0], "port": port}]
            assert set(routes) == {"default", str(party_id)}
            continue
        for other, (other_ip, other_flow) in everyone.items():
            if other != party_id:
                # Another party, even on the same Docker host, is reached at its own published proxy port.
                assert routes[str(other)]["default"] == [{"ip": other_ip, "port": other_flow["ports"]["proxy"]}]


def test_route_model_reads_the_compose_plan(rendered: dict[str, Any]) -> None:
    planned = rendered["inventory"]["all"]["vars"]["fate_federation"]
    federation = federation_from_dict(planned["parties"], planned["topology"], planned["exchange"])
    for ip, flow, _ in _projects(rendered, 2):
        party = federation.party(flow["party_ids"][0])
        ports = flow["ports"]
        assert (party.host, party.flow_http_port, party.flow_grpc_port, party.proxy_port, party.serving_port) == (
            ip, ports["http"], ports["grpc"], ports["proxy"], ports["serving"])  # fmt: skip
        # Every instance carries the same federation as the plan's.
        assert {k: v for k, v in flow["federation"].items() if k != "engine"} == planned


def test_parties_on_one_docker_host_do_not_collide(rendered: dict[str, Any]) -> None:
    for generation in (2, 1):
        by_host: dict[str, list[dict[str, str]]] = {}
        for ip, _, project in _projects(rendered, generation):
            by_host.setdefault(ip, []).append(_dotenv(project / ".env"))
        for envs in by_host.values():
            for key in ("COMPOSE_PROJECT_NAME", "FATE_NETWORK", *PUBLISHED[generation]):
                values = [env[key] for env in envs]
                assert len(set(values)) == len(values), f"{key} repeats on one host: {values}"
    if rendered["case"] == "shared":
        flows = rendered["inventory"]["all"]["children"]["fate_parties"]["hosts"]["192.0.2.20"]["fate_instances"]
        assert [f["ports"]["http"] for f in flows] == [9380, 9480]
        assert [f["ports"]["proxy"] for f in flows] == [9370, 9470]


def assert_mounts_exist(project: Path, compose: dict, name: str, service: dict) -> None:
    """Every mount of a rendered service: a rendered file or directory of the project, or a declared volume."""
    for mount in service.get("volumes") or []:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (project / source).exists(), f"{name} mounts {source}, which was not rendered"
        else:
            assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"
