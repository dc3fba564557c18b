"""No user string is ever templated (issue 12, item 4): the fields that reach Ansible, against real FATE 2.2.

One deployment (parties 99 and 100 on this host, one standalone FATE-Flow) serves every test; nothing is trained:
the model is the unit tests' real FATE 2.2 model, migrated to 99 / 100 here and imported through the facade. The
facade runs as a user runs it: a fresh HOME, its settings in ~/.fateops/settings.yml, no FATEOPS_* variable.
Every payload would create its own file in one directory: none may ever appear, and each value is refused (the
function's failure result, one line) or used literally. The fields refused before Ansible runs are covered without
FATE in tests/unit/test_template_payloads.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FIXTURE_MODEL_ID, REPO, STORE_LANE, Result, guest_row, migrated_fixture_parts
from .test_migrate import seed_config, write_json

sys.path.insert(0, str(REPO / "examples"))
import data as example_data

pytestmark = pytest.mark.integration

PORTS = STORE_LANE.ports

PAYLOAD = "{{ lookup('pipe', 'touch %s') }}"
MODEL_ID = FIXTURE_MODEL_ID
VERSION = "v1"
IDS = ("99", "100")


class User:
    """script.py in a fresh HOME with no FATEOPS_* variable; settings in ~/.fateops/settings.yml."""

    def __init__(self, home: Path, markers: Path) -> None:
        self.home = home
        self.markers = markers
        markers.mkdir(parents=True, exist_ok=True)

    def payload(self, name: str) -> str:
        return PAYLOAD % (self.markers / name)

    def made(self) -> list[str]:
        return sorted(path.name for path in self.markers.iterdir())

    def settings(self, **values: object) -> None:
        workspace = self.home / ".fateops"
        workspace.mkdir(parents=True, exist_ok=True)
        base = {"fate_base_dir": str(STORE_LANE.base_dir), **PORTS}
        (workspace / "settings.yml").write_text(json.dumps({**base, **values}))

    def state(self) -> dict:
        return json.loads((self.home / ".fateops" / "state.json").read_text())

    def __call__(self, *args: str, timeout: float = 900) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FATEOPS_")}
        env["HOME"] = str(self.home)
        proc = subprocess.run(
            [sys.executable, str(REPO / "script.py"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


def refused_or_literal(result: Result, success: str | None = None) -> bool:
    """True if the run succeeded (used literally), False if it was refused; anything else fails the test."""
    lines = result.out.splitlines()
    assert len(lines) == 1, (result.out, result.err)
    if result.rc == 0:
        assert success is None or lines[0] == success, lines[0]
        return True
    assert lines[0].endswith("failure.") or json.loads(lines[0])["retcode"] != 0, lines[0]
    return False


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Iterator[User]:
    root = tmp_path_factory.mktemp("payloads")
    user = User(root / "home", root / "markers")
    # A settings value with a user's key goes through the party role's service_conf template at deploy.
    user.settings(fate_model_store_sections={user.payload("settings-key"): {"note": user.payload("settings-value")}})
    up = user("-f", "deploy", "-id", *IDS, "-ip", "127.0.0.1", "127.0.0.1")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    assert user.made() == []
    yield user
    user("-f", "delete", "-id", *IDS, "-ip", "127.0.0.1", "127.0.0.1")
    assert user.made() == []


@pytest.fixture(scope="module")
def data(user: User, tmp_path_factory) -> dict:
    """The example data in a directory whose name is a payload: every path holds one."""
    return example_data.write("breast", tmp_path_factory.mktemp("data") / user.payload("data-dir"))


def test_deployed_settings_keep_the_user_key_literal(user: User):
    conf = (STORE_LANE.base_dir / "standalone" / "home" / "conf" / "service_conf.yaml").read_text()
    assert json.dumps(user.payload("settings-key")) in conf


def test_upload_paths(user: User, data: dict):
    missing = user("-f", "upload", "-gp", "99", user.payload("gp"), "-hp", "100", user.payload("hp"), "-proj", "p")
    assert not refused_or_literal(missing)
    assert user.payload("gp") in missing.err
    loaded = user("-f", "upload", "-gp", "99", str(data["guest"]), "-hp", "100", str(data["hosts"][0]), "-proj", "p")
    assert refused_or_literal(loaded, "upload success."), loaded.err
    paths = [table["path"] for table in user.state()["projects"]["p"]["tables"]]
    assert paths == [str(data["guest"]), str(data["hosts"][0])]
    assert user.made() == []


def test_job_options_from_settings(user: User, data: dict):
    for options in ({user.payload("option-key"): 1}, {"job_conf": {"priority": user.payload("option-value")}}):
        user.settings(fate_job_options={"hetero_lr": options})
        submitted = user("-f", "submit", "-alg", "hetero_lr", "-proj", "p", "-m", "1")
        assert not refused_or_literal(submitted), submitted.out
        # The module's refusal quotes the value as written.
        assert "lookup('pipe'" in json.loads(submitted.out)["retmsg"]
    user.settings()
    assert user.made() == []


@pytest.fixture(scope="module")
def imported(user: User, data: dict, tmp_path_factory) -> dict:
    """The fixtures' model migrated to 99 / 100 into a payload-named directory, imported with that path."""
    directory = tmp_path_factory.mktemp("archives") / user.payload("archive-dir")
    directory.mkdir(parents=True)
    for config in migrated_fixture_parts(directory, VERSION, seed_config(MODEL_ID)):
        role = config["role"]
        result = user("-f", "import", "-conf", write_json(directory.parent / f"import_{role}.json", config))
        assert refused_or_literal(result), result.out + result.err
    assert user.made() == []
    return {"directory": directory}


