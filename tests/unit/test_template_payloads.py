"""No user string is ever templated (issue 12, item 4), without FATE.

A payload such as {{ lookup('pipe', 'touch <marker>') }} is put in every place a user's string can go:
- through the Ansible constructs the playbooks use on data the facade hands over (vars: built from it, set_fact
  with ~ and +, loops, dict keys, include_role vars:, to_json / from_json, ansible.builtin.template, set_stats),
- into each playbook the facade runs, on the local connection with no FATE-Flow listening (the tasks fail at the
  first call to FATE-Flow, after Ansible has handled every argument),
- into the facade's command line and config files, run as a user runs it (fresh HOME, no FATEOPS_* variable).
Each time: no marker file appears, and the value is refused or used literally. The same fields against a deployed
party are tests/integration/test_template_payloads.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fateops import ROOT, deployment
from fateops.runner import run_playbook
from fateops.workspace import Workspace

PAYLOAD = "{{ lookup('pipe', 'touch %s') }}"
# No FATE-Flow listens here: playbooks fail at their first call to it.
DEAD_PORT = 9


class Markers:
    """Payloads that would each create their own file in one directory; none may ever appear."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> str:
        return PAYLOAD % (self.directory / name)

    def made(self) -> list[str]:
        return sorted(path.name for path in self.directory.iterdir())


@pytest.fixture
def markers(tmp_path: Path) -> Markers:
    return Markers(tmp_path / "markers")


def _local_party(base_dir: Path, **host_vars: object) -> dict:
    """The facade's inventory: one host on the local connection playing parties 99 and 100."""
    hosts = {"127.0.0.1": deployment.Host("127.0.0.1", "root", True, [99, 100])}
    flows = {"127.0.0.1": [deployment.Flow("standalone", [99, 100], DEAD_PORT, DEAD_PORT)]}
    inventory = deployment.build_inventory(hosts, flows, {"fate_base_dir": str(base_dir)})
    inventory["all"]["children"]["fate_parties"]["hosts"]["127.0.0.1"].update(host_vars)
    return inventory


PROBE_PLAY = """
- hosts: fate_parties
  gather_facts: false
  vars:
    probe_joined: "{{ fate_probe.value ~ '|' ~ fate_probe_setting }}"
    probe_list: "{{ [fate_probe.value] + fate_probe.entries }}"
  tasks:
    - name: Build strings with ~ and +
      ansible.builtin.set_fact:
        probe_built: "{{ 'built:' ~ probe_joined }}"
        probe_listed: "{{ probe_list + [fate_probe.value] }}"
        probe_round_trip: "{{ fate_probe | to_json | from_json }}"
    - name: Loop over values and over a user's mapping (keys and values)
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: "{{ probe_listed + (fate_probe.mapping | dict2items | map(attribute='key') | list)
                + (fate_probe_setting_map | dict2items | map(attribute='key') | list) }}"
    - name: Pass them to a role
      ansible.builtin.include_role:
        name: probe
      vars:
        probe_value: "{{ probe_built }}"
        probe_map: "{{ fate_probe.mapping | combine(fate_probe_setting_map) }}"
        probe_round: "{{ probe_round_trip.value }}"
    - name: Hand them to a module
      ansible.builtin.command:
        argv: [echo, "{{ probe_built }}", "{{ probe_round_trip.mapping | to_json }}"]
      register: probe_echo
      changed_when: false
    - name: Publish
      ansible.builtin.set_stats:
        data:
          echoed: "{{ probe_echo.stdout }}"
          rendered: "{{ lookup('ansible.builtin.file', probe_dest) }}"
          keys: "{{ fate_probe.mapping.keys() | list }}"
"""

PROBE_ROLE_TASKS = """
- name: Render a template of the role with the values
  ansible.builtin.template:
    src: probe.j2
    dest: "{{ probe_dest }}"
    mode: "0600"
"""

PROBE_TEMPLATE = """value={{ probe_value }}
round={{ probe_round }}
{% for key, value in probe_map.items() %}{{ key }}={{ value }}
{% endfor %}"""


