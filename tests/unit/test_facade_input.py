"""Strict input through script.py as a user runs it: a fresh HOME, no FATEOPS_* variable.

Every bad value gets the function's failure result on stdout, one line on stderr naming the problem, a non-zero
exit, and changes nothing: each fails before any playbook runs, so no host is touched (no network needed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fateops import cli

REPO = Path(__file__).resolve().parents[2]
# A second party whose id is 0 follows each bad deploy value: should the bad value ever pass, the command still
# fails on that party before it deploys anything on this host.
GUARD = ("0", "127.0.0.1")


@dataclass
class Run:
    code: int
    out: str
    err: str
    home: Path

    @property
    def workspace(self) -> Path:
        return self.home / ".fateops"


def facade(home: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATEOPS_")}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, str(REPO / "script.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=120,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, home)


def assert_refused(run: Run, function: str, *problem: str) -> str:
    """The failure contract; returns the error message."""
    assert run.code == 1, run
    assert "Traceback" not in run.err
    assert run.err.endswith("\n") and run.err.count("\n") == 1, run.err
    prefix = f"fateops {function}: "
    assert run.err.startswith(prefix), run.err
    kind, message = run.err[len(prefix) :].rstrip("\n").split(": ", 1)
    assert kind in ("usage", "error")
    for part in problem:
        assert part in message, message
    # Exactly the function's failure result, as the facade prints it for any mistake (predict's retcode says
    # which: 100 a bad request, 1 a bad command line).
    retcode = json.loads(run.out)["retcode"] if function == "predict" else 1
    assert retcode != 0
    expected = cli._failure_output(function, message, retcode)
    assert run.out == (expected + "\n" if expected else ""), run.out
    return message


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("party_id", "problem"),
    [
        ("٩٩٩٩", "-id '٩٩٩٩' is not a party id"),
        ("+9999", "-id '+9999' is not a party id"),
        (" 9 ", "-id ' 9 ' is not a party id"),
        ("1_000", "-id '1_000' is not a party id"),
        ("1" * 26, f"-id '{'1' * 26}' is not a party id"),
    ],
)
def test_deploy_refuses_party_ids(home, party_id, problem):
    run = facade(home, "-f", "deploy", "-id", party_id, GUARD[0], "-ip", "127.0.0.1", GUARD[1])
    assert_refused(run, "deploy", problem, "1 to 10 ASCII digits")
    assert not run.workspace.exists()


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("255.255.255.255", "the broadcast address"),
    ],
)
def test_deploy_refuses_addresses_that_are_not_one_host(home, ip, problem):
    run = facade(home, "-f", "deploy", "-id", "1", GUARD[0], "-ip", ip, GUARD[1])
    assert_refused(run, "deploy", f"-ip {ip} is {problem}", "unicast address")
    assert not run.workspace.exists()


def test_upload_refuses_party_ids(home):
    run = facade(home, "-f", "upload", "-gp", "٩٩٩٩", "g.csv", "-hp", "10000", "h.csv", "-proj", "p")
    assert_refused(run, "upload", "-gp '٩٩٩٩' is not a party id")
    run = facade(home, "-f", "upload", "-gp", "9999", "g.csv", "-hp", "+10000", "h.csv", "-proj", "p")
    assert_refused(run, "upload", "-hp '+10000' is not a party id")
    assert not run.workspace.exists()


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        # argparse reads "-x" as a flag: its own error, with upload's failure line.
        (["-proj", "-x"], "argument -proj/--project: expected one argument"),
        (["--project=-x"], "project '-x' may hold only ASCII letters"),
        (["-proj", "ünï"], "project 'ünï' may hold only ASCII letters, digits, '_' and '-'"),
        (["-proj", "a b"], "project 'a b' may hold only"),
    ],
)
def test_upload_refuses_project_names(home, flags, problem):
    run = facade(home, "-f", "upload", "-gp", "9999", "g.csv", "-hp", "10000", "h.csv", *flags)
    assert_refused(run, "upload", problem)
    assert not run.workspace.exists()


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["-mid", "../../etc", "-mver", "0", "-mname", "s"], "-mid '../../etc' is not a FATE id"),
        (["-mid", "m", "-mver", "a/b", "-mname", "s"], "-mver 'a/b' is not a FATE id"),
        (["-mid=-x", "-mver", "0", "-mname", "s"], "-mid '-x' is not a FATE id"),
        (["-mid", "m", "-mver", "0", "-mname", "../s"], "service name '../s' may hold only ASCII letters"),
        (["-mid", "m", "-mver", "0", "-mname", "ünï"], "service name 'ünï' may hold only"),
    ],
)
def test_load_bind_refuses_ids_and_names(home, flags, problem):
    run = facade(home, "-f", "load_bind", *flags)
    assert_refused(run, "load_bind", problem)
    assert not run.workspace.exists()


def test_predict_refuses_a_bad_service_name(home):
    run = facade(home, "-f", "predict", "-mname", "a/b", "-params", "1", "id=1")
    assert_refused(run, "predict", "service name 'a/b' may hold only")
    assert json.loads(run.out)["retcode"] == 100


def test_query_refuses_a_bad_job_id(home):
    run = facade(home, "-f", "query", "-jid", "../x")
    assert_refused(run, "query", "-jid '../x' is not a FATE id")


@pytest.mark.parametrize(
    ("function", "config", "problem"),
    [
        ("migrate", {"model_id": "../../etc"}, "model_id '../../etc' is not a FATE id"),
        ("migrate", {"unify_model_version": "../v"}, "unify_model_version '../v' is not a FATE id"),
        ("migrate", {"role": {"guest": ["+9999"], "host": [10000]}}, "role.guest: party id '+9999' is not"),
        ("import", {"model_version": "a/b"}, "model_version 'a/b' is not a FATE id"),
        ("import", {"party_id": "٩٩"}, "party_id '٩٩' is not a party id"),
    ],
)
def test_config_files_refuse_ids(home, function, config, problem):
    base = {
        "migrate": {
            "job_parameters": {"federated_mode": "MULTIPLE"},
            "migrate_initiator": {"role": "guest", "party_id": 99},
            "role": {"guest": [9999], "host": [10000]},
            "migrate_role": {"guest": [99], "host": [100]},
            "execute_party": {"guest": [9999], "host": [10000]},
            "model_id": "202612011830123456789",
            "model_version": "0",
        },
        "import": {"role": "guest", "party_id": 99, "model_id": "m", "model_version": "0", "file": "/x.zip"},
    }[function]
    path = home / "conf.json"
    path.write_text(json.dumps({**base, **config}))
    run = facade(home, "-f", function, "-conf", str(path))
    assert_refused(run, function, problem)
    assert json.loads(run.out)["retcode"] == 1
    assert not run.workspace.exists()


@pytest.mark.parametrize(
    ("function", "flags", "problem"),
    [
        ("submit", ["-alg", "bogus", "-proj", "p"], "argument -alg: invalid choice: 'bogus'"),
        ("submit", ["-alg", "hetero_lr", "-proj", "p", "-m", "5"], "argument -m: invalid choice: 5 (choose from 0, 1)"),
        ("deploy", ["-id", "1", "-ip", "127.0.0.1", "-alg", "bogus"], "argument -alg: invalid choice"),
        ("upload", ["-gp", "1"], "argument -gp: expected 2 arguments"),
        ("load_bind", ["--nope"], "unrecognized arguments: --nope"),
        ("predict", ["-mname"], "argument -mname: expected one argument"),
    ],
)
def test_flag_mistakes_print_the_failure_result(home, function, flags, problem):
    run = facade(home, "-f", function, *flags)
    message = assert_refused(run, function, problem, "see python3 script.py -h")
    assert run.err.startswith(f"fateops {function}: usage: ")
    assert message
    assert not run.workspace.exists()


@pytest.mark.parametrize(("flags", "problem"), [([], "no function given"), (["-f", "train"], "-f 'train'")])
def test_no_function_is_one_line_and_exit_2(home, flags, problem):
    run = facade(home, *flags, "-id", "1")
    assert run.code == 2 and run.out == "" and "Traceback" not in run.err
    assert run.err.count("\n") == 1 and problem in run.err and "pass -f one of deploy" in run.err


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ("[1, 2]", "holds list, not an object"),
        ('{"deployment": 3}', "deployment is 3, not an object"),
        ('{"deployment": {"parties": [{"ip": "127.0.0.1"}], "hosts": {}}}', "deployment.parties[0] has no party_id"),
        (
            '{"deployment": {"parties": [], "hosts": {"127.0.0.1": {"local": true}}}}',
            "deployment.hosts.127.0.0.1 has no user",
        ),
        (
            '{"jobs": {"202612011830123456789": {"project": "p", "algorithm": "hetero_lr", "hosts": [10000],'
            ' "model_id": "202612011830123456789", "model_version": "0"}}}',
            "jobs.202612011830123456789 has no guest",
        ),
    ],
)
@pytest.mark.parametrize(
    ("function", "flags"),
    [
        ("submit", ["-alg", "hetero_lr", "-proj", "p"]),
        ("load_bind", ["-mid", "202612011830123456789", "-mver", "0", "-mname", "s"]),
        ("predict", ["-mname", "s", "-params", "1", "id=1"]),
    ],
)
def test_wrong_shaped_state_is_one_line(home, state, problem, function, flags):
    workspace = home / ".fateops"
    workspace.mkdir()
    (workspace / "state.json").write_text(state)
    run = facade(home, "-f", function, *flags)
    message = assert_refused(run, function, str(workspace / "state.json"), problem)
    assert message.endswith("fix that key or restore the file from a backup") or "restore it from a backup" in message
    assert (workspace / "state.json").read_text() == state
    assert not (workspace / "runs").exists()


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ("fate_flow_http_port: abc\n", 'fate_flow_http_port is "abc", not a port number from 1 to 65535'),
        ("fate_topology: [1]\n", "fate_topology is [1], not mesh or star"),
        ("fate_job_options: 5\n", "fate_job_options is 5, not an object"),
        ("fate_base_dir: 7\n", "fate_base_dir is 7, not an absolute path"),
        ("fate_base_dir: data/fate\n", 'fate_base_dir is "data/fate", not an absolute path'),
        ("fate_exchange_host: 0.0.0.0\n", 'fate_exchange_host is "0.0.0.0", not a host\'s IP address'),
        ("fate_arbiter_party_id: '+1'\n", 'fate_arbiter_party_id is "+1", not a party id'),
        ("fate_runtime: k8s\n", 'fate_runtime is "k8s", not one of native, compose'),
    ],
)
def test_wrongly_typed_settings_are_one_line(home, settings, problem):
    workspace = home / ".fateops"
    workspace.mkdir()
    (workspace / "settings.yml").write_text(settings)
    run = facade(home, "-f", "submit", "-alg", "hetero_lr", "-proj", "p")
    message = assert_refused(run, "submit", f"{workspace / 'settings.yml'}: {problem}", "or remove it")
    assert "give" in message
    assert sorted(p.name for p in workspace.iterdir()) == ["settings.yml"]
