"""The party role's own render step of the compose runtime (templates, passwords made on the host, route table
through fate_route_table), run by ansible-playbook for a two-party mesh, both FATE generations. No Docker
needed; running it twice changes nothing."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.test_compose_render import CASES, SERVICES, _dotenv, _inventory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "unit" / "compose" / "render.yml"


def test_role_renders_both_generations_idempotently(tmp_path: Path) -> None:
    inventory = _inventory(CASES["mesh"])
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(tmp_path / "hosts.yml"),
        str(PLAYBOOK),
        "-e",
        f"fate_compose_render_root={tmp_path}",
    ]
    # Check mode on new hosts says what it would do and makes nothing.
    check = subprocess.run(
        [*argv, "--check"], capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=600
    )
    assert check.returncode == 0, check.stdout[-4000:]
    assert not (tmp_path / "fate-2").exists() and not (tmp_path / "fate-1").exists()

    first = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=600)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    secrets = {}
    for ip, entry in inventory["all"]["children"]["fate_parties"]["hosts"].items():
        for flow in entry["fate_instances"]:
            for generation in (2, 1):
                project = tmp_path / f"fate-{generation}" / ip / flow["name"]
                assert stat.S_IMODE((project / ".secrets").stat().st_mode) == 0o600
                values = _dotenv(project / ".secrets")
                assert set(values) == {"MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "FATEBOARD_PASSWORD"}
                assert all(len(v) >= 24 for v in values.values())
                secrets[project] = values
                compose = yaml.safe_load((project / "docker-compose.yml").read_text())
                assert set(compose["services"]) == SERVICES[generation]
                conf = (project / "confs/fate_flow/service_conf.yaml").read_text()
                assert values["MYSQL_PASSWORD"] in conf
    # No password reaches Ansible's output.
    for values in secrets.values():
        assert not any(v in first.stdout + first.stderr for v in values.values())

    again = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=600)
    assert again.returncode == 0, again.stdout[-4000:]
    recap = [line for line in again.stdout.split("PLAY RECAP")[-1].splitlines() if " ok=" in line]
    assert len(recap) == 2
    assert all(re.search(r"changed=0\s", line) for line in recap), recap
    for project, values in secrets.items():
        assert _dotenv(project / ".secrets") == values
