"""fate_model: migrate, export, import, store and restore; FATE-Flow replayed on loopback.

FATE-Flow's /model/export writes the zip on its own disk: the replay does the same with the real exports in
fixtures/fate_models and answers with the recorded body.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import ArchiveIdentity, verify_archive
from ansible_collections.fateops.federation.plugins.modules import fate_model
from module_runner import module_exits, run_module  # noqa: F401
from test_fate_flow_client import FlowReplay, Recorded, fixture

MODELS = Path(__file__).parent / "fixtures" / "fate_models"
MODEL_ID = "202611220632017786920"
# The seed's migrate_model.json (guest 9999 / host and arbiter 10000 -> 99 / 100) for the fixtures' model.
SEED = json.loads((MODELS / "migrate_model.json").read_text())


def export_like_fate(request: Recorded) -> bytes:
    body = request.json()
    source = MODELS / f"{body['model_id']}_{body['model_version']}_{body['role']}_{body['party_id']}.zip"
    if not source.exists():
        return fixture("model_export_not_found")
    Path(body["path"]).mkdir(parents=True, exist_ok=True)
    shutil.copy(source, Path(body["path"]) / source.name)
    return fixture("model_export")


@pytest.fixture
def flow():
    with FlowReplay() as replay:
        replay.add("POST", "/model/export", export_like_fate)
        replay.add("POST", "/model/import", b'{"code":0,"message":"success"}')
        replay.add("POST", "/model/delete", b'{"code":0,"data":{"count":true},"message":"success"}')
        yield replay


def run(flow: FlowReplay, check: bool = False, **args: Any) -> tuple[str, dict[str, Any]]:
    return run_module(fate_model.main, {"fate_flow_url": flow.url, "request_retries": 0, **args}, check=check)


def migrate_args(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    args = {
        "state": "migrated",
        "config": SEED,
        "party_ids": ["9999", "10000"],
        "job_id": "202611220700001234567",
        "dest_dir": str(tmp_path / "temp"),
    }
    args.update(changes)
    return args


def test_migrate_every_execute_party(flow, tmp_path):
    outcome, result = run(flow, **migrate_args(tmp_path))
    assert outcome == "exit" and result["changed"], result
    assert (result["model_id"], result["model_version"]) == (MODEL_ID, "202611220700001234567")
    assert [(a["role"], a["party_id"], a["new_party_id"]) for a in result["archives"]] == [
        ("guest", "9999", "99"),
        ("host", "10000", "100"),
        ("arbiter", "10000", "100"),
    ]
    for archive in result["archives"]:
        path = Path(archive["path"])
        assert path.name == f"{archive['role']}#{archive['new_party_id']}#{MODEL_ID}_202611220700001234567.zip"
        verify_archive(
            path, ArchiveIdentity(MODEL_ID, "202611220700001234567", archive["role"], archive["new_party_id"])
        )
    assert result["detail"]["guest"]["9999"]["retmsg"].startswith("Migrating model successfully.")
    # Nothing but the archives is left in the temp dir.
    assert sorted(p.name for p in (tmp_path / "temp").iterdir()) == sorted(
        Path(a["path"]).name for a in result["archives"]
    )
    again = run(flow, **migrate_args(tmp_path))[1]
    assert not again["changed"]


def test_migrate_check_mode_exports_but_keeps_nothing(flow, tmp_path):
    outcome, result = run(flow, check=True, **migrate_args(tmp_path))
    assert outcome == "exit" and result["changed"]
    assert len(flow.calls("POST", "/model/export")) == 3
    assert list((tmp_path / "temp").iterdir()) == []


def test_migrate_unknown_model_writes_nothing(flow, tmp_path):
    config = {**SEED, "model_id": "202001010000000000000"}
    outcome, result = run(flow, **migrate_args(tmp_path, config=config))
    assert outcome == "fail"
    assert "No found output model" in result["msg"] and result["fate_code"] == 2005
    assert list((tmp_path / "temp").iterdir()) == []


def test_migrate_bad_config_fails_before_fate_flow(flow, tmp_path):
    config = {**SEED, "migrate_role": {"guest": [99], "host": [100]}}
    outcome, result = run(flow, **migrate_args(tmp_path, config=config))
    assert outcome == "fail" and "migrate_role has roles" in result["msg"]
    assert flow.requests == []


def migrated_guest(flow: FlowReplay, tmp_path: Path) -> Path:
    result = run(flow, **migrate_args(tmp_path, party_ids=["9999"]))[1]
    return Path(result["archives"][0]["path"])


def import_args(tmp_path: Path, file: Path, **changes: Any) -> dict[str, Any]:
    args = {
        "state": "imported",
        "role": "guest",
        "party_id": "99",
        "model_id": MODEL_ID,
        "model_version": "202611220700001234567",
        "file": str(file),
        "archive_dir": str(tmp_path / "kept"),
    }
    args.update(changes)
    return args


def test_import_once(flow, tmp_path):
    archive = migrated_guest(flow, tmp_path)
    outcome, result = run(flow, **import_args(tmp_path, archive))
    assert outcome == "exit" and result["changed"] and result["tasks"] == ["lr_0"]
    (sent,) = flow.calls("POST", "/model/import")
    assert b'name="model_id"\r\n\r\n' + MODEL_ID.encode() in sent.body
    assert archive.read_bytes() in sent.body
    assert Path(result["archive"]).read_bytes() == archive.read_bytes()
    again = run(flow, **import_args(tmp_path, archive))[1]
    assert not again["changed"] and len(flow.calls("POST", "/model/import")) == 1


def test_import_refuses_wrong_party_and_other_archive(flow, tmp_path):
    archive = migrated_guest(flow, tmp_path)
    outcome, result = run(flow, **import_args(tmp_path, archive, party_id="98"))
    assert outcome == "fail" and "holds party_id 99, not 98" in result["msg"]
    assert run(flow, **import_args(tmp_path, archive))[0] == "exit"
    # Another archive under the same ids (the hosts moved elsewhere): only with force_update, which first
    # removes the model from FATE-Flow.
    moved = {**SEED, "migrate_role": {"guest": [99], "arbiter": [101], "host": [101]}}
    other = Path(
        run(flow, **migrate_args(tmp_path / "other", party_ids=["9999"], config=moved))[1]["archives"][0]["path"]
    )
    outcome, result = run(flow, **import_args(tmp_path, other))
    assert outcome == "fail" and "set force_update" in result["msg"]
    assert len(flow.calls("POST", "/model/import")) == 1
    outcome, result = run(flow, **import_args(tmp_path, other, force_update=True))
    assert outcome == "exit" and result["changed"]
    (deleted,) = flow.calls("POST", "/model/delete")
    assert deleted.json() == {
        "model_id": MODEL_ID,
        "model_version": "202611220700001234567",
        "role": "guest",
        "party_id": "99",
    }
    assert Path(result["archive"]).read_bytes() == other.read_bytes()


def test_export_store_restore_with_a_file_store(flow, tmp_path):
    outcome, exported = run(
        flow,
        state="exported",
        role="host",
        party_id="10000",
        model_id=MODEL_ID,
        model_version="0",
        dest_dir=str(tmp_path / "exports"),
    )
    assert outcome == "exit" and exported["changed"]
    part = {"role": "host", "party_id": "10000", "model_id": MODEL_ID, "model_version": "0"}
    verify_archive(exported["file"], ArchiveIdentity(MODEL_ID, "0", "host", "10000"))
    store = {"engine": "file", "path": str(tmp_path / "registry")}
    outcome, stored = run(flow, state="stored", file=exported["file"], store=store, **part)
    assert outcome == "exit" and stored["changed"] and stored["key"] == f"{MODEL_ID}/0/host/10000"
    assert not run(flow, state="stored", file=exported["file"], store=store, **part)[1]["changed"]
    target = tmp_path / "restored" / "host.zip"
    outcome, restored = run(flow, state="restored", file=str(target), store=store, **part)
    assert outcome == "exit" and restored["changed"]
    assert target.read_bytes() == Path(exported["file"]).read_bytes()
    assert (tmp_path / "registry" / MODEL_ID / "0" / "host" / "10000.zip.sha256").read_text().strip() == stored[
        "sha256"
    ]
    outcome, missing = run(flow, state="restored", file=str(target), store=store, **{**part, "model_version": "9"})
    assert outcome == "fail" and "holds no archive" in missing["msg"]


@pytest.mark.parametrize(
    ("state", "changes", "message"),
    [
        ("exported", {"model_id": "../../etc"}, "model_id '../../etc' is not a FATE id"),
        ("exported", {"model_version": "a/b"}, "model_version 'a/b' is not a FATE id"),
        ("exported", {"party_id": "٩٩٩٩"}, "party_id '٩٩٩٩' is not a party id"),
        ("imported", {"model_id": "..", "archive_dir": "/nonexistent"}, "model_id '..' is not a FATE id"),
        ("stored", {"model_version": "-x", "store": {"engine": "file", "path": "/nonexistent"}}, "not a FATE id"),
    ],
)
def test_ids_that_would_build_paths_are_refused_on_the_host(flow, tmp_path, state, changes, message):
    args = {
        "state": state,
        "role": "host",
        "party_id": "10000",
        "model_id": MODEL_ID,
        "model_version": "0",
        "dest_dir": str(tmp_path / "exports"),
        "file": str(tmp_path / "x.zip"),
        **changes,
    }
    outcome, result = run(flow, **args)
    assert outcome == "fail" and message in result["msg"]
    assert flow.requests == [] and not (tmp_path / "exports").exists()


def test_migrate_refuses_a_job_id_that_is_not_a_fate_id(flow, tmp_path):
    outcome, result = run(flow, **migrate_args(tmp_path, job_id="../up"))
    assert outcome == "fail" and "job_id '../up' is not a FATE id" in result["msg"]
    assert flow.requests == []