def test_ansible_constructs_keep_user_data_literal(tmp_path: Path, markers: Markers):
    (tmp_path / "roles" / "probe" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "probe" / "templates").mkdir()
    (tmp_path / "roles" / "probe" / "tasks" / "main.yml").write_text(PROBE_ROLE_TASKS)
    (tmp_path / "roles" / "probe" / "templates" / "probe.j2").write_text(PROBE_TEMPLATE)
    (tmp_path / "probe.yml").write_text(PROBE_PLAY)
    probe = {
        "value": markers("value"),
        "entries": [markers("entry")],
        "mapping": {markers("key"): markers("mapped")},
    }
    inventory = _local_party(
        tmp_path / "base",
        fate_probe_setting=markers("setting"),
        fate_probe_setting_map={markers("setting-key"): {"nested": markers("setting-nested")}},
        probe_dest=str(tmp_path / "rendered.txt"),
    )
    result = run_playbook(
        Workspace(tmp_path / "ws"), str(tmp_path / "probe.yml"), inventory, "probe", {"fate_probe": probe}
    )
    assert result.ok, result.failures
    assert markers.made() == []
    built = f"built:{markers('value')}|{markers('setting')}"
    assert result.data["echoed"] == f"{built} {json.dumps({markers('key'): markers('mapped')})}"
    assert result.data["keys"] == [markers("key")]
    rendered = result.data["rendered"]
    assert f"value={built}\nround={markers('value')}\n{markers('key')}={markers('mapped')}\n" in rendered
    assert markers("setting-key") in rendered and markers("setting-nested") in rendered


def _run(tmp_path: Path, playbook: str, extravars: dict, **host_vars: object):
    return run_playbook(
        Workspace(tmp_path / "ws"), playbook, _local_party(tmp_path / "base", **host_vars), "probe", extravars
    )


def test_upload_playbook(tmp_path: Path, markers: Markers):
    upload = {
        "role": "guest",
        "party_id": 99,
        "path": markers("path"),
        "namespace": markers("namespace"),
        "name": markers("name"),
        "flow_name": "standalone",
        "flow_port": DEAD_PORT,
    }
    result = _run(tmp_path, "upload.yml", {"fate_uploads": {"127.0.0.1": [upload]}})
    assert not result.ok and markers.made() == []
    # The module was handed the path as written.
    assert markers("path") in result.error


def test_submit_playbook(tmp_path: Path, markers: Markers):
    spec = {
        "algorithm": "hetero_lr",
        "guest_party_id": "99",
        "host_party_ids": ["100"],
        "arbiter_party_id": "100",
        "guest_table": {"namespace": markers("guest-namespace"), "name": markers("guest-name")},
        "host_tables": [{"party_id": "100", "namespace": markers("host-namespace"), "name": "host_100"}],
        # settings.yml's fate_job_options: a key and a value of the user's.
        "options": {markers("option-key"): 1, "optimizer": markers("option-value")},
    }
    extravars = {"fate_submit_host": "127.0.0.1", "fate_submit_port": DEAD_PORT, "fate_job_spec": spec}
    result = _run(tmp_path, "submit.yml", extravars)
    assert not result.ok and markers.made() == []
    assert markers("option-key") in result.error


def test_load_bind_playbook(tmp_path: Path, markers: Markers):
    """An imported model's binding skips FATE-Flow: every field reaches the bind command."""
    binding = {
        "model_id": markers("model-id"),
        "model_version": markers("model-version"),
        "service_id": markers("service"),
        "task_name": "lr_0",
        "guest_party_id": "99",
        "host_party_ids": ["100"],
        "role": "host",
        "party_id": "100",
        "flow_name": "standalone",
        "flow_port": DEAD_PORT,
        "model_archive": markers("archive"),
        "host_csv": markers("csv"),
        "id_column": markers("id-column"),
    }
    result = _run(tmp_path, "load_bind.yml", {"fate_bindings": {"127.0.0.1": [binding]}})
    assert not result.ok and markers.made() == []


def test_migrate_and_import_playbooks(tmp_path: Path, markers: Markers):
    config = json.loads((ROOT / "tests" / "unit" / "fixtures" / "fate_models" / "migrate_model.json").read_text())
    config.update(model_id=markers("model-id"), unify_model_version=markers("unify"))
    config["job_parameters"] = {"federated_mode": markers("mode")}
    migrated = _run(tmp_path, "migrate.yml", {"fate_migrate_request": config, "fate_migration_job_id": "1"})
    assert not migrated.ok and markers.made() == []
    # The module's own check names the value as written (upper-cased, as FATE's modes are).
    assert markers("mode").upper() in migrated.error
    # Payload ids are refused by the module before it builds a path (its own FATE id rule)...
    request = {
        "role": "guest",
        "party_id": 99,
        "model_id": markers("import-model-id"),
        "model_version": markers("import-version"),
        "file": "/nonexistent/m.zip",
    }
    imported = _run(tmp_path, "import_model.yml", {"fate_import_request": request})
    assert not imported.ok and markers.made() == []
    assert markers("import-model-id") in imported.error
    # ... and a payload path reaches it as those characters.
    request.update(model_id="202611220632017786920", model_version="0", file=markers("file"))
    imported = _run(tmp_path, "import_model.yml", {"fate_import_request": request})
    assert not imported.ok and markers.made() == []
    assert markers("file") in imported.error


