"""deploy and delete as the facade runs them, up to the playbook (replaced here by a recorder of the inventory
it would run with): what each plans from the given parties and the recorded ones, and what it records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fateops import lifecycle
from fateops.errors import UsageError
from fateops.runner import RunResult
from fateops.workspace import Workspace


class _Recorder:
    """Stands in for run_playbook: records each run's inventory and succeeds."""

    def __init__(self) -> None:
        self.inventories: list[dict[str, Any]] = []

    def __call__(self, workspace: Workspace, playbook: str, inventory: dict[str, Any], label: str) -> RunResult:
        assert playbook == "deploy.yml"
        self.inventories.append(inventory)
        return RunResult(ok=True, changed=1)


def _hosts(inventory: dict[str, Any]) -> dict[str, Any]:
    return inventory["all"]["children"]["fate_parties"]["hosts"]


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    monkeypatch.setattr(lifecycle, "run_playbook", recorder)
    return recorder


def test_deploy_adds_and_delete_removes(tmp_path: Path, runs: _Recorder) -> None:
    workspace = Workspace(tmp_path / "ws")
    lifecycle.deploy(workspace, ["9999"], ["127.0.0.1"], None, None)
    lifecycle.deploy(workspace, ["10000"], ["127.0.0.1"], None, None)
    # The second deploy adds to the first: one standalone FATE-Flow plays both.
    [instance] = _hosts(runs.inventories[-1])["127.0.0.1"]["fate_instances"]
    assert (instance["name"], instance["party_ids"]) == ("standalone", [9999, 10000])
    state = workspace.load_state()
    assert sorted(p.party_id for p in state.deployment.parties) == [9999, 10000]
    assert state.deployment.id and _hosts(runs.inventories[-1])  # the owner id is made and kept

    lifecycle.delete(workspace, ["9999"], ["127.0.0.1"], None, None)
    [instance] = _hosts(runs.inventories[-1])["127.0.0.1"]["fate_instances"]
    assert instance["party_ids"] == [10000]
    assert [p.party_id for p in workspace.load_state().deployment.parties] == [10000]

    lifecycle.delete(workspace, ["10000"], ["127.0.0.1"], None, None)
    entry = _hosts(runs.inventories[-1])["127.0.0.1"]
    assert entry["fate_instances"] == [] and [i["name"] for i in entry["fate_instances_absent"]] == ["standalone"]
    assert workspace.load_state().deployment.parties == []


def test_delete_of_a_party_never_recorded_removes_what_its_deploy_would_make(tmp_path: Path, runs: _Recorder) -> None:
    workspace = Workspace(tmp_path / "ws")
    lifecycle.delete(workspace, ["4242"], ["127.0.0.1"], None, None)
    entry = _hosts(runs.inventories[-1])["127.0.0.1"]
    assert [i["party_ids"] for i in entry["fate_instances_absent"]] == [[4242]]


def test_a_deployed_party_does_not_move(tmp_path: Path, runs: _Recorder) -> None:
    workspace = Workspace(tmp_path / "ws")
    lifecycle.deploy(workspace, ["9999"], ["127.0.0.1"], None, None)
    with pytest.raises(UsageError, match=re.escape("party 9999 is deployed on 127.0.0.1, not 127.0.0.2; delete it")):
        lifecycle.deploy(workspace, ["9999"], ["127.0.0.2"], None, None)
    assert len(runs.inventories) == 1
