"""Parties on separate machines: bare container hosts (tests/harness/container_hosts.py), each with its own root
filesystem, processes, address and root password, and no route beyond their network (no package index).

Every party gets its own FATE-Flow, RabbitMQ broker and nginx; FATE federates across the network. The workspace
reaches each host as an operator does, `-u root -pw <password>` once; the deploy gives a host what it lacks from
the offline bundle (Debian packages, the FATE runtime's wheels). One workspace per topology: a mesh that starts
with guest 9999 and host 10000, trains, serves, grows by host 10001 in place, trains guest + two hosts, survives
killed services, a host cut off and a host crashed mid-deploy, and shrinks again; a dedicated non-root user's
parties on the same hosts; then a star whose every call between parties passes an exchange host.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from fateops import ROOT
from fateops.deployment import DEFAULT_RABBITMQ_DIST_PORT
from tests.harness.container_hosts import ContainerHarness, ContainerHarnessConfig, ContainerHost

from .conftest import (
    HostFacade,
    Result,
    container_hosts,
    files_containing,
    guest_row,
    predict,
    short_workspace,
    train_and_serve,
)

pytestmark = pytest.mark.integration

BASE_DIR = Path("/data/projects/fate")
# What the offline bundle installs on a bare host for a party federated through its broker.
BUNDLED = ["python3-venv", "rabbitmq-server", "nginx", "libnginx-mod-stream"]
# Erlang's port mapper, which every broker starts.
EPMD_PORT = 4369


def port_answers(ip: str, port: int) -> bool:
    """Whether a TCP connection from this machine (not a party: the test network's gateway) to ip:port is taken."""
    try:
        with socket.create_connection((ip, port), timeout=5):
            return True
    except OSError:
        return False


def local_port_answers(harness: ContainerHarness, host: ContainerHost, port: int) -> bool:
    """Whether host itself reaches its loopback's port."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
    return harness.exec(host, ["python3", "-c", probe]).returncode == 0


@pytest.fixture(scope="module")
def harness() -> Iterator[ContainerHarness]:
    # Three party hosts and one for the star's exchange (and the password tests' users).
    yield from container_hosts(ContainerHarnessConfig(count=4, prefix="fmh", subnet="10.77.6.0/24"))


@pytest.fixture(scope="module")
def hosts(harness: ContainerHarness) -> list[ContainerHost]:
    return harness.hosts


def flow_client(host: ContainerHost, port: int = 9380) -> FateFlowClient:
    return FateFlowClient(host=host.ip, port=port, timeout=30)


def delete_everything(facade: HostFacade) -> None:
    parties = facade.state().get("deployment", {}).get("parties", [])
    if parties:
        facade("-f", "delete", "-id", *[str(p["party_id"]) for p in parties], "-ip", *[p["ip"] for p in parties])


def instance(party_id: int, base_dir: Path = BASE_DIR) -> Path:
    return base_dir / f"party-{party_id}"


def flow_pid(harness: ContainerHarness, host: ContainerHost, party_id: int) -> int | None:
    return harness.pid_of(host, f"{instance(party_id)}/venv/bin/python -m fate_flow.fate_flow_server")


def route_table(harness: ContainerHarness, host: ContainerHost, party_id: int) -> dict:
    return yaml.safe_load(harness.read_text(host, instance(party_id) / "home/conf/rabbitmq_route_table.yaml"))


def nginx_routes(harness: ContainerHarness, host: ContainerHost, party_id: int) -> str:
    return harness.read_text(host, instance(party_id) / "nginx/routes.conf")


def put(harness: ContainerHarness, host: ContainerHost, local: Path) -> None:
    """A data file onto host at the same path (the operator's copy step: upload reads files on the hosts)."""
    assert harness.exec(host, ["mkdir", "-p", str(local.parent)]).returncode == 0
    harness.copy_to(host, local, local)


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


def error_lines(err: str, function: str = "deploy") -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"fateops {function}: error:")]


