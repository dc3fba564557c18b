"""The compose runtime's project on the fateops image set (the default): two parties on one Docker host, rendered
in-process from the role's templates and variables as tests/unit/test_compose_render.py renders KubeFATE's, then
validated against the Compose Specification's schema and cross-checked against the plan: the images are the
tags playbooks/images.yml built, every service restarts by itself and has a python healthcheck, everything the
party keeps is a named volume, and FATE-Flow, the broker, nginx and serving use the plan's ports, the broker's
password and the native runtime's route tables."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible_collections.fateops.federation.plugins.module_utils.route_codecs import serialize_table
from ansible_collections.fateops.federation.plugins.module_utils.route_model import federation_from_dict
from ansible_collections.fateops.federation.plugins.module_utils.route_render import render_table
from test_compose_render import ROLE, ROLE_VARIABLES, SCHEMA, _dotenv, _interpolate, _trusted, assert_mounts_exist

from fateops.deployment import Host, build_inventory, plan_flows

BUILT = {
    "fateflow": "fateops/fateflow:2.2.0-0123456789ab",
    "serving": "fateops/serving:0123456789ab",
    "rabbitmq": "fateops/rabbitmq:0123456789ab",
    "nginx": "fateops/nginx:0123456789ab",
}
SETTINGS = {
    "fate_runtime": "compose",
    "fate_images_built": BUILT,
    "fate_flow_http_port": 9880,
    "fate_nginx_http_port": 9800,
    "fate_rabbitmq_port": 5872,
}
HOST = "192.0.2.30"
SECRETS = {"RABBITMQ_PASSWORD": "broker-Secret-1"}
SERVICES = {"fateflow", "rabbitmq", "nginx", "serving"}
VOLUMES = {"fate_flow_data", "fate_flow_jobs", "fate_flow_db", "fate_flow_model", "fate_flow_logs", "rabbitmq_data"}


def _render(project: Path, inventory: dict[str, Any], flow: dict[str, Any]) -> None:
    top = inventory["all"]
    hostvars = {**top["vars"], **top["children"]["fate_parties"]["hosts"][HOST], "ansible_host": HOST}
    variables = {
        **ROLE_VARIABLES,
        **_trusted(hostvars),
        "inventory_hostname": HOST,
        "role_path": str(ROLE),
        "ansible_managed": "Ansible managed",
        "fate_base_dir": str(project.parent),
        "fate_instance": flow,
        "fate_compose_secrets": SECRETS,
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trust_as_template("{{ fate_compose_variant }}")) == "fateops"
    templates = Path(templar.template(trust_as_template("{{ fate_compose_templates }}")))
    for item in ROLE_VARIABLES["fate_compose_layout"]["fateops"]:
        target = project / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(templar.template(trust_as_template((templates / f"{item['path']}.j2").read_text())))
    federation = federation_from_dict(
        flow["federation"]["parties"], flow["federation"]["topology"], flow["federation"]["exchange"]
    )
    for route in ROLE_VARIABLES["fate_compose_route_tables"]["fateops"]:
        table = render_table(federation, route["format"], flow["party_ids"][0])
        (project / route["path"]).write_text(serialize_table(route["format"], table))
    for directory in ROLE_VARIABLES["fate_compose_mounted_dirs"]["fateops"]:
        (project / directory).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], Path]]:
    hosts = {HOST: Host(HOST, "root", False, [32, 31])}
    inventory = build_inventory(hosts, plan_flows(hosts, SETTINGS), SETTINGS)
    root = tmp_path_factory.mktemp("fateops-compose")
    rendered = []
    for flow in inventory["all"]["children"]["fate_parties"]["hosts"][HOST]["fate_instances"]:
        project = root / flow["name"]
        _render(project, inventory, flow)
        rendered.append((flow, project))
    return rendered


def _compose(project: Path) -> dict[str, Any]:
    return _interpolate(yaml.safe_load((project / "docker-compose.yml").read_text()), _dotenv(project / ".env"))


def test_the_project_follows_the_compose_spec_and_runs_our_images(projects) -> None:
    for flow, project in projects:
        document = yaml.safe_load((project / "docker-compose.yml").read_text())
        jsonschema.Draft7Validator(SCHEMA).validate(document)
        compose = _compose(project)
        assert compose["name"] == flow["name"]
        assert set(compose["services"]) == SERVICES
        assert {name: service["image"] for name, service in compose["services"].items()} == BUILT
        assert set(compose["volumes"]) >= VOLUMES
        for name, service in compose["services"].items():
            assert service["restart"] == "always", name
            assert service["network_mode"] == "host", name
            test = service["healthcheck"]["test"]
            # The images have no curl: python asks.
            assert test[0] == "CMD" and test[1] in ("python", "python3") and test[2] == "-c", name
            compile(test[3], f"{name} healthcheck", "exec")
            assert_mounts_exist(project, compose, name, service)


def test_services_use_the_plans_ports_and_the_brokers_password(projects) -> None:
    for flow, project in projects:
        ports = flow["ports"]
        compose = _compose(project)
        conf = yaml.safe_load((project / "confs/fate_flow/service_conf.yaml").read_text())
        assert conf["party_id"] == str(flow["party_ids"][0])
        assert (conf["fateflow"]["host"], conf["fateflow"]["http_port"], conf["fateflow"]["grpc_port"]) == (
            HOST, ports["http"], ports["grpc"])  # fmt: skip
        assert conf["fateflow"]["proxy_name"] == "nginx"
        assert conf["default_engines"] == {"computing": "standalone", "federation": "rabbitmq", "storage": "standalone"}
        broker = conf["federation"]["rabbitmq"]
        assert (broker["port"], broker["mng_port"], broker["password"]) == (
            ports["amqp"], ports["management"], SECRETS["RABBITMQ_PASSWORD"])  # fmt: skip
        assert conf["federation"]["nginx"] == {"host": HOST, "http_port": ports["nginx"]}
        rabbitmq = (project / "confs/rabbitmq/rabbitmq.conf").read_text()
        assert f"listeners.tcp.1 = {HOST}:{ports['amqp']}\n" in rabbitmq
        assert f"management.tcp.port = {ports['management']}\n" in rabbitmq
        assert f"default_pass = {SECRETS['RABBITMQ_PASSWORD']}\n" in rabbitmq
        assert compose["services"]["rabbitmq"]["environment"]["RABBITMQ_DIST_PORT"] == str(ports["dist"])
        serving = yaml.safe_load((project / "confs/serving/serving.yaml").read_text())
        assert (serving["host"], serving["port"], serving["party_ids"]) == (
            HOST, ports["serving"], [str(p) for p in flow["party_ids"]])  # fmt: skip
        assert f":{ports['http']}/v2/server/fateflow" in compose["services"]["fateflow"]["healthcheck"]["test"][3]
        # The passwords live in .secrets and the files that need them; never in docker-compose.yml or .env.
        for name in ("docker-compose.yml", ".env"):
            assert SECRETS["RABBITMQ_PASSWORD"] not in (project / name).read_text()
    # The second project on the host is shifted by the compose port step; no port repeats.
    (first, _), (second, _) = projects
    assert (first["name"], second["name"]) == ("confs-31", "confs-32")
    assert {key: second["ports"][key] - first["ports"][key] for key in first["ports"]} == dict.fromkeys(
        first["ports"], 100
    )
    every = [port for flow, _ in projects for port in flow["ports"].values()]
    assert len(every) == len(set(every))


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def test_fate_flow_gives_its_tasks_one_numeric_thread_by_default(projects) -> None:
    for _, project in projects:
        environment = _compose(project)["services"]["fateflow"]["environment"]
        assert {name: environment[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "1")


@pytest.mark.parametrize(("threads", "expected"), [(0, None), (3, "3")])
def test_the_task_thread_setting_reaches_fate_flows_environment(tmp_path: Path, threads: int, expected) -> None:
    settings = {**SETTINGS, "fate_flow_task_threads": threads}
    hosts = {HOST: Host(HOST, "root", False, [31])}
    inventory = build_inventory(hosts, plan_flows(hosts, settings), settings)
    (flow,) = inventory["all"]["children"]["fate_parties"]["hosts"][HOST]["fate_instances"]
    _render(tmp_path / flow["name"], inventory, flow)
    environment = _compose(tmp_path / flow["name"])["services"]["fateflow"].get("environment") or {}
    assert {name: environment.get(name) for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, expected)


def test_route_tables_are_the_native_federations(projects) -> None:
    by_party = {flow["party_ids"][0]: flow for flow, _ in projects}
    for flow, project in projects:
        routes = (project / "confs/nginx/routes.conf").read_text()
        assert re.search(rf"listen {flow['ports']['nginx']};", routes)
        for party_id, other in by_party.items():
            # nginx sends FATE-Flow's calls for each party to that party's FATE-Flow.
            assert f"    {party_id} {HOST}:{other['ports']['http']};" in routes
        table = yaml.safe_load((project / "confs/fate_flow/rabbitmq_route_table.yaml").read_text())
        # Each party's broker at the port its project's broker listens on.
        assert table == {p: {"host": HOST, "port": other["ports"]["amqp"]} for p, other in by_party.items()}


def test_the_fateops_set_is_refused_without_its_images_in_the_preflight() -> None:
    """The preflight names make images when fate_images_built lacks an image (after the engine's check)."""
    text = (ROLE / "tasks" / "preflight.yml").read_text()
    (check,) = [task for task in yaml.safe_load(text) if task["name"] == "Check the image set"]
    templar = Templar(
        loader=DataLoader(),
        variables={**ROLE_VARIABLES, "fate_images_built": {"fateflow": BUILT["fateflow"]}, "role_path": str(ROLE)},
    )
    conditions = check["ansible.builtin.assert"]["that"]
    passed = [templar.template(trust_as_template("{{ " + that + " }}")) for that in conditions]
    assert passed == [True, False]
    message = templar.template(trust_as_template(check["ansible.builtin.assert"]["fail_msg"]))
    lacking = re.search(r"lacks the tags of ([a-z, ]+): run make images \(playbooks/images\.yml\)", message)
    assert lacking and sorted(lacking.group(1).split(", ")) == ["nginx", "rabbitmq", "serving"], message


def _images_as_the_role_reads_them(**variables: Any) -> tuple[dict, list]:
    # The defaults look the record up (the file lookup); the collection finder is set up already.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        init_plugin_loader()
    templar = Templar(loader=DataLoader(), variables={**ROLE_VARIABLES, "role_path": str(ROLE), **variables})
    return (
        templar.template(trust_as_template("{{ fate_compose_fateops_images }}")),
        templar.template(trust_as_template("{{ fate_compose_image_archives }}")),
    )


def test_the_images_come_from_make_images_record_when_settings_name_none(tmp_path: Path) -> None:
    """make images' record on the controller gives the tags and archives, so settings.yml needs neither; what
    settings give wins, a missing record gives nothing (the preflight then names make images), and the kubefate
    set takes no archive of the fateops set's."""
    archives = [str(tmp_path / "fateops-fateflow-2.2.0-0123456789ab.tar")]
    record = tmp_path / "fate-images.yml"
    record.write_text(
        "# Written by playbooks/images.yml\n"
        + yaml.safe_dump({"fate_images_built": BUILT, "fate_compose_image_archives": archives})
    )
    assert _images_as_the_role_reads_them(fate_images_record=str(record)) == (BUILT, archives)
    given = {"fateflow": "fateops/fateflow:mine"}
    assert _images_as_the_role_reads_them(fate_images_record=str(record), fate_images_built=given) == (
        given, archives)  # fmt: skip
    assert _images_as_the_role_reads_them(fate_images_record=str(tmp_path / "none.yml")) == ({}, [])
    assert _images_as_the_role_reads_them(fate_images_record=str(record), fate_compose_image_set="kubefate")[1] == []
