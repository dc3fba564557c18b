"""Parties on separate hosts, reached over real ssh: each a network namespace with its own sshd and address.

Each party gets its own FATE-Flow, RabbitMQ broker and nginx; FATE federates across the bridge. One workspace
per topology, as a regulator would use it: a mesh that starts with guest 9999 and host 10000, trains, serves,
grows by host 10001 in place, trains guest + two hosts, survives faults and shrinks again; then a star whose
every call between parties passes an exchange host.

The hosts share this machine's filesystem but have no route to a package index, so the FATE runtime is built
once from the root namespace (conftest's fate_runtime: playbooks/runtime.yml) and every party links it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from fateops import ROOT
from fateops.ssh_keys import ensure_key_pair
from fateops.workspace import Workspace
from tests.harness.fixtures import netns_harness  # noqa: F401  (a session fixture, shared with other modules)
from tests.harness.netns_hosts import Harness, TestHost

from .conftest import (
    TEST_BASE_DIR,
    Facade,
    Result,
    guest_row,
    predict,
    processes_under,
    short_workspace,
    train_and_serve,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hosts(netns_harness: Harness) -> list[TestHost]:  # noqa: F811
    return netns_harness.hosts


def trusting_facade(home: Path, harness: Harness) -> Facade:
    """A workspace whose ssh key root on every test host accepts already (root has no password we may set)."""
    facade = Facade(home)
    key = ensure_key_pair(Workspace(home))
    for host in harness.hosts:
        harness.authorize_root_key(host, key.public.line)
    return facade


def delete_everything(facade: Facade) -> None:
    parties = facade.state().get("deployment", {}).get("parties", [])
    if parties:
        facade("-f", "delete", "-id", *[str(p["party_id"]) for p in parties], "-ip", *[p["ip"] for p in parties])


def flow_client(host: TestHost, port: int = 9380) -> FateFlowClient:
    return FateFlowClient(host=host.ip, port=port, timeout=30)


def flow_pid(party_id: int) -> int:
    return _pid_of(f"{TEST_BASE_DIR}/party-{party_id}/venv/bin/python -m fate_flow.fate_flow_server")


def _pid_of(marker: str) -> int:
    out = subprocess.run(["pgrep", "-f", "-o", marker], capture_output=True, text=True, check=False).stdout
    assert out.strip(), f"no process {marker}"
    return int(out.split()[0])


def link(harness: Harness, host: TestHost, state: str) -> None:
    index = harness.hosts.index(host) + 1
    subprocess.run(["ip", "link", "set", harness.config.veth_name(index), state], check=True)


def route_table(party_id: int) -> dict:
    return yaml.safe_load(
        (TEST_BASE_DIR / f"party-{party_id}" / "home" / "conf" / "rabbitmq_route_table.yaml").read_text()
    )


def nginx_routes(party_id: int) -> str:
    return (TEST_BASE_DIR / f"party-{party_id}" / "nginx" / "routes.conf").read_text()


def files_holding(root: Path, needles: list[bytes], skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under root (run artifacts included) that holds one of needles, as "path: needle"."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            # Regular files only: ssh's shared-connection sockets live in the workspace too.
            if path in skip or path.is_symlink() or not path.is_file():
                continue
            content = path.read_bytes()
            found += [f"{path}: {needle[:12]!r}..." for needle in needles if needle in content]
    return found


# ------------------------------------------------------------------------------------------ password bootstrap


def test_password_login_installs_the_key_and_the_password_goes_nowhere(
    netns_harness: Harness,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
):
    # The dedicated test user logs in with its password once; it does not own the base dir, so the deploy
    # must then fail cleanly on that host, naming the problem, with nothing recorded.
    host = netns_harness.hosts[3]
    facade = Facade(short_workspace(tmp_path_factory))
    result = facade("-f", "deploy", "-id", "20000", "-ip", host.ip, "-u", host.user, "-pw", host.password)
    assert (result.rc, result.out) == (1, "deploy failure.\n")
    assert f"installed the workspace ssh key on {host.ip}" in result.err
    assert host.ip in result.err.splitlines()[-1] and "writable" in result.err.splitlines()[-1], result.err
    assert "deployment" not in facade.state() or not facade.state()["deployment"]["parties"]
    key = Workspace(facade.home)
    assert ensure_key_pair(key).public.line.split()[1] in (host.home_dir / ".ssh" / "authorized_keys").read_text()
    leaked = [p for p in facade.home.rglob("*") if p.is_file() and host.password.encode() in p.read_bytes()]
    assert leaked == []
    assert host.password not in result.err + result.out


# Any python3 outside .venv: script.py then re-executes itself into .venv, as it does for the regulator's systems.
SYSTEM_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _read_proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def run_watched(facade: Facade, args: list[str], stdin: str = "", env: dict | None = None) -> tuple[Result, list]:
    """Run the facade as a caller does and, while it runs, read the cmdline and environ of the re-exec'd facade
    and of every process below it (ansible-playbook, its workers, ssh): [(pid, cmdline, environ), ...]."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [str(SYSTEM_PYTHON), str(ROOT / "script.py"), *args],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=env or facade.env(),
        )
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
        seen = []
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            cmdline = _read_proc(proc.pid, "cmdline")
            # Before the re-exec this is still the caller's python with the caller's argv; the facade starts after it.
            if cmdline.startswith(str(VENV_PYTHON).encode() + b"\0"):
                seen.append((proc.pid, cmdline, _read_proc(proc.pid, "environ")))
                seen += [
                    (pid, _read_proc(pid, "cmdline"), _read_proc(pid, "environ")) for pid in _descendants(proc.pid)
                ]
            time.sleep(0.05)
        proc.wait(timeout=10)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read().decode(), err.read().decode()), seen


