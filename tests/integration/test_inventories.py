"""The example inventories deploy: a copy of each (inventories/single, mesh, star), its documentation addresses
replaced by netns test hosts of this module's own (fresh, as an operator's machines are) reached over real ssh,
goes through the fate_plan inventory plugin and playbooks/deploy.yml; then deploy.yml in check mode reaches every
host, passes and changes nothing on any of them (no file, no process). Then the same plan, turned into its
removal, takes everything away again."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fateops import ROOT
from fateops.bootstrap import connection_vars
from fateops.deployment import plan_inventory
from fateops.ssh_keys import append_host_key, ensure_key_pair, parse_public_key, ssh_paths
from fateops.workspace import Workspace
from tests.ansible_cli import ansible
from tests.harness.netns_hosts import Harness, HarnessConfig, TestHost, down, up

from .conftest import TEST_BASE_DIR, processes_with

pytestmark = pytest.mark.integration

EXAMPLES = ["single", "mesh", "star"]
# Hosts of their own, made fresh for this module, as an operator's machines are: the examples never meet what
# another module left on the session's hosts. Three hosts: the star's exchange and its two party hosts.
EXAMPLE_HOSTS = HarnessConfig(count=3, prefix="foi", subnet="10.77.2.0/24", user="fateops-inv")


@pytest.fixture(scope="module")
def example_harness() -> Iterator[Harness]:
    harness = up(EXAMPLE_HOSTS)
    try:
        yield harness
    finally:
        down(EXAMPLE_HOSTS)


def _addresses(example: dict[str, Any]) -> list[str]:
    """Every host address of an example, parties' first, in the order they are written."""
    found = [party["host"] for party in example["parties"]]
    exchange = example.get("settings", {}).get("fate_exchange_host")
    return list(dict.fromkeys([*found, *([exchange] if exchange else [])]))


def _trusted_workspace(home: Path, hosts: list[TestHost], harness: Harness) -> Workspace:
    """A workspace whose key root accepts on every test host, and whose known_hosts holds their host keys."""
    workspace = Workspace(home)
    key = ensure_key_pair(workspace)
    for host in hosts:
        harness.authorize_root_key(host, key.public.line)
        public = parse_public_key(host.host_key.with_name(host.host_key.name + ".pub").read_text())
        append_host_key(ssh_paths(workspace).known_hosts, host.ip, host.ssh_port, public)
    return workspace


def render_copy(name: str, target: Path, harness: Harness, base_dir: Path) -> dict[str, TestHost]:
    """inventories/<name> with the test hosts' addresses and logins: address in the example -> test host."""
    example = yaml.safe_load((ROOT / "inventories" / name / "hosts.yml").read_text(encoding="utf-8"))
    addresses = _addresses(example)
    assert len(addresses) <= len(harness.hosts), f"{name} needs {len(addresses)} test hosts"
    hosts = dict(zip(addresses, harness.hosts, strict=False))
    workspace = _trusted_workspace(target / "workspace", list(hosts.values()), harness)
    for party in example["parties"]:
        party["host"] = hosts[party["host"]].ip
    settings = example.setdefault("settings", {})
    settings["fate_base_dir"] = str(base_dir)
    if "fate_exchange_host" in settings:
        settings["fate_exchange_host"] = hosts[settings["fate_exchange_host"]].ip
    example["hosts"] = {
        host.ip: {**(example.get("hosts") or {}).get(address, {}), **connection_vars(workspace, host.ip, host.ssh_port)}
        for address, host in hosts.items()
    }
    (target / "inventory").mkdir(parents=True)
    (target / "inventory" / "hosts.yml").write_text(yaml.safe_dump(example, sort_keys=False), encoding="utf-8")
    return hosts