# ------------------------------------------------------------------------------------------ password bootstrap


def test_password_login_installs_the_key_and_the_password_goes_nowhere(
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory
):
    # A login user of its own logs in with its password once; on a bare host it would have to install packages,
    # which needs root, so the deploy then fails cleanly on that host, naming the problem, with nothing recorded.
    host = harness.add_user(harness.hosts[3], "fateops-pw")
    facade = HostFacade(short_workspace(tmp_path_factory))
    result = facade("-f", "deploy", "-id", "20000", "-ip", host.ip, "-u", host.user, "-pw", host.password)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-2000:]
    assert f"installed the workspace ssh key on {host.ip}" in result.err
    (line,) = error_lines(result.err)
    assert host.ip in line and "installing them needs root: deploy once as root (-u root)" in line, line
    assert "deployment" not in facade.state() or not facade.state()["deployment"]["parties"]
    public = (facade.home / "ssh" / "id_ed25519.pub").read_text().split()[1]
    assert public in harness.read_text(host, f"/home/{host.user}/.ssh/authorized_keys")
    assert harness.exec(host, ["test", "-e", str(BASE_DIR)]).returncode == 1
    assert files_containing(facade.home, host.password) == []
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


def run_watched(facade: HostFacade, args: list[str], stdin: str = "", env: dict | None = None) -> tuple[Result, list]:
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
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory, form: str
):
    # The user cannot deploy (a bare host, packages to install, no root), so the run goes as far as
    # ansible-playbook on the host and fails there: bootstrap, the re-exec and Ansible's processes are exercised.
    host = harness.add_user(harness.hosts[3] if form == "argv" else harness.hosts[2], f"fateops-{form}")
    facade = HostFacade(short_workspace(tmp_path_factory))
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
def mesh(harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostFacade]:
    facade = HostFacade(short_workspace(tmp_path_factory))
    yield facade
    delete_everything(facade)


@pytest.fixture(scope="module")
def mesh_data(harness: ContainerHarness, datasets: dict) -> dict:
    """The example data on the mesh's hosts: guest files on the first, host files on the second and third."""
    first, second, third = harness.hosts[:3]
    for name in ("breast", "breast2"):
        put(harness, first, datasets[name]["guest"])
        for host, path in zip((second, third), datasets[name]["hosts"], strict=False):
            put(harness, host, path)
    return datasets


def test_two_bare_hosts_deploy_by_root_password(mesh: HostFacade, harness: ContainerHarness, hosts):
    first, second = hosts[:2]
    up = mesh(
        "-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, "-u", "root",
        "-pw", first.password, second.password, timeout=900,
    )  # fmt: skip
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-3000:]
    assert f"installed the workspace ssh key on {first.ip}, {second.ip}" in up.err
    for host, party_id in ((first, 9999), (second, 10000)):
        assert flow_client(host).server_info()  # answers on its own address
        assert str(route_table(harness, host, party_id)[9999]["host"]) == first.ip
        # The packages came from the bundle (the hosts reach no index); what was shipped is gone again, and no
        # package's own service was started (every party runs its own broker and nginx).
        listed = harness.exec(host, ["dpkg-query", "-W", "-f", "${Status}\n", *BUNDLED]).stdout.splitlines()
        assert listed == ["install ok installed"] * len(BUNDLED), listed
        assert harness.exec(host, ["test", "-e", str(BASE_DIR / ".bundle" / "debian")]).returncode == 1
        assert harness.exec(host, ["test", "-e", str(BASE_DIR / ".bundle" / "wheels")]).returncode == 1
        assert harness.exec(host, ["test", "-e", "/usr/sbin/policy-rc.d"]).returncode == 1
        for program in ("beam.smp", "nginx: master"):
            running = [
                line for line in harness.exec(host, ["ps", "-eo", "args="]).stdout.splitlines() if program in line
            ]
            assert running and all(str(instance(party_id)) in line for line in running), running
        # The broker's Erlang node (epmd, the distribution port) answers on the host's loopback only.
        for port in (EPMD_PORT, DEFAULT_RABBITMQ_DIST_PORT):
            assert not port_answers(host.ip, port), f"{host.ip}:{port} answers from another address"
            assert local_port_answers(harness, host, port), f"{host.name}: nothing on 127.0.0.1:{port}"
        # The broker's password is made on the party host; it reaches neither the workspace nor the controller.
        secret = harness.read_text(host, instance(party_id) / "rabbitmq" / "fate.secret").strip()
        assert len(secret) >= 24 and files_containing(mesh.home, secret) == []
        assert files_containing(mesh.home, host.password) == []
    assert f"10000 {second.ip}:9380;" in nginx_routes(harness, first, 9999)
    known = (mesh.home / "ssh" / "known_hosts").read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted([first.ip, second.ip])

    # Again, without passwords: the key is enough, and nothing changes.
    again = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err[-2000:]
    assert "no change" in again.err.splitlines()[-1], again.err[-2000:]