def private_key_needles(home: Path) -> list[bytes]:
    """The workspace key's secret part: its PEM body lines (found also inside JSON, where newlines are escaped)."""
    lines = (home / "ssh" / "id_ed25519").read_bytes().splitlines()
    return [line for line in lines if line and not line.startswith(b"-----")]


@pytest.mark.parametrize("form", ["argv", "stdin"])
def test_no_password_in_argv_environment_artifacts_or_workspace(
    netns_harness: Harness,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    form: str,
):
    # The password user cannot deploy (it does not own the base dir), so the run goes as far as ansible-playbook
    # on the host and fails there: bootstrap, the re-exec and Ansible's processes are all exercised.
    host = netns_harness.hosts[3] if form == "argv" else netns_harness.hosts[2]
    facade = Facade(short_workspace(tmp_path_factory))
    hub_password = "hub-" + os.urandom(12).hex()
    env = {**facade.env(), "FATEOPS_EXCHANGE_PASSWORD": hub_password}
    args = ["-f", "deploy", "-id", "20000", "-ip", host.ip, "-u", host.user]
    if form == "argv":
        result, seen = run_watched(facade, [*args, "-pw", host.password], env=env)
    else:
        result, seen = run_watched(facade, [*args, "-pw", "-"], stdin=host.password + "\n", env=env)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err
    assert f"installed the workspace ssh key on {host.ip}" in result.err
    # The sampling saw the facade and ansible-playbook running.
    assert seen, "the re-exec'd facade was never seen running"
    assert any(b"ansible-playbook" in cmdline for _, cmdline, _ in seen)
    secrets = [host.password.encode(), hub_password.encode(), *private_key_needles(facade.home)]
    leaked = [
        (pid, cmdline.split(b"\0")[:2], what)
        for pid, cmdline, environ in seen
        for what, text in (("cmdline", cmdline), ("environ", environ))
        if any(secret in text for secret in secrets)
    ]
    assert leaked == []
    # Nothing of them in the workspace: state, inventory, logs and every run's artifacts (the key file aside).
    assert list(facade.home.glob("runs/*/artifacts/*")), "no run artifacts to look at"
    assert files_holding(facade.home, secrets, skip=(facade.home / "ssh" / "id_ed25519",)) == []
    assert host.password not in result.err + result.out and hub_password not in result.err


