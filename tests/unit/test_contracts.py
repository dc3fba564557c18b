"""The typed records that cross layers: state.json (shape, round trip, versions) and the playbooks' payloads."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from fateops import deployment, lifecycle, migration, training
from fateops.contracts import (
    STATE_VERSION,
    ImportedPart,
    MigratedArchives,
    PublishedError,
    ShapeError,
    State,
    SubmittedJob,
    UploadedTables,
    read_state,
)
from fateops.errors import FateopsError
from fateops.runner import RunResult
from fateops.workspace import Workspace

VERSION_1 = Path(__file__).parent / "fixtures" / "state" / "version-1.json"


def good_state() -> dict:
    """A state as deploy, upload, submit, load_bind, migrate and import write it."""
    state = State().as_dict()
    state["deployment"] = {
        "parties": [{"party_id": 9999, "ip": "127.0.0.1"}, {"party_id": 10000, "ip": "127.0.0.1"}],
        "hosts": {
            "127.0.0.1": {
                "user": "root",
                "local": True,
                "flows": [
                    {
                        "name": "standalone",
                        "party_ids": [9999, 10000],
                        "http_port": 9380,
                        "grpc_port": 9360,
                        "serving_port": 8059,
                        "federation": "standalone",
                    }
                ],
            }
        },
    }
    table = {"role": "guest", "party_id": 9999, "path": "/d/g.csv", "namespace": "p", "name": "guest_9999"}
    state["projects"]["p"] = {"tables": [table], "uploaded_at": "2026-12-01T18:00:00+0000"}
    job = {
        "project": "p",
        "algorithm": "hetero_lr",
        "mode": 1,
        "guest": 9999,
        "hosts": [10000],
        "arbiter": 10000,
        "model_id": "202612011830123456789",
        "model_version": "0",
    }
    state["jobs"]["202612011830123456789"] = job
    state["services"]["s"] = {
        "model_id": "202612011830123456789",
        "model_version": "0",
        "algorithm": "hetero_lr",
        "guest": 9999,
        "hosts": [10000],
    }
    state["models"]["m/0"] = {
        "model_id": "m",
        "model_version": "0",
        "parties": {"guest": {"99": {"archive": "/a.zip", "sha256": "x", "tasks": ["lr_0"]}}},
    }
    state["migrations"] = {"202612011830123456790": {"model_id": "m"}}
    return state


def version_1() -> dict[str, Any]:
    return json.loads(VERSION_1.read_text())


def test_a_written_state_has_the_shape():
    assert State.from_dict(good_state()).jobs["202612011830123456789"].arbiter == 10000
    assert State.from_dict(State().as_dict()) == State()


def _broken(change) -> dict:
    state = good_state()
    change(state)
    return state


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ([1, 2], "the top level is [1, 2], not an object"),
        ({**State().as_dict(), "deployment": 3}, "deployment is 3, not an object"),
        (_broken(lambda s: s["deployment"].update(parties={})), "deployment.parties is {}, not a list"),
        (_broken(lambda s: s["deployment"]["parties"][1].pop("ip")), "deployment.parties[1] has no ip"),
        (_broken(lambda s: s["deployment"]["parties"][0].update(party_id="x")), 'parties[0].party_id is "x", not'),
        (_broken(lambda s: s["deployment"]["parties"][0].update(ip="0.0.0.0")), 'is "0.0.0.0", not a host\'s IP'),
        (_broken(lambda s: s["deployment"]["hosts"]["127.0.0.1"].pop("user")), "hosts.127.0.0.1 has no user"),
        (
            _broken(lambda s: s["deployment"]["hosts"]["127.0.0.1"]["flows"][0].update(http_port="x")),
            'flows[0].http_port is "x", not a port number',
        ),
        (_broken(lambda s: s["jobs"]["202612011830123456789"].pop("guest")), "202612011830123456789 has no guest"),
        (_broken(lambda s: s["jobs"]["202612011830123456789"].update(hosts=5)), "hosts is 5, not a list"),
        (_broken(lambda s: s["projects"]["p"].update(tables=1)), "projects.p.tables is 1, not a list"),
        (_broken(lambda s: s["services"]["s"].update(model_id="../x")), 'services.s.model_id is "../x", not a FATE'),
        (_broken(lambda s: s.update(models=[])), "models is [], not an object"),
        (_broken(lambda s: s.update(version="1")), 'version is "1", not an integer'),
        (
            _broken(lambda s: s["deployment"]["hosts"].update({"0.0.0.0": {"user": "root"}})),
            'deployment.hosts has the key "0.0.0.0", which is not a host\'s IP address',
        ),
        (
            _broken(lambda s: s["models"]["m/0"]["parties"]["guest"].update({"x": {"archive": "a", "tasks": []}})),
            'models.m/0.parties.guest has the key "x", which is not a party id',
        ),
        # Fields the typed records read that the old shape left unchecked.
        (_broken(lambda s: s["projects"]["p"]["tables"][0].update(count="many")), 'tables[0].count is "many", not'),
        (_broken(lambda s: s["services"]["s"].update(match_id_names="id")), 'match_id_names is "id", not a list'),
        (_broken(lambda s: s["deployment"].update(exchange={"user": "root"})), "deployment.exchange has no ip"),
        (_broken(lambda s: s.pop("jobs")), "the top level has no jobs"),
        (_broken(lambda s: s.update(version=0)), "version is 0, not a state version from 1 to"),
    ],
)
def test_wrong_shapes_name_the_key(state, problem):
    with pytest.raises(ShapeError) as refused:
        read_state(state)
    assert problem in str(refused.value)


def test_records_may_hold_more_keys_and_keep_them():
    state = good_state()
    state["deployment"]["owner"] = "a workspace id"
    state["jobs"]["202612011830123456789"]["extra"] = {"any": "thing"}
    written = State.from_dict(state).as_dict()
    assert written["deployment"]["owner"] == "a workspace id"
    assert written["jobs"]["202612011830123456789"]["extra"] == {"any": "thing"}


def _written_state() -> dict[str, Any]:
    """Every record with every field, as this fateops writes them: a star of two hosts and its exchange."""
    parties, users = deployment.parse_parties(["9999", "10000"], ["192.0.2.1", "192.0.2.2"])
    hosts = deployment.group_hosts(parties, users)
    settings = {"fate_topology": "star", "fate_exchange_host": "192.0.2.3"}
    record = lifecycle._deployment_record(
        "3f2c9a4e-0000-4000-8000-000000000001",
        hosts,
        deployment.plan_flows(hosts, settings),
        deployment.plan_exchange(hosts, settings, None),
    )
    state = State(deployment=record).as_dict()
    state.update({key: version_1()[key] for key in ("projects", "jobs", "models", "services", "migrations")})
    return state


def test_round_trip_of_a_written_state():
    written = _written_state()
    assert written["deployment"]["exchange"]["rabbitmq_ports"]
    state = State.from_dict(json.loads(json.dumps(written)))
    assert state.as_dict() == written
    assert State.from_dict(state.as_dict()) == state
    assert state.deployment.hosts["192.0.2.1"].flows[0].federation == "rabbitmq"
    assert state.models["arbiter-100#guest-99#host-100#model/202612021000000000000"].parties["guest"][99].tasks == [
        "lr_0"
    ]


def test_the_deployment_record_deploy_writes_has_the_shape():
    state = State.from_dict(_written_state())
    assert state.deployment.exchange is not None and state.deployment.exchange.ip == "192.0.2.3"
    assert [(p.party_id, p.ip) for p in state.deployment.parties] == [(9999, "192.0.2.1"), (10000, "192.0.2.2")]


def test_a_version_1_file_is_read_and_saved_as_the_current_version(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    workspace.ensure()
    old = version_1()
    workspace.state_path.write_text(json.dumps(old))
    state = workspace.load_state()
    assert state.deployment.id == old["deployment"]["id"]
    assert state.deployment.hosts["192.0.2.11"].user == "fate"
    assert [t.party_id for t in state.projects["bank"].tables] == [9999, 10000]
    assert state.jobs["202612011830123456789"].arbiter == 10000
    assert state.services["bank_lr"].match_id_names == ["id"]
    assert state.migrations["202612021000000000000"].archives[0].new_party_id == "99"
    # Read only: the file changes on the next save.
    assert json.loads(workspace.state_path.read_text()) == old
    workspace.save_state(state)
    saved = json.loads(workspace.state_path.read_text())
    assert saved["version"] == STATE_VERSION == 2
    # Everything version 1 held is kept as it was.
    assert saved == {**old, "version": 2}
    assert workspace.load_state() == state


def test_a_file_from_before_versions_gets_every_section(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    workspace.ensure()
    old = {key: version_1()[key] for key in ("deployment", "projects", "jobs")}
    workspace.state_path.write_text(json.dumps(old))
    state = workspace.load_state()
    assert state.models == state.services == state.migrations == {}
    assert state.jobs["202612011830123456789"].model_version == "0"


def test_version_1_fields_that_could_be_missing_read_as_unknown():
    old = copy.deepcopy(version_1())
    del old["migrations"]
    for table in old["projects"]["bank"]["tables"]:
        for key in ("sha256", "header", "id_name", "label_name", "count"):
            del table[key]
    del old["services"]["bank_lr"]["match_id_names"]
    del old["deployment"]["hosts"]["192.0.2.10"]["local"]
    del old["deployment"]["hosts"]["192.0.2.10"]["flows"][0]["serving_port"]
    # FATE's version 0 handed over as a number.
    old["jobs"]["202612011830123456789"]["model_version"] = 0
    state = read_state(old)
    assert state.projects["bank"].tables[0].id_name is None
    assert state.services["bank_lr"].match_id_names is None
    assert state.deployment.hosts["192.0.2.10"].local is None
    assert state.deployment.hosts["192.0.2.10"].flows[0].serving_port == deployment.DEFAULT_SERVING_PORT
    assert state.jobs["202612011830123456789"].model_version == "0"


def test_a_newer_file_is_refused_in_one_line(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    workspace.ensure()
    newer = {**version_1(), "version": STATE_VERSION + 1, "something_new": {}}
    workspace.state_path.write_text(json.dumps(newer))
    with pytest.raises(FateopsError) as refused:
        workspace.load_state()
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"the workspace state {workspace.state_path} was written by a newer fateops (state version "
        f"{STATE_VERSION + 1}; this one reads up to {STATE_VERSION}); upgrade fateops or restore the file from a backup"
    )
    assert json.loads(workspace.state_path.read_text()) == newer


# --- What the playbooks publish ------------------------------------------------------------------------------------


def _run(**data: Any) -> RunResult:
    return RunResult(ok=True, changed=1, run_dir=Path("runs/20261201T183012-submit-x"), data=data)


def _uploaded(role: str, party_id: int, path: str, **found: Any) -> dict[str, Any]:
    """One result of upload.yml's fate_data loop, as Ansible registers it (the loop variable included)."""
    spec = {"role": role, "party_id": party_id, "path": path, "namespace": "bank", "name": f"{role}_{party_id}"}
    return {
        "changed": True,
        "action": "upload",
        "namespace": "bank",
        "name": f"{role}_{party_id}",
        "upload": {**spec, "flow_name": f"party-{party_id}", "flow_port": 9380},
        "ansible_loop_var": "upload",
        "state_file": f"/data/projects/fate/party-{party_id}/home/fateops/tables/bank.{role}_{party_id}.json",
        **found,
    }