def _recap(stdout: str) -> dict[str, dict[str, int]]:
    lines = stdout.split("PLAY RECAP")[-1].splitlines()
    found = {}
    for line in lines:
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            found[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return found


def _failures(run: subprocess.CompletedProcess) -> str:
    """What a failed run says: its failed tasks' lines (they can lie far before the end of its output), then the
    end of the output."""
    lines = run.stdout.splitlines()
    failed = [
        "\n".join(lines[max(0, i - 3) : i + 30])
        for i, line in enumerate(lines)
        if line.startswith(("fatal:", "failed:"))
    ]
    return "\n".join(failed) + "\n...\n" + run.stdout[-3000:] + run.stderr[-2000:]


def _deploy(inventory: Path, tmp_path: Path, *options: str):
    return ansible(
        "ansible-playbook",
        "-i",
        str(inventory),
        str(ROOT / "playbooks" / "deploy.yml"),
        *options,
        local_temp=tmp_path / "ansible-tmp",
    )


def _configuration(base_dir: Path) -> dict[str, tuple[int, int]]:
    """The configuration files a deploy writes (an instance's own files, its conf, supervisor, nginx and broker
    configuration; not logs or data): path -> (size, mtime)."""
    found = {}
    for path in base_dir.rglob("*"):
        if ".runtime" in path.parts or not path.is_file():
            continue
        folder = path.parent
        if (
            folder.parent == base_dir
            or folder.name in ("conf", "supervisor.d", "nginx")
            or (folder.name == "rabbitmq" and path.suffix == ".conf")
        ):
            found[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return found


def _removal(inventory: dict[str, Any]) -> dict[str, Any]:
    """The same plan turned into its removal: every instance absent, the exchange too (delete.yml's contract)."""
    children = inventory["all"]["children"]
    for entry in children["fate_parties"]["hosts"].values():
        entry["fate_instances_absent"], entry["fate_instances"] = entry["fate_instances"], []
    for entry in children.get("fate_exchange", {}).get("hosts", {}).values():
        entry["fate_exchange_state"] = "absent"
    return inventory


@pytest.fixture
def parties_dir(short_dir: Path, fate_runtime: None) -> Path:
    """A base dir of its own for the example's parties, with the test cache's FATE runtime hard-linked in (the
    test hosts reach no package index)."""
    base_dir = short_dir
    (base_dir / ".runtime").mkdir(parents=True)
    for runtime in (TEST_BASE_DIR / ".runtime").glob("fate-*"):
        if (runtime / ".complete").exists():
            subprocess.run(["cp", "-al", str(runtime), str(base_dir / ".runtime")], check=True)
    return base_dir


@pytest.mark.parametrize("name", EXAMPLES)
def test_deploy_check_of_the_deployed_example_passes_and_changes_nothing(
    name: str,
    tmp_path_factory: pytest.TempPathFactory,
    parties_dir: Path,
    example_harness: Harness,
) -> None:
    # A short path: the copy's workspace holds ssh's control sockets (at most 107 bytes).
    tmp_path = tmp_path_factory.mktemp("inv")
    hosts = render_copy(name, tmp_path, example_harness, parties_dir)
    inventory = tmp_path / "inventory"
    try:
        deployed = _deploy(inventory, tmp_path)
        assert deployed.returncode == 0, _failures(deployed)
        configuration, running = _configuration(parties_dir), set(processes_with(str(parties_dir)))
        assert configuration and running

        check = _deploy(inventory, tmp_path, "--check")
        assert check.returncode == 0, _failures(check)
        recap = _recap(check.stdout)
        # Every host of the example was reached (the star's exchange too), passed every task and would change
        # nothing; nothing was changed, nothing restarted.
        assert set(recap) == {host.ip for host in hosts.values()}, check.stdout[-2000:]
        for host, counts in recap.items():
            assert counts["ok"] > 0, (host, counts)
            assert (counts["changed"], counts["failed"], counts["unreachable"]) == (0, 0, 0), (host, counts)
        assert _configuration(parties_dir) == configuration
        assert set(processes_with(str(parties_dir))) == running
    finally:
        removal = tmp_path / "removal.yml"
        planned = yaml.safe_load((inventory / "hosts.yml").read_text())
        removal.write_text(
            yaml.safe_dump(_removal(plan_inventory(planned["parties"], planned["settings"], planned["hosts"])))
        )
        removed = _deploy(removal, tmp_path)
    assert removed.returncode == 0, _failures(removed)
    assert processes_with(str(parties_dir)) == {}