def test_a_file_not_on_the_partys_host_is_refused_naming_the_host(mesh: HostFacade, hosts, datasets):
    data = datasets["breast"]
    # The files are on the controller (the test wrote them there) but not yet on the party hosts.
    missing = mesh("-f", "upload", "-gp", "9999", str(data["guest"]), "-hp", "10000", str(data["hosts"][0]),
                   "-proj", "nowhere")  # fmt: skip
    assert (missing.rc, missing.out) == (1, "upload failure.\n"), missing.err[-2000:]
    (line,) = error_lines(missing.err, "upload")
    # (whichever host's check ends first is the one named)
    named = [(host.ip, path) for host, path in ((hosts[0], data["guest"]), (hosts[1], data["hosts"][0]))]
    assert any(f"error: {ip}: " in line and f"{path} does not exist on this host" in line for ip, path in named), line


def test_two_hosts_train_and_serve(mesh: HostFacade, harness: ContainerHarness, hosts, mesh_data):
    job = train_and_serve(mesh, flow_client(hosts[0]), mesh_data["breast"], 9999, [10000], "mesh2", short=True)
    # Each party's weights were fetched and written on its own host: none passed through the controller.
    for host, role, party_id in ((hosts[0], "guest", 9999), (hosts[1], "host", 10000)):
        model = flow_client(host).output_model(job["jobid"], role, party_id, "lr_0")
        coefficients = [
            json.dumps(row[0]).encode() for row in model["output_model"]["data"]["estimator"]["param"]["coef_"]
        ]
        needles = [c for c in coefficients if len(c) >= 8] + [b'"coef_"']
        pattern = f"*incoming/{job['model_id']}_*_{role}_{party_id}.json"
        kept = harness.exec(host, ["find", str(instance(party_id)), "-path", pattern]).stdout.split()
        assert kept and needles[0].decode() in harness.read_text(host, kept[0]), kept
        assert files_holding(mesh.home, needles) == []


def instance_files(harness: ContainerHarness, host: ContainerHost, party_id: int) -> str:
    """The instance's configuration and data files with their size and mtime: what a run that reached the host
    would touch."""
    find = ["find", str(instance(party_id)), "(", "-name", "logs", "-o", "-name", "jobs", "-o", "-name", "venv", ")",
            "-prune", "-o", "-type", "f", "(", "-name", "*.yaml", "-o", "-name", "*.yml", "-o", "-name", "*.conf",
            "-o", "-name", "*.json", "-o", "-name", "*.csv", "-o", "-name", "*.secret", ")",
            "-printf", "%p %s %T@\n"]  # fmt: skip
    return "\n".join(sorted(harness.exec(host, find).stdout.splitlines()))