def test_uploaded_tables():
    guest = _uploaded("guest", 9999, "/data/bank/guest.csv", sha256="0e57", header=["id", "y"], id_name="id")
    host = _uploaded("host", 10000, "/data/bank/host.csv", label_name=None, count=569)
    tables = UploadedTables.from_run(_run(fate_tables={"192.0.2.10": [guest], "192.0.2.11": [host]})).tables
    assert [(t.role, t.party_id, t.path, t.name) for t in tables] == [
        ("guest", 9999, "/data/bank/guest.csv", "guest_9999"),
        ("host", 10000, "/data/bank/host.csv", "host_10000"),
    ]
    assert tables[0].as_dict() == {
        "role": "guest",
        "party_id": 9999,
        "path": "/data/bank/guest.csv",
        "namespace": "bank",
        "name": "guest_9999",
        "sha256": "0e57",
        "header": ["id", "y"],
        "id_name": "id",
        "label_name": None,
        "count": None,
    }
    assert UploadedTables.from_run(_run()).tables == []


def test_submitted_job():
    job = SubmittedJob.from_run(
        _run(fate_job={"job_id": "202612011830123456789", "model_id": "202612011830123456789", "model_version": "0"})
    )
    assert job == SubmittedJob("202612011830123456789", "202612011830123456789", "0")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "(no fate_job)"),
        ({"fate_job": {"job_id": "1", "model_id": "1"}}, "(fate_job has no model_version)"),
        ({"fate_job": "1"}, '(fate_job is "1", not an object)'),
        ({"fate_job": {"job_id": "1", "model_id": "../m", "model_version": "0"}}, '(fate_job.model_id is "../m", not'),
    ],
)
def test_a_payload_the_facade_cannot_read_is_one_line(data, problem):
    with pytest.raises(PublishedError) as refused:
        SubmittedJob.from_run(_run(**data))
    message = str(refused.value)
    assert message.startswith(f"submit.yml did not publish what fateops reads {problem}")
    assert message.endswith(
        "run the playbooks that came with this fateops; its run log is in runs/20261201T183012-submit-x"
    )


