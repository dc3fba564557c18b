"""Serving: the on-disk models and bindings load_bind writes, the host feature store, the configuration file."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "serving"))

import serving_harness as harness
from fateops_serving import (
    FeatureStore,
    ServingModel,
    bind_service,
    bindings_path,
    build_feature_store,
    model_path,
    party_dir,
    read_bindings,
    read_model,
    unbind_service,
    write_model,
)
from fateops_serving.bind import main as bind_main
from fateops_serving.config import ConfigError, load_config, parse_config
from fateops_serving.errors import RetCode, ServingError
from fateops_serving.repository import ModelRepository


def _guest(version: str = "0", **overrides: object) -> ServingModel:
    fields: dict[str, object] = {
        "model_id": "202611220001",
        "model_version": version,
        "role": "guest",
        "party_id": "9999",
        "algorithm": "hetero_lr",
        "header": ("x0", "x1"),
        "coef": (0.25, -0.5),
        "intercept": 0.125,
        "guest_party_id": "9999",
        "host_party_ids": ("10000",),
        "timestamp": 1,
    }
    fields.update(overrides)
    return ServingModel(**fields)  # type: ignore[arg-type]


def test_layout_is_one_directory_per_party(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, 9999)
    assert directory == tmp_path / "9999"
    assert model_path(directory, "m", "0", "guest") == directory / "models" / "m" / "0" / "guest.json"
    assert bindings_path(directory) == directory / "bindings.json"
    with pytest.raises(ValueError):
        model_path(directory, "..", "0", "guest")
    with pytest.raises(ValueError):
        party_dir(tmp_path, "../x")


def test_write_model_is_idempotent_and_read_back(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    assert write_model(directory, _guest()) is True
    written = model_path(directory, "202611220001", "0", "guest")
    before = written.stat()
    # A second load_bind of the same model, at another time, changes nothing on disk.
    assert write_model(directory, _guest(timestamp=99)) is False
    assert written.stat().st_ino == before.st_ino
    assert read_model(directory, "202611220001", "0", "guest") == _guest()
    assert write_model(directory, _guest(coef=(1.0, 2.0))) is True
    assert read_model(directory, "202611220001", "0", "guest").coef == (1.0, 2.0)
    assert [p.name for p in written.parent.iterdir()] == ["guest.json"]  # no temp files left behind


def test_bind_is_idempotent_swaps_versions_and_survives_reopen(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    write_model(directory, _guest("0"))
    write_model(directory, _guest("1"))
    assert read_bindings(directory) == {}
    assert bind_service(directory, "credit", "202611220001", "0") is True
    assert bind_service(directory, "credit", "202611220001", "0") is False
    inode = bindings_path(directory).stat().st_ino
    assert bind_service(directory, "credit", "202611220001", "1") is True
    assert bindings_path(directory).stat().st_ino != inode  # replaced by rename, never edited in place
    assert read_bindings(directory)["credit"].model_version == "1"
    document = json.loads(bindings_path(directory).read_text())
    assert document["services"] == {"credit": {"model_id": "202611220001", "model_version": "1"}}
    assert unbind_service(directory, "credit") is True
    assert unbind_service(directory, "credit") is False
    assert read_bindings(directory) == {}


def test_bind_refuses_a_model_that_is_not_stored(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="write_model"):
        bind_service(party_dir(tmp_path, "9999"), "credit", "nope", "0")


def test_concurrent_binds_lose_no_service(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    write_model(directory, _guest())
    threads = [
        threading.Thread(target=bind_service, args=(directory, f"service-{n}", "202611220001", "0")) for n in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(read_bindings(directory)) == sorted(f"service-{n}" for n in range(16))


def test_repository_sees_a_rebinding_on_the_next_lookup(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    write_model(directory, _guest("0"))
    write_model(directory, _guest("1", coef=(3.0, 4.0)))
    bind_service(directory, "credit", "202611220001", "0")
    repository = ModelRepository(tmp_path, ["9999"])
    assert repository.guest_model("credit").model_version == "0"
    bind_service(directory, "credit", "202611220001", "1")
    assert repository.guest_model("credit").coef == (3.0, 4.0)
    with pytest.raises(ServingError) as caught:
        repository.guest_model("other")
    assert caught.value.retcode == RetCode.MODEL_NULL


def test_repository_keeps_the_last_good_bindings_when_the_file_is_corrupted(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    write_model(directory, _guest())
    bind_service(directory, "credit", "202611220001", "0")
    repository = ModelRepository(tmp_path, ["9999"])
    assert repository.guest_model("credit")
    bindings_path(directory).write_text("{ not json")
    assert repository.guest_model("credit").model_version == "0"


def test_repository_reports_a_bound_model_whose_file_is_broken(tmp_path: Path) -> None:
    directory = party_dir(tmp_path, "9999")
    write_model(directory, _guest())
    bind_service(directory, "credit", "202611220001", "0")
    model_path(directory, "202611220001", "0", "guest").write_text("[]")
    with pytest.raises(ServingError) as caught:
        ModelRepository(tmp_path, ["9999"]).guest_model("credit")
    assert caught.value.retcode == RetCode.LOAD_MODEL_ERROR


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_feature_store_indexes_rows_by_id_in_header_order(tmp_path: Path) -> None:
    source = _csv(tmp_path / "host.csv", "id,x0,x1,x2\na,1,2,3\nb,4.5,-5,6e-1\n")
    store_path = tmp_path / "store" / "host_features.sqlite"
    summary = build_feature_store(source, store_path, "id", ["x2", "x0"])
    assert (summary.rows, summary.changed) == (2, True)
    store = FeatureStore(store_path)
    assert store.lookup("a") == (3.0, 1.0)
    assert store.lookup("b") == (0.6, 4.5)
    assert store.lookup("c") is None
    assert store.header == ("x2", "x0")
    store.close()
    # The id is the table's primary key: lookups use the index, never a scan.
    with sqlite3.connect(store_path) as connection:
        plan = connection.execute("EXPLAIN QUERY PLAN SELECT x FROM features WHERE id = ?", ("a",)).fetchall()
    assert any("PRIMARY KEY" in str(step) for step in plan)


def test_feature_store_rebuilds_only_when_its_inputs_change(tmp_path: Path) -> None:
    source = _csv(tmp_path / "host.csv", "id,x0\na,1\n")
    store_path = tmp_path / "host_features.sqlite"
    assert build_feature_store(source, store_path, "id", ["x0"]).changed is True
    inode = store_path.stat().st_ino
    assert build_feature_store(source, store_path, "id", ["x0"]).changed is False
    assert store_path.stat().st_ino == inode
    _csv(source, "id,x0\na,2\nb,3\n")
    summary = build_feature_store(source, store_path, "id", ["x0"])
    assert (summary.rows, summary.changed) == (2, True)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("key,x0\na,1\n", "no id column 'id'"),
        ("id,x1\na,1\n", "x0 are not columns"),
        ("id,x0\na,1\na,2\n", "repeat"),
        ("id,x0\na,1\nb,oops\n", "line 3: feature 'x0'"),
        ("id,x0\na,1,2\n", "line 2"),
    ],
)
def test_feature_store_refuses_bad_csv_and_keeps_the_old_store(tmp_path: Path, text: str, words: str) -> None:
    store_path = tmp_path / "host_features.sqlite"
    build_feature_store(_csv(tmp_path / "good.csv", "id,x0\nz,9\n"), store_path, "id", ["x0"])
    with pytest.raises(ValueError, match=words):
        build_feature_store(_csv(tmp_path / "bad.csv", text), store_path, "id", ["x0"])
    assert FeatureStore(store_path).lookup("z") == (9.0,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "good.csv", "host_features.sqlite"]


def test_config_file_defaults_and_relative_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "serving.yaml"
    path.write_text("data_dir: data\nparty_ids: [9999]\npeers:\n  10000: 10.77.0.3:8059\n")
    config = load_config(path)
    assert config.port == 8059
    assert config.data_dir == tmp_path / "data"
    assert config.party_ids == ("9999",)
    assert config.peers == {"10000": "10.77.0.3:8059"}
    assert config.remote_timeout_seconds == 3.0


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"party_ids": [1]}, "data_dir is required"),
        ({"data_dir": "d", "party_ids": []}, "party_ids"),
        ({"data_dir": "d", "party_ids": [1], "timeout": 3}, "unknown keys: timeout"),
        ({"data_dir": "d", "party_ids": [1], "peers": {"2": "nohost"}}, "not host:port"),
        ({"data_dir": "d", "party_ids": [1], "remote_timeout_seconds": 0}, "positive"),
        ({"data_dir": "d", "party_ids": [1], "port": 70000}, "port"),
    ],
)
def test_config_errors_name_the_key(data: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config(data, Path("/"))


def test_harness_install_builds_everything_load_bind_would(tmp_path: Path) -> None:
    host = harness.make_host("10000", 1)
    guest = harness.make_guest("9999", 2)
    harness.install_model(tmp_path, service_id="s", model_id="m", model_version="0", guest=guest, hosts=[host])
    assert sorted(os.listdir(tmp_path / "10000" / "models" / "m" / "0")) == ["host.json", "host_features.sqlite"]
    assert read_bindings(tmp_path / "9999")["s"].model_id == "m"
    assert read_bindings(tmp_path / "10000")["s"].model_id == "m"


def test_bind_command_is_load_binds_idempotent_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = Path(__file__).resolve().parent / "fixtures" / "serving"
    host_csv = _csv(tmp_path / "host.csv", "id,x0,x1,x2,x3,extra\n7,1,2,3,4,9\n8,0,0,0,1,9\n")
    common = [
        "--data-dir",
        str(tmp_path / "data"),
        "--model-id",
        "m",
        "--model-version",
        "0",
        "--service-id",
        "s",
        "--guest-party-id",
        "9999",
    ]
    host_args = [
        *common,
        "--party-id",
        "10000",
        "--role",
        "host",
        "--host-csv",
        str(host_csv),
        "--fate-output",
        str(outputs / "fate_output_host_lr.json"),
    ]
    guest_args = [
        *common,
        "--party-id",
        "9999",
        "--role",
        "guest",
        "--host-party-id",
        "10000",
        "--host-address",
        "10000=10.77.0.3:8059",
        "--fate-output",
        str(outputs / "fate_output_guest_lr.json"),
    ]
    for expected in (True, False):
        assert bind_main(host_args) == 0
        assert json.loads(capsys.readouterr().out) == {
            "changed": expected,
            "model_id": "m",
            "model_version": "0",
            "rows": 2,
        }
        assert bind_main(guest_args) == 0
        assert json.loads(capsys.readouterr().out)["changed"] is expected
    guest = read_model(tmp_path / "data" / "9999", "m", "0", "guest")
    assert guest.host_addresses == {"10000": "10.77.0.3:8059"}
    repository = ModelRepository(tmp_path / "data", ["10000"])
    host = repository.host_model("10000", "m", "0", "9999")
    assert repository.feature_store(host).lookup("8") == (0.0, 0.0, 0.0, 1.0)
    assert (
        bind_main(
            [
                *common,
                "--party-id",
                "10000",
                "--role",
                "host",
                "--fate-output",
                str(outputs / "fate_output_host_lr.json"),
            ]
        )
        == 1
    )
    assert "needs --host-csv" in capsys.readouterr().err
    assert (
        bind_main(
            [
                *common,
                "--party-id",
                "9999",
                "--role",
                "guest",
                "--fate-output",
                str(outputs / "fate_output_guest_lr_ovr.json"),
            ]
        )
        == 1
    )
    assert "one-vs-rest" in capsys.readouterr().err