# ------------------------------------------------------------------------------------------------------ mesh


@pytest.fixture(scope="module")
def mesh(netns_harness: Harness, fate_runtime, tmp_path_factory) -> Iterator[Facade]:  # noqa: F811
    facade = trusting_facade(tmp_path_factory.mktemp("mesh") / "workspace", netns_harness)
    yield facade
    delete_everything(facade)


def test_two_hosts_deploy(mesh: Facade, hosts: list[TestHost]):
    up = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip, "-u", "root")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    for host, party_id in ((hosts[0], 9999), (hosts[1], 10000)):
        assert flow_client(host).server_info()  # answers on its own address
        assert str(route_table(party_id)[9999]["host"]) == hosts[0].ip
    assert f"10000 {hosts[1].ip}:9380;" in nginx_routes(9999)
    # The brokers' passwords are made on the party hosts; none reaches the workspace (state, runs, artifacts).
    for party_id in (9999, 10000):
        secret = (TEST_BASE_DIR / f"party-{party_id}" / "rabbitmq" / "fate.secret").read_text().strip()
        assert len(secret) >= 24
        assert [p for p in mesh.home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()] == []
    again = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err
    assert "no change" in again.err


def test_two_hosts_train_and_serve(mesh: Facade, hosts: list[TestHost], datasets):
    job = train_and_serve(mesh, flow_client(hosts[0]), datasets["breast"], 9999, [10000], "mesh2", short=True)
    # Each party's weights were fetched and written on its own host: none passed through the controller.
    for host, role, party_id in ((hosts[0], "guest", 9999), (hosts[1], "host", 10000)):
        model = flow_client(host).output_model(job["jobid"], role, party_id, "lr_0")
        coefficients = [
            json.dumps(row[0]).encode() for row in model["output_model"]["data"]["estimator"]["param"]["coef_"]
        ]
        needles = [c for c in coefficients if len(c) >= 8] + [b'"coef_"']
        kept = list((TEST_BASE_DIR / f"party-{party_id}").rglob(f"incoming/{job['model_id']}_*_{role}_{party_id}.json"))
        assert kept and needles[0] in kept[0].read_bytes(), kept
        assert files_holding(mesh.home, needles) == []


def instance_files(party_id: int) -> dict[str, tuple[int, int]]:
    """The instance's configuration and data files as (size, mtime): what a run that reached the host would touch."""
    found = {}
    for directory, dirs, names in os.walk(TEST_BASE_DIR / f"party-{party_id}"):
        dirs[:] = [d for d in dirs if d not in ("logs", "jobs", "venv")]
        for name in names:
            path = Path(directory) / name
            if path.suffix in (".yaml", ".yml", ".conf", ".json", ".csv", ".secret") and not path.is_symlink():
                info = path.stat()
                found[str(path)] = (info.st_size, info.st_mtime_ns)
    return found


