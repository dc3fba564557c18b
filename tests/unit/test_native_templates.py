"""The native runtime's supervisor program for FATE-Flow, rendered in-process from the role's template and
variables over a planned instance, then read as supervisor reads it (an INI file): the command and directories are
the plan's, and the environment FATE-Flow's task processes inherit carries fate_flow_task_threads."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from supervisor.datatypes import dict_of_key_value_pairs
from test_compose_render import ROOT, _trusted

from fateops.deployment import Host, build_inventory, plan_flows

ROLE = ROOT / "roles" / "party_native"
HOST = "192.0.2.40"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _program(
    settings: dict[str, Any], program: str = "fateflow", peer: str | None = None, role: Path = ROLE
) -> tuple[dict[str, Any], configparser.SectionProxy]:
    """The program of party 9999's instance on HOST, from role's template; with a peer, party 10000 on that
    address federates with it."""
    hosts = {HOST: Host(HOST, "root", False, [9999])}
    if peer:
        hosts[peer] = Host(peer, "root", False, [10000])
    inventory = build_inventory(hosts, plan_flows(hosts, settings), settings)
    (instance,) = inventory["all"]["children"]["fate_parties"]["hosts"][HOST]["fate_instances"]
    variables = {
        **_trusted(
            {
                **yaml.safe_load((ROOT / "roles" / "party_common" / "defaults" / "main.yml").read_text()),
                **yaml.safe_load((role / "defaults" / "main.yml").read_text()),
                **yaml.safe_load((ROOT / "roles" / "party_common" / "vars" / "main.yml").read_text()),
                **(yaml.safe_load(vars_file.read_text()) if (vars_file := role / "vars" / "main.yml").exists() else {}),
            }
        ),
        **settings,
        "fate_instance": instance,
        "ansible_managed": "Ansible managed",
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    text = templar.template(trust_as_template((role / "templates" / f"{program}.program.conf.j2").read_text()))
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    parser.read_string(text)
    return instance, parser[f"program:{program}"]


def _environment(program: configparser.SectionProxy) -> dict[str, str]:
    """The program's environment as supervisord reads it (quoted values may hold commas)."""
    return dict_of_key_value_pairs(program["environment"])


def test_fate_flows_program_runs_the_planned_instance_with_one_task_thread_by_default() -> None:
    instance, program = _program({})
    assert program["command"] == f"{instance['files']['python']} -m fate_flow.fate_flow_server"
    assert program["directory"] == instance["directories"]["home"]
    assert program["autostart"] == "true"
    environment = _environment(program)
    assert environment["PATH"].startswith(f"{instance['directories']['venv']}/bin:")
    assert {name: environment[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "1")


@pytest.mark.parametrize(("threads", "expected"), [(0, None), (4, "4"), ("2", "2")])
def test_the_task_thread_setting_reaches_the_environment(threads: Any, expected: str | None) -> None:
    _, program = _program({"fate_flow_task_threads": threads})
    environment = _environment(program)
    assert {name: environment.get(name) for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, expected)
    launcher = ("EXECUTOR_ENV", "FATE_TASK_LAUNCHER_SOCKET")
    assert set(environment) == {"PATH", *launcher, *(THREAD_VARIABLES if expected else ())}


@pytest.mark.parametrize(
    ("settings", "peer", "enabled"),
    [
        ({}, None, True),
        ({}, "192.0.2.41", False),
        ({"fate_task_launcher": True}, "192.0.2.41", True),
        ({"fate_task_launcher": False}, None, False),
    ],
    ids=["standalone by default", "federated by default", "federated, set on", "standalone, set off"],
)
def test_fate_flow_starts_its_task_processes_through_the_task_launcher_where_it_is_on(
    settings: dict[str, Any], peer: str | None, enabled: bool
) -> None:
    instance, program = _program(settings, peer=peer)
    assert instance["federation"]["engine"] == ("rabbitmq" if peer else "standalone")
    environment = _environment(program)
    files = instance["files"]
    if enabled:
        assert environment["EXECUTOR_ENV"] == files["task_launcher"]
        assert environment["FATE_TASK_LAUNCHER_SOCKET"] == files["task_socket"]
    else:
        assert "EXECUTOR_ENV" not in environment and "FATE_TASK_LAUNCHER_SOCKET" not in environment


def test_the_task_launcher_serves_the_planned_socket_with_fate_flows_environment() -> None:
    instance, program = _program({"fate_flow_task_threads": 2}, "fatetasks")
    files = instance["files"]
    command = program["command"].split()
    assert command[:4] == [files["python"], files["task_launcher"], "serve", files["task_socket"]]
    assert "fate.components.core" in command[4:]
    flow_environment = _environment(_program({"fate_flow_task_threads": 2})[1])
    environment = _environment(program)
    # The children it forks are FATE-Flow's task processes: the same thread counts, loaded once, here.
    assert environment == {name: flow_environment[name] for name in ("PATH", *THREAD_VARIABLES)}


def test_the_brokers_erlang_node_listens_on_loopback_only() -> None:
    """epmd (which the broker starts, inheriting ERL_EPMD_ADDRESS) and the distribution port answer only the
    host's own rabbitmqctl."""
    instance, program = _program({}, "rabbitmq", peer="192.0.2.41", role=ROOT / "roles" / "federation")
    environment = _environment(program)
    assert environment["ERL_EPMD_ADDRESS"] == "127.0.0.1"
    assert environment["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] == "-kernel inet_dist_use_interface {127,0,0,1}"
    assert environment["RABBITMQ_DIST_PORT"] == str(instance["ports"]["dist"])
    assert environment["RABBITMQ_NODENAME"].endswith("@localhost")