def test_import_fields(user: User, imported: dict, tmp_path: Path):
    record = user.state()["models"][f"{MODEL_ID}/{VERSION}"]
    assert set(record["parties"]) == {"guest", "host"}
    good = {"role": "guest", "party_id": 99, "model_id": MODEL_ID, "model_version": VERSION, "file": "/nowhere.zip"}
    for key in ("role", "party_id", "model_id", "model_version", "file", "force_update"):
        config = {**good, key: user.payload(f"import-{key}")}
        result = user("-f", "import", "-conf", write_json(tmp_path / f"{key}.json", config))
        assert not refused_or_literal(result)
    result = user("-f", "import", "-conf", write_json(tmp_path / "key.json", {**good, user.payload("import-key"): 1}))
    assert not refused_or_literal(result) and "unknown key" in result.out
    assert user.made() == []


def test_load_bind_and_predict(user: User, imported: dict, data: dict):
    for args in (("-mid", user.payload("mid"), "-mver", VERSION), ("-mid", MODEL_ID, "-mver", user.payload("mver"))):
        assert not refused_or_literal(user("-f", "load_bind", *args, "-mname", "svc"))
    service = user.payload("service")
    bound = user("-f", "load_bind", "-mid", MODEL_ID, "-mver", VERSION, "-mname", service)
    if refused_or_literal(bound, "load_bind success."):
        assert service in user.state()["services"]
        answer = user("-f", "predict", "-mname", service, "-params", "id=3", *guest_row(data["guest"], 3))
        assert answer.rc == 0 and json.loads(answer.out)["retcode"] == 0, answer.out + answer.err
    assert user.made() == []


def test_migrate_config_fields(user: User, imported: dict, tmp_path: Path):
    seed = seed_config(MODEL_ID, model_version=VERSION, unify_model_version="v2")
    for key in ("model_id", "model_version", "unify_model_version"):
        config = {**seed, key: user.payload(f"migrate-{key}")}
        assert not refused_or_literal(user("-f", "migrate", "-conf", write_json(tmp_path / f"{key}.json", config)))
    nested = {
        "job_parameters": {"federated_mode": user.payload("mode")},
        "migrate_initiator": {"role": "guest", "party_id": user.payload("initiator")},
        "role": {**seed["role"], "guest": [user.payload("old-id")]},
        "migrate_role": {**seed["migrate_role"], user.payload("role-name"): [1]},
        "execute_party": {"guest": [user.payload("execute")]},
    }
    for key, value in nested.items():
        config = {**seed, key: value}
        assert not refused_or_literal(user("-f", "migrate", "-conf", write_json(tmp_path / f"{key}.json", config)))
    unknown = user("-f", "migrate", "-conf", write_json(tmp_path / "key.json", {**seed, user.payload("key"): 1}))
    assert not refused_or_literal(unknown) and "unknown key" in unknown.out
    assert user.made() == []