def test_a_changed_host_key_is_refused_by_every_function(
    mesh: HostFacade, harness: ContainerHarness, hosts, mesh_data, tmp_path: Path
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
    data = mesh_data["breast"]
    calls = {
        "upload": ["-gp", "9999", str(data["guest"]), "-hp", "10000", str(data["hosts"][0]), "-proj", "hostkey"],
        "submit": ["-alg", "hetero_lr", "-proj", "mesh2", "-m", "1"],
        "load_bind": [*model, "-mname", "hostkey"],
        "migrate": ["-conf", str(tmp_path / "migrate_model.json")],
        "import": ["-conf", str(tmp_path / "import_model.json")],
        "deploy": ["-id", "9999", "10000", "-ip", guest.ip, hosts[1].ip],
        "delete": ["-id", "9999", "-ip", guest.ip],
    }
    state, recorded = mesh.state(), known_hosts.read_bytes()
    flow, files = flow_pid(harness, guest, 9999), instance_files(harness, guest, 9999)
    with harness.changed_host_key(guest):
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
            assert flow_pid(harness, guest, 9999) == flow, function
            assert instance_files(harness, guest, 9999) == files, function
            assert known_hosts.read_bytes() == recorded, function
    # The original key is back: the host works as before.
    again = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", guest.ip, hosts[1].ip)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err[-2000:]


def test_a_party_joins_in_place(mesh: HostFacade, harness: ContainerHarness, hosts):
    before = {party_id: flow_pid(harness, host, party_id) for host, party_id in ((hosts[0], 9999), (hosts[1], 10000))}
    up = mesh("-f", "deploy", "-id", "10001", "-ip", hosts[2].ip, "-pw", hosts[2].password, timeout=900)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-3000:]
    # The survivors route to the new party and kept running: nginx reloads, FATE reads its tables per job.
    for host, party_id in ((hosts[0], 9999), (hosts[1], 10000)):
        assert flow_pid(harness, host, party_id) == before[party_id]
        assert route_table(harness, host, party_id)[10001] == {"host": hosts[2].ip, "port": 5672}
        assert f"10001 {hosts[2].ip}:9380;" in nginx_routes(harness, host, party_id)
    # FATE-Flow's calls for 10001 leave 9999's nginx for 10001's FATE-Flow.
    request = urllib.request.Request(
        f"http://{hosts[0].ip}:9300/v2/server/fateflow", headers={"dest-party-id": "10001"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["code"] == 0


def test_guest_and_two_hosts_train_and_serve(mesh: HostFacade, hosts, mesh_data):
    train_and_serve(mesh, flow_client(hosts[0]), mesh_data["breast2"], 9999, [10000, 10001], "mesh3", short=True)


def test_supervisord_restarts_killed_services(mesh: HostFacade, harness: ContainerHarness, hosts):
    old = flow_pid(harness, hosts[0], 9999)
    serving_marker = f"{instance(10000)}/venv/bin/python -m fateops_serving"
    serving = harness.pid_of(hosts[1], serving_marker)
    assert old and serving
    harness.exec(hosts[0], ["kill", "-KILL", str(old)])
    harness.exec(hosts[1], ["kill", "-KILL", str(serving)])
    deadline = time.monotonic() + 120
    while True:
        try:
            flow_client(hosts[0]).server_info()
            break
        except Exception:
            assert time.monotonic() < deadline, "FATE-Flow was not restarted"
            time.sleep(2)
    assert flow_pid(harness, hosts[0], 9999) not in (None, old)
    assert harness.pid_of(hosts[1], serving_marker) not in (None, serving)


def test_predict_with_a_host_cut_off_answers_a_remote_error(
    mesh: HostFacade, harness: ContainerHarness, hosts, mesh_data
):
    row = guest_row(mesh_data["breast"]["guest"], 0)
    harness.cut_off(hosts[1])
    try:
        started = time.monotonic()
        rc, answer = predict(mesh, "mesh2", "id=0", *row)
        elapsed = time.monotonic() - started
    finally:
        harness.reconnect(hosts[1])
    assert rc != 0 and answer["prob"] is None, answer
    assert answer["retcode"] == 105 and "remote rpc exception" in answer["retmsg"].lower(), answer
    assert elapsed < 15, elapsed
    # Back on the network: the same call succeeds again, with the binding it had.
    deadline = time.monotonic() + 30
    while predict(mesh, "mesh2", "id=0", *row)[0] != 0:
        assert time.monotonic() < deadline, "the host is back but the guest's service does not answer"
        time.sleep(1)


def test_a_host_crashed_mid_deploy_fails_naming_it_and_a_rerun_converges(
    mesh: HostFacade, harness: ContainerHarness, hosts
):
    """The third host is killed (every process gone, as at a power cut) while the deploy works on it."""
    state = mesh.state()
    ids, ips = ["9999", "10000", "10001"], [host.ip for host in hosts[:3]]
    crashed = threading.Event()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "script.py"), "-f", "deploy", "-id", *ids, "-ip", *ips],
        env=mesh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    err_lines = []
    for line in proc.stderr:
        err_lines.append(line)
        # The last play: the deploy is past every check and working on the host's instance.
        if not crashed.is_set() and f"{hosts[2].ip}: Deploy the native instance" in line:
            harness.crash(hosts[2])
            crashed.set()
    out = proc.stdout.read()
    proc.wait(timeout=300)
    err = "".join(err_lines)
    assert crashed.is_set(), err[-2000:]
    try:
        assert (proc.returncode, out) == (1, "deploy failure.\n"), err[-3000:]
        assert hosts[2].ip in err.splitlines()[-1], err[-2000:]
        assert mesh.state()["deployment"] == state["deployment"]
    finally:
        harness.bring_back(hosts[2])
    # Back, with none of its processes running: the same deploy starts them again and converges.
    assert flow_pid(harness, hosts[2], 10001) is None
    up = mesh("-f", "deploy", "-id", *ids, "-ip", *ips, timeout=600)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-3000:]
    assert flow_client(hosts[2]).server_info()
    again = mesh("-f", "deploy", "-id", *ids, "-ip", *ips)
    assert "no change" in again.err.splitlines()[-1], again.err[-2000:]