def test_a_changed_host_key_is_refused_by_every_function(
    mesh: Facade,
    hosts: list[TestHost],
    netns_harness: Harness,  # noqa: F811
    datasets,
    tmp_path: Path,
):
    guest = hosts[0]
    known_hosts = mesh.home / "ssh" / "known_hosts"
    fix = f"ssh-keygen -R '{guest.ip}' -f {known_hosts}"
    job = next(job for job in mesh.state()["jobs"].values() if job["project"] == "mesh2")
    model = ["-mid", job["model_id"], "-mver", job["model_version"]]
    migrate_config = json.loads(
        (ROOT / "tests" / "unit" / "fixtures" / "fate_models" / "migrate_model.json").read_text()
    )
    migrate_config["model_id"] = job["model_id"]
    (tmp_path / "migrate_model.json").write_text(json.dumps(migrate_config))
    import_config = {"role": "guest", "party_id": 9999, "model_id": job["model_id"], "model_version": "0",
                     "file": str(tmp_path / "guest.zip"), "force_update": False}  # fmt: skip
    (tmp_path / "import_model.json").write_text(json.dumps(import_config))
    data = datasets["breast"]
    calls = {
        "upload": ["-gp", "9999", str(data["guest"]), "-hp", "10000", str(data["hosts"][0]), "-proj", "hostkey"],
        "submit": ["-alg", "hetero_lr", "-proj", "mesh2", "-m", "1"],
        "load_bind": [*model, "-mname", "hostkey"],
        "migrate": ["-conf", str(tmp_path / "migrate_model.json")],
        "import": ["-conf", str(tmp_path / "import_model.json")],
        "deploy": ["-id", "9999", "10000", "-ip", guest.ip, hosts[1].ip],
        "delete": ["-id", "9999", "-ip", guest.ip],
    }
    state, flow, files, recorded = mesh.state(), flow_pid(9999), instance_files(9999), known_hosts.read_bytes()
    with netns_harness.changed_host_key(guest):
        for function, args in calls.items():
            result = mesh("-f", function, *args)
            assert result.rc != 0, (function, result.out, result.err)
            if function in ("submit", "migrate", "import"):
                assert json.loads(result.out)["retcode"] != 0, (function, result.out)
            else:
                assert result.out == f"{function} failure.\n", (function, result.out)
            assert [line for line in result.err.splitlines() if fix in line], (function, result.err)
            assert "REMOTE HOST IDENTIFICATION" not in result.err, (function, result.err)
            # Nothing on that host, nor in the workspace, changed.
            assert mesh.state() == state, function
            assert (flow_pid(9999), instance_files(9999)) == (flow, files), function
            assert known_hosts.read_bytes() == recorded, function
    # The original key is back: the host works as before.
    again = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", guest.ip, hosts[1].ip)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err