def _migrated(role: str, party_id: str, new_party_id: str) -> dict[str, Any]:
    path = f"/data/projects/fate/temp/models/{role}#{new_party_id}#m_v.zip"
    return {
        "role": role,
        "party_id": party_id,
        "new_party_id": new_party_id,
        "path": path,
        "sha256": "d272",
        "tasks": ["lr_0"],
        "retmsg": f"New model id is: m, model version is: v. Model files can be found at '{path}'.",
    }


def test_migrated_archives():
    published = {"job_id": "v", "hosts": {"192.0.2.10": [_migrated("guest", "9999", "99")], "192.0.2.11": []}}
    archives = MigratedArchives.from_run(_run(fate_migration=published)).archives
    assert [(a.role, a.party_id, a.new_party_id) for a in archives] == [("guest", "9999", "99")]
    assert archives[0].as_dict() == _migrated("guest", "9999", "99")
    assert MigratedArchives.from_run(_run()).archives == []
    with pytest.raises(PublishedError, match=r"fate_migration\.hosts\.192\.0\.2\.10\[0\] has no retmsg"):
        broken = {**_migrated("guest", "9999", "99")}
        del broken["retmsg"]
        MigratedArchives.from_run(_run(fate_migration={"hosts": {"192.0.2.10": [broken]}}))