def test_a_party_leaves_and_its_routes_go(mesh: HostFacade, harness: ContainerHarness, hosts):
    gone = mesh("-f", "delete", "-id", "10001", "-ip", hosts[2].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-2000:]
    for host, party_id in ((hosts[0], 9999), (hosts[1], 10000)):
        assert 10001 not in route_table(harness, host, party_id)
        assert "10001 " not in nginx_routes(harness, host, party_id)
    assert harness.exec(hosts[2], ["test", "-e", str(instance(10001))]).returncode == 1
    assert [p["party_id"] for p in mesh.state()["deployment"]["parties"]] == [9999, 10000]


def test_delete_every_party(mesh: HostFacade, harness: ContainerHarness, hosts):
    gone = mesh("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-2000:]
    for host, party_id in ((hosts[0], 9999), (hosts[1], 10000)):
        assert harness.exec(host, ["test", "-e", str(instance(party_id))]).returncode == 1
        assert harness.pid_of(host, str(instance(party_id))) is None


# ------------------------------------------------------------------------------------------- a non-root user


def test_a_user_that_owns_its_base_dir_deploys_trains_and_serves_without_root(
    harness: ContainerHarness, hosts, datasets, tmp_path_factory: pytest.TempPathFactory
):
    """A dedicated login user on two hosts, its password used once, its own base dir: its own FATE runtime (no
    link to root's), every process its own. The Debian packages are the hosts' already (the mesh's root deploy
    gave them), so nothing needs root."""
    users = [harness.add_user(host, "fateop") for host in hosts[:2]]
    base_dir = Path("/home/fateop/fate")
    facade = HostFacade(short_workspace(tmp_path_factory))
    facade.settings(fate_base_dir=str(base_dir))
    first, second = users
    result = facade(
        "-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, "-u", "fateop",
        "-pw", first.password, second.password, timeout=900,
    )  # fmt: skip
    try:
        assert (result.rc, result.out) == (0, "deploy success.\n"), result.err[-3000:]
        for host in hosts[:2]:
            party = [line for line in harness.exec(host, ["ps", "-eo", "user=,args="]).stdout.splitlines()
                     if str(base_dir) in line]  # fmt: skip
            assert party and all(line.split()[0] == "fateop" for line in party), party
            # The user's runtime is files of its own: none is a link to root's runtime.
            found = harness.exec(host, ["find", str(base_dir / ".runtime"), "-maxdepth", "1", "-name", "fate-*"])
            (runtime,) = found.stdout.split()
            config = f"{runtime}/pyvenv.cfg"
            assert harness.exec(host, ["stat", "-c", "%U", config]).stdout.strip() == "fateop"
            assert harness.exec(host, ["find", str(BASE_DIR / ".runtime"), "-samefile", config]).stdout == ""

        data = datasets["breast"]
        remote = {data["guest"]: base_dir.parent / "guest.csv", data["hosts"][0]: base_dir.parent / "host.csv"}
        harness.copy_to(hosts[0], data["guest"], remote[data["guest"]], owner="fateop")
        harness.copy_to(hosts[1], data["hosts"][0], remote[data["hosts"][0]], owner="fateop")
        train_and_serve(
            facade, flow_client(first), data, 9999, [10000], "fateop", short=True, on_host=lambda p: str(remote[p])
        )
        for user in users:
            assert files_containing(facade.home, user.password) == []
    finally:
        gone = facade("-f", "delete", "-id", "9999", "10000", "-ip", first.ip, second.ip, timeout=300)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-2000:]


