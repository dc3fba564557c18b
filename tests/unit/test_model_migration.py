"""Model migration: the seed's configs checked, FATE 2.2 exports rewritten for new party ids, archives verified.

fixtures/fate_models holds the three parts of a hetero LR model exactly as FATE-Flow 2.2.0 exported them
(guest 9999, host 10000, arbiter 10000; model id = job id 202611220632017786920, version 0).
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import (
    ArchiveIdentity,
    MigrationError,
    PartyRef,
    archive_name,
    new_job_id,
    parse_import_config,
    parse_migrate_config,
    rewrite_archive,
    rewrite_metadata_yaml,
    rewrite_model_id,
    verify_archive,
)

MODELS = Path(__file__).parent / "fixtures" / "fate_models"
MODEL_ID = "202611220632017786920"

# The seed's migrate_model.json, with the model id of the fixtures.
# The seed's migrate_model.json (guest 9999 / host and arbiter 10000 -> 99 / 100) for the fixtures' model.
SEED = json.loads((MODELS / "migrate_model.json").read_text())


def seed(**changes) -> dict:
    data = copy.deepcopy(SEED)
    data.update(changes)
    return data


def export_of(role: str, party_id: str) -> Path:
    return MODELS / f"{MODEL_ID}_0_{role}_{party_id}.zip"


def task_files(archive: Path) -> dict[str, dict[str, str]]:
    """{entry: {tar member: text}} of an archive."""
    files = {}
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            if info.is_dir():
                continue
            with tarfile.open(fileobj=io.BytesIO(bundle.read(info))) as tar:
                files[info.filename] = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    return files


# configs


def test_seed_config_parses():
    config = parse_migrate_config(SEED)
    assert config.federated_mode == "MULTIPLE"
    assert config.initiator == PartyRef("guest", 99)
    assert config.party_map() == {"guest": {"9999": "99"}, "arbiter": {"10000": "100"}, "host": {"10000": "100"}}
    assert config.executing_parties() == [PartyRef("guest", 9999), PartyRef("host", 10000), PartyRef("arbiter", 10000)]
    assert config.new_model_id() == MODEL_ID  # a FATE 2.x model id is the job id and names no party
    assert config.unify_model_version is None


def test_single_mode_runs_on_the_initiators_old_party_only():
    config = parse_migrate_config(seed(job_parameters={"federated_mode": "single"}))
    assert config.executing_parties() == [PartyRef("guest", 9999)]


def test_string_party_ids_and_unify_version():
    config = parse_migrate_config(
        seed(role={"guest": ["9999"], "arbiter": [10000], "host": [10000]}, unify_model_version="v2")
    )
    assert config.role["guest"] == [9999]
    assert config.unify_model_version == "v2"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"migrate_role": {"guest": [99], "host": [100]}}, "migrate_role has roles"),
        ({"migrate_role": {"guest": [99, 98], "arbiter": [100], "host": [100]}}, "one new id per old id"),
        ({"role": {"guest": ["99x"], "arbiter": [10000], "host": [10000]}}, "is not a party id"),
        ({"migrate_role": {"guest": [99.5], "arbiter": [100], "host": [100]}}, "is not a party id"),
        ({"migrate_role": {"guest": [True], "arbiter": [100], "host": [100]}}, "is not a party id"),
        ({"migrate_role": {"guest": [0], "arbiter": [100], "host": [100]}}, "positive integer"),
        ({"execute_party": {"guest": [9998]}}, "is not among role.guest"),
        ({"migrate_initiator": {"role": "guest", "party_id": 9999}}, "is not in migrate_role.guest"),
        ({"migrate_initiator": {"role": "boss", "party_id": 99}}, "migrate_initiator must be"),
        ({"job_parameters": {"federated_mode": "BOTH"}}, "federated_mode BOTH"),
        ({"job_parameters": {}}, "federated_mode missing"),
        ({"model_id": ""}, "model_id is missing"),
        ({"unify_model_version": "a b"}, "is not a FATE id"),
        ({"unify_model_version": ".."}, "unify_model_version '..' is not a FATE id"),
        ({"model_id": "../../etc"}, "model_id '../../etc' is not a FATE id"),
        ({"model_id": ["x"]}, r"model_id \['x'\] is not a FATE id"),
        ({"model_version": "a/b"}, "model_version 'a/b' is not a FATE id"),
        ({"model_version": "-1"}, "model_version '-1' is not a FATE id"),
        ({"role": {"guest": ["٩٩٩٩"], "arbiter": [10000], "host": [10000]}}, "role.guest: party id '٩٩٩٩' is not"),
        ({"role": {"guest": ["+9999"], "arbiter": [10000], "host": [10000]}}, "'\\+9999' is not a party id"),
        ({"role": {"guest": [" 9999 "], "arbiter": [10000], "host": [10000]}}, "' 9999 ' is not a party id"),
        ({"migrate_role": {"guest": [10**25], "arbiter": [100], "host": [100]}}, "is not a party id"),
        ({"role": {"judge": [1]}}, "unknown key 'role.judge'; the keys of role are guest"),
        ({"model": "x"}, "unknown key 'model'; the keys of migrate_model.json are job_parameters"),
        ({"job_parameters": {"federated_mode": "SINGLE", "ttl": 1}}, "unknown key 'job_parameters.ttl'"),
        (
            {"job_parameters": {"federated_mode": "SINGLE"}, "execute_party": {"host": [10000]}},
            "not in execute_party",
        ),
    ],
)
def test_bad_migrate_config(changes, message):
    with pytest.raises(MigrationError, match=message):
        parse_migrate_config(seed(**changes))


def test_import_config():
    config = parse_import_config(
        {"role": "guest", "party_id": "99", "model_id": "m", "model_version": "v", "file": "/tmp/x.zip"}
    )
    assert (config.role, config.party_id, config.force_update) == ("guest", 99, False)
    with pytest.raises(MigrationError, match="is not a party id"):
        parse_import_config({"role": "guest", "party_id": "nine", "model_id": "m", "model_version": "v", "file": "f"})
    with pytest.raises(MigrationError, match="file is missing"):
        parse_import_config({"role": "host", "party_id": 1, "model_id": "m", "model_version": "v"})
    for key, value in (("model_id", "../../etc"), ("model_version", "a/b"), ("party_id", "1_000")):
        with pytest.raises(MigrationError, match=f"{key} '{value}' is not a"):
            parse_import_config({"role": "host", "party_id": 1, "model_id": "m", "model_version": "v", key: value})
    assert parse_import_config({"role": "host", "party_id": 1, "model_id": "m", "model_version": 0, "file": "f"})


def test_legacy_model_id_is_rewritten():
    party_map = parse_migrate_config(SEED).party_map()
    assert rewrite_model_id("arbiter-10000#guest-9999#host-10000#model", party_map) == (
        "arbiter-100#guest-99#host-100#model"
    )
    two_hosts = {"guest": {"9999": "99"}, "host": {"10000": "100", "10001": "101"}}
    assert rewrite_model_id("guest-9999#host-10000_10001#model", two_hosts) == "guest-99#host-100_101#model"
    assert rewrite_model_id(MODEL_ID, party_map) == MODEL_ID


def test_job_id_shape():
    job_id = new_job_id(1_795_000_000.1234567)
    assert len(job_id) == 21 and job_id.isdigit()


# rewriting real exports


@pytest.mark.parametrize(
    ("role", "old", "new"), [("guest", "9999", "99"), ("host", "10000", "100"), ("arbiter", "10000", "100")]
)
def test_rewrite_real_export(tmp_path, role, old, new):
    config = parse_migrate_config(SEED)
    target = tmp_path / archive_name(role, new, MODEL_ID, "v1")
    identity, digest, tasks = rewrite_archive(
        export_of(role, old), target, ArchiveIdentity(MODEL_ID, "0", role, old), config.party_map(), MODEL_ID, "v1"
    )
    assert identity == ArchiveIdentity(MODEL_ID, "v1", role, new)
    assert tasks == ["lr_0"]
    assert target.name == f"{role}#{new}#{MODEL_ID}_v1.zip"
    files = task_files(target)
    assert list(files) == [f"{MODEL_ID}/v1/{role}/{new}/lr_0/output_model"]
    (members,) = files.values()
    meta = members["json_model.meta.yaml"]
    assert "- '99'" in meta and "- '100'" in meta
    assert "'9999'" not in meta and "'10000'" not in meta
    assert f"partyid: '{new}'" in meta and f"role: {role}" in meta
    assert f"party_task_id: {MODEL_ID}_lr_0_0_{role}_{new}" in meta
    # The weights are untouched.
    original = task_files(export_of(role, old))
    (original_members,) = original.values()
    assert json.loads(members["json_model"]) == json.loads(original_members["json_model"])
    manifest = verify_archive(target, identity)
    assert manifest["migrated_from"] == {"model_id": MODEL_ID, "model_version": "0", "role": role, "party_id": old}
    assert len(digest) == 64


def test_metadata_yaml_lists_and_indentation():
    text = (
        "parties:\n  arbiter:\n  - '10000'\n  guest:\n  - '9999'\n  host:\n  - '10000'\n  - '10001'\nother:\n- '9999'\n"
    )
    party_map = {"guest": {"9999": "99"}, "host": {"10000": "100", "10001": "101"}, "arbiter": {"10000": "100"}}
    out = rewrite_metadata_yaml(text, party_map, "guest", {})
    assert out == (
        "parties:\n  arbiter:\n  - '100'\n  guest:\n  - '99'\n  host:\n  - '100'\n  - '101'\nother:\n- '9999'\n"
    )


def test_rewrite_refuses_a_party_without_new_id(tmp_path):
    with pytest.raises(MigrationError, match="has no new party id"):
        rewrite_archive(
            export_of("guest", "9999"),
            tmp_path / "x.zip",
            ArchiveIdentity(MODEL_ID, "0", "guest", "9999"),
            {"host": {"10000": "100"}},
            MODEL_ID,
            "v1",
        )
    assert not (tmp_path / "x.zip").exists()


# verification before import


@pytest.fixture
def migrated(tmp_path) -> tuple[Path, ArchiveIdentity]:
    config = parse_migrate_config(SEED)
    target = tmp_path / "guest.zip"
    identity, _, _ = rewrite_archive(
        export_of("guest", "9999"),
        target,
        ArchiveIdentity(MODEL_ID, "0", "guest", "9999"),
        config.party_map(),
        MODEL_ID,
        "v1",
    )
    return target, identity


def test_tampered_entry_is_refused(migrated, tmp_path):
    path, identity = migrated
    with zipfile.ZipFile(path) as source:
        comment = source.comment
        entries = {info.filename: source.read(info) for info in source.infolist()}
    name = next(iter(entries))
    with tarfile.open(fileobj=io.BytesIO(entries[name])) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members["json_model"] = members["json_model"].replace(b'"intercept_": [', b'"intercept_": [1.0, ')
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=rebuilt, mode="w") as tar:
        for member_name, data in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as target:
        target.writestr(name, rebuilt.getvalue())
        target.comment = comment
    with pytest.raises(MigrationError, match="was modified after it was written"):
        verify_archive(tampered, identity)


def test_corrupt_bytes_are_refused(migrated, tmp_path):
    path, identity = migrated
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # inside the first entry's compressed data
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(MigrationError, match=r"corrupt|not a readable zip|modified"):
        verify_archive(broken, identity)


def test_wrong_party_or_version_is_refused(migrated):
    path, identity = migrated
    with pytest.raises(MigrationError, match="holds party_id 99, not 98"):
        verify_archive(path, ArchiveIdentity(MODEL_ID, "v1", "guest", "98"))
    with pytest.raises(MigrationError, match="holds model_version v1, not v2"):
        verify_archive(path, ArchiveIdentity(MODEL_ID, "v2", "guest", "99"))
    assert verify_archive(path, identity)["party_id"] == "99"


def test_unchecked_archives_are_refused(tmp_path):
    with pytest.raises(MigrationError, match="carries no fateops manifest"):
        verify_archive(export_of("guest", "9999"), ArchiveIdentity(MODEL_ID, "0", "guest", "9999"))
    with pytest.raises(MigrationError, match="does not exist"):
        verify_archive(tmp_path / "none.zip", ArchiveIdentity(MODEL_ID, "0", "guest", "9999"))
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(MigrationError, match="not a readable zip"):
        verify_archive(tmp_path / "text.zip", ArchiveIdentity(MODEL_ID, "0", "guest", "9999"))
