"""settings.yml's secrets (SECRET_SETTINGS) are never copied: an inventory the facade writes names them and a run
reads them from settings.yml, as data. Ansible runs for real here, on this host only."""

from __future__ import annotations

from pathlib import Path

import yaml

from fateops import deployment
from fateops.validation import SECRET_SETTINGS
from fateops.workspace import Workspace
from tests.ansible_cli import ansible

SECRET = "Store-pw-5d1e"


def _inventory(workspace: Workspace, settings: dict, settings_file: str | None) -> Path:
    hosts = {"127.0.0.1": deployment.Host("127.0.0.1", "root", True, [9999])}
    inventory = deployment.build_inventory(
        hosts, deployment.plan_flows(hosts, settings), settings, settings_file=settings_file
    )
    return workspace.write_inventory(inventory)


def _settings(workspace: Workspace, marker: Path) -> dict:
    settings = {
        # A key a user wrote that looks like a template stays those characters.
        "fate_model_store_sections": {f"{{{{ lookup('pipe', 'touch {marker}') }}}}": {"passwd": SECRET}},
        "fate_model_store": {"engine": "mysql", "password": SECRET},
        "fate_flow_log_level": 10,
    }
    workspace.ensure()
    workspace.settings_path.write_text(yaml.safe_dump(settings))
    return settings


def test_the_inventory_names_the_secret_settings_without_their_values(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    settings = _settings(workspace, tmp_path / "made")
    text = _inventory(workspace, settings, str(workspace.settings_path)).read_text()
    assert SECRET not in text
    written = yaml.safe_load(text.replace("!unsafe ", ""))["all"]["vars"]
    assert set(SECRET_SETTINGS) <= set(written)
    assert written["fate_settings_file"] == str(workspace.settings_path)
    # The other settings are kept as they are.
    assert written["fate_flow_log_level"] == 10


def test_an_inventory_an_operator_keeps_holds_what_it_was_given(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    settings = _settings(workspace, tmp_path / "made")
    assert SECRET in _inventory(workspace, settings, None).read_text()


def test_a_run_reads_the_secret_from_settings_yml_as_data(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    marker = tmp_path / "made"
    settings = _settings(workspace, marker)
    inventory = _inventory(workspace, settings, str(workspace.settings_path))
    out = tmp_path / "seen.yml"
    playbook = tmp_path / "show.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Write what the run sees",
                    "hosts": "fate_parties",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Write the secret settings",
                            "ansible.builtin.copy": {
                                "dest": str(out),
                                "content": "{{ {'sections': fate_model_store_sections, 'store': fate_model_store}"
                                " | to_nice_yaml }}",
                                "mode": "0600",
                            },
                            "no_log": True,
                        }
                    ],
                }
            ]
        )
    )
    run = ansible("ansible-playbook", "-i", str(inventory), str(playbook), local_temp=tmp_path / "tmp", timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    seen = yaml.safe_load(out.read_text())
    assert seen == {"sections": settings["fate_model_store_sections"], "store": settings["fate_model_store"]}
    assert not marker.exists()
    assert SECRET not in run.stdout + run.stderr