# ------------------------------------------------------------------------------------------------------ star


@pytest.fixture(scope="module")
def star(harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostFacade]:
    facade = HostFacade(short_workspace(tmp_path_factory))
    facade.settings(fate_topology="star", fate_exchange_host=harness.hosts[3].ip)
    yield facade
    delete_everything(facade)


def test_star_through_an_exchange(star: HostFacade, harness: ContainerHarness, hosts, mesh_data):
    exchange = hosts[3]
    # The exchange's root password comes from the environment, read once; the parties' from -pw.
    star.extra_env = {"FATEOPS_EXCHANGE_PASSWORD": exchange.password}
    up = star("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip,
              "-pw", hosts[0].password, hosts[1].password, timeout=900)  # fmt: skip
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-3000:]
    # A party knows only itself and the exchange.
    assert route_table(harness, hosts[0], 9999)[10000]["host"] == exchange.ip
    assert f"default {exchange.ip}:9300;" in nginx_routes(harness, hosts[0], 9999)
    # The exchange got nginx from the bundle.
    assert harness.exec(exchange, ["dpkg-query", "-W", "libnginx-mod-stream"]).returncode == 0

    train_and_serve(star, flow_client(hosts[0]), mesh_data["breast"], 9999, [10000], "star", short=True)
    logs = BASE_DIR / "exchange" / "logs"
    http = harness.read_text(exchange, logs / "http.access.log")
    assert "/v2/partner/job/" in http  # FATE-Flow's scheduling calls
    assert "/federation/v1/partial" in http  # the guest's serving call for the host's partial score
    assert f"-> {hosts[1].ip}:5672" in harness.read_text(exchange, logs / "stream.access.log")  # brokers' links
    assert files_containing(star.home, exchange.password) == []

    gone = star("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-2000:]
    assert harness.exec(exchange, ["test", "-e", str(BASE_DIR / "exchange")]).returncode == 1