def test_imported_part():
    imported = {"changed": True, "archive": "/data/a.zip", "sha256": "d272", "tasks": ["lr_0"], "fate_flow": {}}
    assert ImportedPart.from_run(_run(fate_imported=[imported])) == ImportedPart("/data/a.zip", "d272", ["lr_0"])
    assert ImportedPart.from_run(_run()) is None
    assert ImportedPart.from_run(_run(fate_imported=[])) is None
    with pytest.raises(PublishedError, match=r"fate_imported\[0\]\.tasks is \"lr_0\", not a list"):
        ImportedPart.from_run(_run(fate_imported=[{**imported, "tasks": "lr_0"}]))


def _local_workspace(tmp_path: Path) -> Workspace:
    """A workspace whose two parties share this host, with the version-1 fixture's project."""
    workspace = Workspace(tmp_path / "ws")
    state = good_state()
    state["projects"] = version_1()["projects"]
    workspace.save_state(read_state(state))
    return workspace


@pytest.mark.parametrize(
    ("published", "failure"),
    [
        (
            {
                "fate_job": {
                    "job_id": "202612011830123456799",
                    "model_id": "202612011830123456799",
                    "model_version": "0",
                }
            },
            None,
        ),
        ({}, "submit.yml did not publish what fateops reads (no fate_job)"),
    ],
)
def test_submit_records_what_the_playbook_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: dict[str, Any], failure: str | None
):
    workspace = _local_workspace(tmp_path)
    monkeypatch.setattr(training, "run_playbook", lambda *args, **kwargs: _run(**published))
    if failure is not None:
        with pytest.raises(PublishedError, match=re.escape(failure)):
            training.submit(workspace, "hetero_lr", "bank", 1)
        assert workspace.load_state().jobs == State.from_dict(good_state()).jobs
        return
    output = training.submit(workspace, "hetero_lr", "bank", 1)
    assert json.dumps(output) == (
        '{"retcode": 0, "model_id": "202612011830123456799", "model_version": "0", "jobid": "202612011830123456799"}'
    )
    job = workspace.load_state().jobs["202612011830123456799"]
    assert (job.project, job.guest, job.hosts, job.arbiter, job.mode) == ("bank", 9999, [10000], 10000, 1)


def test_import_records_the_published_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    workspace = _local_workspace(tmp_path)
    config = tmp_path / "import_model.json"
    request = {"role": "host", "party_id": 10000, "model_id": "m", "model_version": "0", "file": "/t/host.zip"}
    config.write_text(json.dumps(request))
    imported = {
        "archive": "/data/projects/fate/standalone/home/fateops/models/h.zip",
        "sha256": "d2",
        "tasks": ["lr_0"],
    }
    monkeypatch.setattr(migration, "run_playbook", lambda *args, **kwargs: _run(fate_imported=[imported]))
    output = migration.import_model(workspace, str(config))
    assert json.dumps(output) == (
        '{"retcode": 0, "retmsg": "success", "data": {"role": "host", "party_id": 10000, "model_id": "m", '
        '"model_version": "0", "sha256": "d2"}}'
    )
    model = workspace.load_state().models["m/0"]
    assert sorted(model.parties) == ["guest", "host"]
    part = model.parties["host"][10000]
    assert (part.archive, part.sha256, part.tasks) == (imported["archive"], "d2", ["lr_0"])
    assert json.loads(workspace.state_path.read_text())["models"]["m/0"]["parties"]["host"]["10000"]["tasks"] == [
        "lr_0"
    ]