def test_a_party_joins_in_place(mesh: Facade, hosts: list[TestHost]):
    before = {party_id: flow_pid(party_id) for party_id in (9999, 10000)}
    up = mesh("-f", "deploy", "-id", "10001", "-ip", hosts[2].ip)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    # The survivors route to the new party and kept running: nginx reloads, FATE reads its tables per job.
    assert {party_id: flow_pid(party_id) for party_id in (9999, 10000)} == before
    for party_id in (9999, 10000):
        assert route_table(party_id)[10001] == {"host": hosts[2].ip, "port": 5672}
        assert f"10001 {hosts[2].ip}:9380;" in nginx_routes(party_id)
    # FATE-Flow's calls for 10001 leave 9999's nginx for 10001's FATE-Flow.
    request = urllib.request.Request(
        f"http://{hosts[0].ip}:9300/v2/server/fateflow", headers={"dest-party-id": "10001"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["code"] == 0


def test_guest_and_two_hosts_train_and_serve(mesh: Facade, hosts: list[TestHost], datasets):
    train_and_serve(mesh, flow_client(hosts[0]), datasets["breast2"], 9999, [10000, 10001], "mesh3", short=True)


def test_supervisord_restarts_killed_services(mesh: Facade, hosts: list[TestHost]):
    old = flow_pid(9999)
    os.kill(old, signal.SIGKILL)
    serving = _pid_of(f"{TEST_BASE_DIR}/party-10000/venv/bin/python -m fateops_serving")
    os.kill(serving, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:
        try:
            flow_client(hosts[0]).server_info()
            break
        except Exception:
            assert time.monotonic() < deadline, "FATE-Flow was not restarted"
            time.sleep(2)
    assert flow_pid(9999) != old
    assert _pid_of(f"{TEST_BASE_DIR}/party-10000/venv/bin/python -m fateops_serving") != serving


def test_predict_with_a_host_down_answers_a_remote_error(mesh: Facade, hosts: list[TestHost], netns_harness, datasets):  # noqa: F811
    row = guest_row(datasets["breast"]["guest"], 0)
    link(netns_harness, hosts[1], "down")
    try:
        started = time.monotonic()
        rc, answer = predict(mesh, "mesh2", "id=0", *row)
        elapsed = time.monotonic() - started
    finally:
        link(netns_harness, hosts[1], "up")
    assert rc != 0 and answer["prob"] is None, answer
    assert answer["retcode"] == 105 and "remote rpc exception" in answer["retmsg"].lower(), answer
    assert elapsed < 15, elapsed
    # Back up: the same call succeeds again.
    deadline = time.monotonic() + 30
    while predict(mesh, "mesh2", "id=0", *row)[0] != 0:
        assert time.monotonic() < deadline
        time.sleep(1)


def test_host_down_during_deploy_fails_naming_it_and_a_rerun_converges(
    mesh: Facade,
    hosts: list[TestHost],
    netns_harness: Harness,  # noqa: F811
):
    state = mesh.state()
    ids, ips = ["9999", "10000", "10001"], [hosts[0].ip, hosts[1].ip, hosts[2].ip]
    link(netns_harness, hosts[2], "down")
    try:
        down = mesh("-f", "deploy", "-id", *ids, "-ip", *ips, timeout=120)
    finally:
        link(netns_harness, hosts[2], "up")
    assert (down.rc, down.out) == (1, "deploy failure.\n")
    assert f"host {hosts[2].ip} is unreachable" in down.err.splitlines()[-1], down.err
    assert mesh.state() == state
    up = mesh("-f", "deploy", "-id", *ids, "-ip", *ips)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err


def test_a_party_leaves_and_its_routes_go(mesh: Facade, hosts: list[TestHost]):
    gone = mesh("-f", "delete", "-id", "10001", "-ip", hosts[2].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    for party_id in (9999, 10000):
        assert 10001 not in route_table(party_id)
        assert "10001 " not in nginx_routes(party_id)
    assert not (TEST_BASE_DIR / "party-10001").exists()
    assert [p["party_id"] for p in mesh.state()["deployment"]["parties"]] == [9999, 10000]


def test_delete_every_party(mesh: Facade, hosts: list[TestHost]):
    gone = mesh("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not (TEST_BASE_DIR / "party-9999").exists() and not (TEST_BASE_DIR / "party-10000").exists()
    assert processes_under(TEST_BASE_DIR / "party-9999") == []


# ------------------------------------------------------------------------------------------------------ star


@pytest.fixture(scope="module")
def star(netns_harness: Harness, fate_runtime, tmp_path_factory) -> Iterator[Facade]:  # noqa: F811
    facade = trusting_facade(tmp_path_factory.mktemp("star") / "workspace", netns_harness)
    facade.settings(fate_topology="star", fate_exchange_host=netns_harness.hosts[3].ip)
    yield facade
    delete_everything(facade)


def test_star_through_an_exchange(star: Facade, hosts: list[TestHost], datasets):
    up = star("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    exchange = hosts[3].ip
    # A party knows only itself and the exchange.
    assert route_table(9999)[10000]["host"] == exchange
    assert f"default {exchange}:9300;" in nginx_routes(9999)

    train_and_serve(star, flow_client(hosts[0]), datasets["breast"], 9999, [10000], "star", short=True)
    logs = TEST_BASE_DIR / "exchange" / "logs"
    http = (logs / "http.access.log").read_text()
    assert "/v2/partner/job/" in http  # FATE-Flow's scheduling calls
    assert "/federation/v1/partial" in http  # the guest's serving call for the host's partial score
    assert f"-> {hosts[1].ip}:5672" in (logs / "stream.access.log").read_text()  # RabbitMQ between brokers

    gone = star("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not (TEST_BASE_DIR / "exchange").exists()
