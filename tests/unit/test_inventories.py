"""Ansible reads the example inventories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

INVENTORIES = Path(__file__).resolve().parents[2] / "inventories"
EXAMPLES = ["mesh", "star"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((INVENTORIES / name / "hosts.yml").read_text(encoding="utf-8"))


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
    written = load(name)["all"]["children"]["fate_parties"]["hosts"]
    assert set(inventory["fate_parties"]["hosts"]) == {host.get("ansible_host", name) for name, host in written.items()}