def _facade(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FATEOPS_")}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(ROOT / "script.py"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _seed_migrate(**changes: object) -> dict:
    config = json.loads((ROOT / "tests" / "unit" / "fixtures" / "fate_models" / "migrate_model.json").read_text())
    config.update(changes)
    return config


def _seed_import(**changes: object) -> dict:
    return {"role": "guest", "party_id": 99, "model_id": "m", "model_version": "0", "file": "/tmp/m.zip", **changes}


# Each case: the function's arguments, with P standing for a payload; a dict is a -conf file's content.
P = "<payload>"
FACADE_CASES = {
    "upload -gp path": ["-f", "upload", "-gp", "1", P, "-hp", "1", "/tmp/h.csv", "-proj", "demo"],
    "upload -hp path": ["-f", "upload", "-gp", "1", "/tmp/g.csv", "-hp", "1", P, "-proj", "demo"],
    "upload -proj": ["-f", "upload", "-gp", "1", "/tmp/g.csv", "-hp", "1", "/tmp/h.csv", "-proj", P],
    "upload -gp id": ["-f", "upload", "-gp", P, "/tmp/g.csv", "-hp", "1", "/tmp/h.csv", "-proj", "demo"],
    "submit -proj": ["-f", "submit", "-alg", "hetero_lr", "-proj", P, "-m", "1"],
    "query -jid": ["-f", "query", "-jid", P],
    "load_bind -mid": ["-f", "load_bind", "-mid", P, "-mver", "0", "-mname", "svc"],
    "load_bind -mver": ["-f", "load_bind", "-mid", "202611220632017786920", "-mver", P, "-mname", "svc"],
    "load_bind -mname": ["-f", "load_bind", "-mid", "202611220632017786920", "-mver", "0", "-mname", P],
    "predict -mname": ["-f", "predict", "-mname", P, "-params", "id=1", "0.5"],
    "predict -params": ["-f", "predict", "-mname", "svc", "-params", f"id={P}", P],
    "deploy -ip": ["-f", "deploy", "-id", "1", "-ip", P, "-pw", "x"],
    "deploy -id": ["-f", "deploy", "-id", P, "-ip", "127.0.0.1", "-pw", "x"],
    "delete -id": ["-f", "delete", "-id", P, "-ip", "127.0.0.1"],
    "migrate model_id": _seed_migrate(model_id=P),
    "migrate model_version": _seed_migrate(model_version=P),
    "migrate unify_model_version": _seed_migrate(unify_model_version=P),
    "migrate federated_mode": _seed_migrate(job_parameters={"federated_mode": P}),
    "migrate job_parameters key": _seed_migrate(job_parameters={"federated_mode": "MULTIPLE", P: 1}),
    "migrate initiator role": _seed_migrate(migrate_initiator={"role": P, "party_id": 99}),
    "migrate initiator party_id": _seed_migrate(migrate_initiator={"role": "guest", "party_id": P}),
    "migrate role party id": _seed_migrate(role={"guest": [P], "arbiter": [10000], "host": [10000]}),
    "migrate role name": _seed_migrate(role={P: [9999], "arbiter": [10000], "host": [10000]}),
    "migrate migrate_role": _seed_migrate(migrate_role={"guest": [P], "arbiter": [100], "host": [100]}),
    "migrate execute_party": _seed_migrate(execute_party={"guest": [P]}),
    "migrate unknown key": _seed_migrate(**{P: "x"}),
    "import role": _seed_import(role=P),
    "import party_id": _seed_import(party_id=P),
    "import model_id": _seed_import(model_id=P),
    "import model_version": _seed_import(model_version=P),
    "import force_update": _seed_import(force_update=P),
    "import unknown key": _seed_import(**{P: 1}),
}


def _with_payload(value: object, payload: str) -> object:
    if isinstance(value, str):
        return value.replace(P, payload)
    if isinstance(value, list):
        return [_with_payload(item, payload) for item in value]
    if isinstance(value, dict):
        return {_with_payload(k, payload): _with_payload(v, payload) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", sorted(FACADE_CASES))
def test_the_facade_refuses_payloads_before_anything_runs(case: str, tmp_path: Path, markers: Markers):
    """Nothing is deployed in a fresh HOME, so every payload must be refused, with the function's failure result."""
    args = _with_payload(FACADE_CASES[case], markers("facade"))
    if isinstance(args, dict):
        config = tmp_path / "config.json"
        config.write_text(json.dumps(args))
        function = "migrate" if "job_parameters" in args else "import"
        args = ["-f", function, "-conf", str(config)]
    result = _facade(tmp_path / "home", *args)
    assert markers.made() == []
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    # query's contract has no failure line (its output is one status per role).
    if args[1] != "query" or lines:
        assert len(lines) == 1, result.stdout
        assert lines[0].endswith("failure.") or json.loads(lines[0])["retcode"] != 0
    assert len(result.stderr.splitlines()) == 1, result.stderr
