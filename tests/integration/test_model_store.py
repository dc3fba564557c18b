"""The model registry against real servers started here: MariaDB and Redis (Debian), S3 (moto's server).

playbooks/model_store.yml runs as an operator runs it, with the party's FATE runtime interpreter (which has PyMySQL
and boto3). The archives are migrated parts of a real FATE 2.2 model (the unit tests' fixtures, rewritten).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from tests.harness import stores

from .conftest import (
    FIXTURE_MODEL_ID,
    FIXTURE_MODELS,
    REPO,
    STORE_LANE,
    TEST_BASE_DIR,
    Facade,
    deploy_parties,
    migrated_fixture_parts,
)

pytestmark = pytest.mark.integration

PORTS = STORE_LANE.ports
FLOW = FateFlowClient(host="127.0.0.1", port=STORE_LANE.http_port, timeout=30)

MODEL_ID = FIXTURE_MODEL_ID
VERSION = "v7"
PASSWORD = "Store-Secret-4711"
S3_KEYS = {"access_key": "AKIAFATEOPSTEST", "secret_key": "Fateops-S3-Secret-0815"}
# The seed's migrate_model.json (guest 9999 / host and arbiter 10000 -> 99 / 100) for the fixtures' model.
SEED = json.loads((FIXTURE_MODELS / "migrate_model.json").read_text())


def runtime_python() -> Path:
    found = sorted((TEST_BASE_DIR / ".runtime").glob("fate-*/bin/python"))
    if not found:
        pytest.fail(f"no FATE runtime under {TEST_BASE_DIR}; run the deploy tests first (they build it)", False)
    return found[-1]


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> list[dict]:
    """The guest's and host's migrated parts (99 / 100), as archives on this host."""
    return migrated_fixture_parts(tmp_path_factory.mktemp("archives"), VERSION, SEED)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "hosts.json"
    host = {
        "ansible_connection": "local",
        "fate_party_ids": [99, 100],
        "fate_model_store_python": str(runtime_python()),
    }
    path.write_text(json.dumps({"all": {"children": {"fate_parties": {"hosts": {"127.0.0.1": host}}}}}))
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, dict]]:
    root = tmp_path_factory.mktemp("stores")
    for name in ("mariadb", "redis", "s3", "file"):
        (root / name).mkdir()
    with (
        stores.mariadb(root / "mariadb", PASSWORD) as mariadb,
        stores.redis(root / "redis", PASSWORD) as redis,
        stores.s3(root / "s3") as s3,
    ):
        import boto3

        boto3.client("s3", **_boto_args(s3.options)).create_bucket(Bucket="models")
        yield {
            "file": {"engine": "file", "path": str(root / "file")},
            "mysql": {"engine": "mysql", "password": PASSWORD, **mariadb.options},
            "redis": {"engine": "redis", "password": PASSWORD, **redis.options},
            "s3": {"engine": "s3", "bucket": "models", **S3_KEYS, **s3.options},
            "_mariadb_dir": root / "mariadb",
        }


def _boto_args(options: dict) -> dict:
    return {
        "endpoint_url": options["endpoint_url"],
        "region_name": options["region"],
        "aws_access_key_id": S3_KEYS["access_key"],
        "aws_secret_access_key": S3_KEYS["secret_key"],
    }


def run_store(inventory: Path, action: str, parts: list[dict], store: dict) -> subprocess.CompletedProcess:
    extra = {"fate_model_store_action": action, "fate_model_parts": parts, "fate_model_store": store}
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-v", "-i", str(inventory),
         str(REPO / "playbooks" / "model_store.yml"), "-e", json.dumps(extra)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
             "ANSIBLE_NOCOLOR": "1", "HOME": str(inventory.parent)},
    )  # fmt: skip


def changed_count(result: subprocess.CompletedProcess) -> int:
    """How many parts the run changed (one loop item per part)."""
    return sum(line.startswith("changed: [127.0.0.1] => (item=") for line in result.stdout.splitlines())


@pytest.mark.parametrize("engine", ["file", "mysql", "redis", "s3"])
def test_store_and_restore_round_trip(engine, servers, parts, inventory, tmp_path):
    store = servers[engine]
    stored = run_store(inventory, "stored", parts, store)
    assert stored.returncode == 0, stored.stdout[-3000:] + stored.stderr[-2000:]
    assert changed_count(stored) == 2
    again = run_store(inventory, "stored", parts, store)
    assert again.returncode == 0 and changed_count(again) == 0, again.stdout[-2000:]

    restored_parts = [{**part, "file": str(tmp_path / Path(part["file"]).name)} for part in parts]
    restored = run_store(inventory, "restored", restored_parts, store)
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
    for original, copy in zip(parts, restored_parts, strict=True):
        assert Path(copy["file"]).read_bytes() == Path(original["file"]).read_bytes()
    for output in (stored, again, restored):
        for secret in (PASSWORD, S3_KEYS["secret_key"], S3_KEYS["access_key"]):
            assert secret not in output.stdout + output.stderr


def test_damaged_copy_is_not_restored(servers, parts, inventory, tmp_path):
    store = servers["mysql"]
    assert run_store(inventory, "stored", parts[:1], store).returncode == 0
    key = f"{MODEL_ID}/{VERSION}/guest/99"
    stores.mariadb_sql(
        servers["_mariadb_dir"],
        f"UPDATE models.fateops_model_store SET archive = CONCAT(archive, 'x') WHERE storage_key = '{key}'",
    )
    target = tmp_path / "guest.zip"
    restored = run_store(inventory, "restored", [{**parts[0], "file": str(target)}], store)
    assert restored.returncode != 0
    assert "does not match its sha256" in restored.stdout
    assert not target.exists()


def test_unreachable_store_and_bad_archive_change_nothing(servers, parts, inventory, tmp_path):
    before = Path(parts[0]["file"]).read_bytes()
    closed = {"engine": "redis", "host": "127.0.0.1", "port": stores.free_port(), "password": PASSWORD}
    failed = run_store(inventory, "stored", parts[:1], closed)
    assert failed.returncode != 0 and "cannot reach Redis at 127.0.0.1" in failed.stdout
    assert Path(parts[0]["file"]).read_bytes() == before

    # A part that is not what it says it is never reaches the store.
    wrong = {**parts[0], "party_id": 100}
    refused = run_store(inventory, "stored", [wrong], servers["file"])
    assert refused.returncode != 0 and "holds party_id 99, not 100" in refused.stdout
    assert not list(Path(servers["file"]["path"]).rglob("*/guest/100.zip"))
    missing = run_store(
        inventory, "restored", [{**parts[0], "model_version": "nosuch", "file": str(tmp_path / "x.zip")}], servers["s3"]
    )
    assert missing.returncode != 0 and "holds no archive" in missing.stdout


def test_fate_flow_keeps_imported_models_in_mariadb(servers, parts, tmp_path):
    """FATE-Flow's own model store set to mysql through inventory vars: an imported part lands in MariaDB."""
    mysql = servers["mysql"]
    facade = Facade(tmp_path / "workspace", STORE_LANE.base_dir)
    section = {
        "name": mysql["database"], "user": mysql["user"], "passwd": PASSWORD, "host": "127.0.0.1",
        "port": mysql["port"], "max_connections": 5, "stale_timeout": 30,
    }  # fmt: skip
    facade.settings(**PORTS, fate_model_store_engine="mysql", fate_model_store_sections={"mysql": section})
    try:
        deploy_parties(facade, {"guest": 99, "host": 100})
        for part in parts:
            config = tmp_path / f"import_{part['role']}.json"
            config.write_text(json.dumps(part))
            result = facade("-f", "import", "-conf", str(config))
            assert result.rc == 0, result.out + result.err
            assert PASSWORD not in result.out + result.err
        keys = stores.mariadb_sql(servers["_mariadb_dir"], "SELECT f_storage_key FROM models.t_machine_learning_model")
        assert f"{MODEL_ID}/{VERSION}/guest/99/lr_0/output_model" in keys.split()
        assert f"{MODEL_ID}/{VERSION}/host/100/lr_0/output_model" in keys.split()
        # FATE-Flow reads the part back from MariaDB: its export holds the very task model that was imported.
        exported = FLOW.export_model_archive(MODEL_ID, VERSION, "guest", 99, tmp_path / "exported")
        with zipfile.ZipFile(exported) as fresh, zipfile.ZipFile(parts[0]["file"]) as imported:
            name = f"{MODEL_ID}/{VERSION}/guest/99/lr_0/output_model"
            assert fresh.read(name) == imported.read(name)
    finally:
        facade("-f", "delete", "-id", "99", "100", "-ip", "127.0.0.1", "127.0.0.1")
