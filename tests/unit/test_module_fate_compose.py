"""fate_compose and its docker CLI readers, fed with recorded docker / docker compose outputs (see
fixtures/docker_cli/README.md for which were captured and which follow the documentation)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible_collections.fateops.federation.plugins.module_utils import compose_cli
from ansible_collections.fateops.federation.plugins.modules import fate_compose
from module_runner import module_exits, run_module  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures" / "docker_cli"


def out(name: str) -> str:
    return (FIXTURES / name).read_text()


def recorded(name: str) -> tuple[int, str, str]:
    """A captured run: rc, stdout, stderr."""
    return int(out(f"{name}.rc")), out(f"{name}.stdout"), out(f"{name}.stderr")


ENGINE = (0, out("version_engine_27.stdout"), "")
COMPOSE = (0, out("compose_version_2.29.stdout"), "")
PS_RUNNING = (0, out("ps_2.29_running.stdout"), "")
PS_NONE = (0, "", "")
HASH_SAME = (0, out("config_hash_same.stdout"), "")
OK = (0, "", "")
# An up of a running project whose configuration is unchanged: what every steady-state run asks docker.
UP_ON_RUNNING = [
    (("ps",), PS_RUNNING),
    (("config", "--hash"), HASH_SAME),
    (("up", "--detach"), OK),
    (("ps",), PS_RUNNING),
]


class FakeDocker:
    """Answers docker commands from a script of (argv prefix, answer) pairs and records every call."""

    @classmethod
    def after_host_checks(cls, *script: tuple[tuple[str, ...], tuple[int, str, str]]) -> FakeDocker:
        """The script of a run on a host with an engine and compose v2: their checks come first."""
        return cls([(("version", "--format"), ENGINE), (("compose", "version"), COMPOSE), *script])

    def __init__(self, script: list[tuple[tuple[str, ...], tuple[int, str, str]]]) -> None:
        self.script = list(script)
        self.calls: list[list[str]] = []

    def __call__(self, module: Any, argv: list[str], **kwargs: Any) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        words = [w for w in argv if not w.startswith("/")]
        for index, (prefix, answer) in enumerate(self.script):
            if _contains(words, prefix):
                del self.script[index]
                return answer
        raise AssertionError(f"unexpected docker call {argv}")

    def ran(self, *words: str) -> bool:
        return any(_contains(call, words) for call in self.calls)


def _contains(argv: list[str], words: tuple[str, ...]) -> bool:
    return all(word in argv for word in words)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, docker: FakeDocker, args: dict[str, Any], check: bool = False):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kwargs: docker(self, argv))
    return run_module(fate_compose.main, {"project_name": "confs-9999", **args}, check=check)


# ---------------------------------------------------------------- host checks, with outputs captured here


def test_no_engine_fails_with_the_reason_and_the_fix(monkeypatch):
    docker = FakeDocker([(("version",), recorded("version_no_engine"))])
    outcome, result = run(monkeypatch, docker, {"state": "info"})
    assert outcome == "fail"
    assert result["msg"] == (
        "this host has no usable Docker engine (Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?); install Docker Engine and start it "
        "(systemctl start docker, or make docker in a fateops checkout), or deploy with fate_runtime: native"
    )
    assert result["rc"] == 1


def test_missing_compose_plugin_fails_clearly(monkeypatch):
    docker = FakeDocker(
        [(("version", "--format"), ENGINE), (("compose", "version"), recorded("compose_version_missing"))]
    )
    outcome, result = run(monkeypatch, docker, {"state": "info"})
    assert outcome == "fail"
    assert "docker compose v2 plugin is missing (docker: unknown command: docker compose" in result["msg"]
    assert "docker-compose-plugin" in result["msg"]
    assert "make setup" in result["msg"]


def test_info_reports_versions(monkeypatch):
    docker = FakeDocker.after_host_checks((("ps",), PS_RUNNING))
    outcome, result = run(monkeypatch, docker, {"state": "info"})
    assert outcome == "exit"
    assert (result["docker_version"], result["compose_version"], result["changed"]) == ("27.3.1", "2.29.7", False)
    # The project's containers as they are (the preflight checks the ports of a project that is not running).
    assert result["containers"] and {c["state"] for c in result["containers"]} == {"running"}


@pytest.mark.parametrize(
    ("fixture", "version"),
    [("compose_version_2.29", "2.29.7"), ("compose_version_2.17", "2.17.3"), ("compose_version_distro", "2.20.2")],
)
def test_compose_versions(fixture, version):
    assert compose_cli.parse_compose_version(0, out(f"{fixture}.stdout"), "") == version


def test_compose_too_old():
    with pytest.raises(compose_cli.DockerCliError, match=r"2\.12\.2 is older than 2\.17\.0; upgrade"):
        compose_cli.parse_compose_version(0, out("compose_version_2.12.stdout"), "")


def test_permission_denied_names_the_docker_group():
    err = "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
    with pytest.raises(compose_cli.DockerCliError, match="add the connecting user to the docker group"):
        compose_cli.parse_docker_version(1, out("version_no_engine.stdout"), err)


# ------------------------------------------------------------------------------------ ps, both formats


@pytest.mark.parametrize("fixture", ["ps_2.17_running", "ps_2.29_running"])
def test_ps_formats_read_alike(fixture):
    containers = compose_cli.parse_ps(out(f"{fixture}.stdout"))
    assert [(c.service, c.name, c.state, c.health) for c in containers] == [
        ("fateflow", "confs-9999-fateflow-1", "running", "healthy"),
        ("mysql", "confs-9999-mysql-1", "running", "healthy"),
    ]
    assert compose_cli.unhealthy(containers) == []


def test_ps_labels_give_config_hashes():
    containers = compose_cli.parse_ps(out("ps_2.29_running.stdout"))
    assert {c.service: c.config_hash for c in containers} == {"fateflow": "aaa111", "mysql": "bbb222"}
    hashes = compose_cli.parse_config_hashes(out("config_hash_fateflow_changed.stdout"))
    assert compose_cli.services_to_update(containers, hashes) == ["fateflow"]
    assert (
        compose_cli.services_to_update(containers, compose_cli.parse_config_hashes(out("config_hash_same.stdout")))
        == []
    )
    assert compose_cli.services_to_update([], hashes) == ["fateflow", "mysql"]


def test_empty_ps_is_no_container():
    assert compose_cli.parse_ps("") == compose_cli.parse_ps("[]\n") == []


# ------------------------------------------------------------------------------------------------- up


def test_first_up_creates_everything(monkeypatch, project):
    running = compose_cli.parse_ps(PS_RUNNING[1])
    docker = FakeDocker.after_host_checks(
        (("ps",), PS_NONE),
        (("config", "--hash"), HASH_SAME),
        (("up", "--detach"), OK),
        (("ps",), PS_RUNNING),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project), "restart_services": ["fateflow"]})
    assert outcome == "exit", result
    assert result["changed"] is True
    assert result["pending_services"] == ["fateflow", "mysql"]
    # FATE-Flow was just created with the new configuration: no restart on top.
    assert result["restarted"] == []
    assert not docker.ran("restart")
    assert [c["state"] for c in result["containers"]] == [c.state for c in running]
    up = next(call for call in docker.calls if "up" in call)
    assert up[:4] == ["docker", "compose", "--project-name", "confs-9999"]
    assert up[up.index("--pull") : up.index("--pull") + 2] == ["--pull", "missing"]


def test_second_up_changes_nothing(monkeypatch, project):
    docker = FakeDocker.after_host_checks(*UP_ON_RUNNING)
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project)})
    assert (outcome, result["changed"], result["pending_services"]) == ("exit", False, [])


def test_changed_config_file_restarts_its_service(monkeypatch, project):
    docker = FakeDocker.after_host_checks(
        *UP_ON_RUNNING,
        (("restart", "fateflow"), OK),
        (("ps",), PS_RUNNING),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project), "restart_services": ["fateflow"]})
    assert (outcome, result["changed"], result["restarted"]) == ("exit", True, ["fateflow"])


def test_check_mode_tells_and_changes_nothing(monkeypatch, project):
    docker = FakeDocker.after_host_checks(
        (("ps",), PS_RUNNING),
        (("config", "--hash"), (0, out("config_hash_fateflow_changed.stdout"), "")),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project)}, check=True)
    assert (outcome, result["changed"], result["pending_services"]) == ("exit", True, ["fateflow"])
    assert not docker.ran("up") and not docker.ran("restart")


def test_missing_project_fails_before_docker_compose(monkeypatch, tmp_path):
    docker = FakeDocker.after_host_checks()
    outcome, result = run(monkeypatch, docker, {"project_dir": str(tmp_path / "nowhere")})
    assert outcome == "fail"
    assert result["msg"].startswith("cannot find docker-compose.yml in project_dir")


def test_failed_up_returns_command_and_output(monkeypatch, project):
    pull_error = "Error response from daemon: pull access denied for federatedai/fateflow, repository does not exist"
    docker = FakeDocker.after_host_checks(
        (("ps",), PS_NONE),
        (("config", "--hash"), HASH_SAME),
        (("up", "--detach"), (18, "", pull_error)),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project)})
    assert outcome == "fail"
    assert result["msg"].endswith(pull_error)
    assert (result["rc"], result["stderr"]) == (18, pull_error)
    assert "up" in result["cmd"]


# ------------------------------------------------------------------------------------------- archives


def _archive(path: Path, tags: list[str]) -> Path:
    manifest = json.dumps([{"Config": "config.json", "RepoTags": tags, "Layers": []}]).encode()
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return path


def test_archive_is_loaded_only_when_its_image_is_missing(monkeypatch, project, tmp_path):
    archive = _archive(tmp_path / "fateflow.tar", ["federatedai/fateflow:2.2.0-release"])
    missing = FakeDocker.after_host_checks(
        (("image", "inspect"), (1, "[]", "Error: No such image")),
        (("load", "--input"), (0, out("load.stdout"), "")),
        *UP_ON_RUNNING,
    )
    outcome, result = run(monkeypatch, missing, {"project_dir": str(project), "image_archives": [str(archive)]})
    assert (outcome, result["changed"], result["loaded_images"]) == (
        "exit",
        True,
        ["federatedai/fateflow:2.2.0-release"],
    )

    present = FakeDocker.after_host_checks(
        (("image", "inspect"), (0, "[{}]", "")),
        *UP_ON_RUNNING,
    )
    outcome, result = run(monkeypatch, present, {"project_dir": str(project), "image_archives": [str(archive)]})
    assert (outcome, result["changed"], result["loaded_images"]) == ("exit", False, [])
    assert not present.ran("load")


def test_not_an_image_archive(tmp_path):
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not a tar")
    with pytest.raises(compose_cli.DockerCliError, match="is not a docker image archive"):
        compose_cli.archive_image_tags(str(bogus))


# ----------------------------------------------------------------------------------------------- down


def test_down_keeps_volumes_by_default(monkeypatch, project):
    docker = FakeDocker.after_host_checks(
        (("ps",), PS_RUNNING),
        (("down",), OK),
        (("ps",), PS_NONE),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project), "state": "absent"})
    assert (outcome, result["changed"], result["containers"]) == ("exit", True, [])
    down = next(call for call in docker.calls if "down" in call)
    assert "--volumes" not in down


def test_down_with_volumes_only_when_asked(monkeypatch, project):
    docker = FakeDocker.after_host_checks(
        (("ps",), PS_RUNNING),
        (("volume", "ls"), (0, "confs-9999_mysql_data\nconfs-9999_fate_flow_data\n", "")),
        (("down", "--volumes"), OK),
        (("ps",), PS_NONE),
    )
    outcome, result = run(monkeypatch, docker, {"project_dir": str(project), "state": "absent", "remove_volumes": True})
    assert (outcome, result["changed"]) == ("exit", True)
    assert result["removed_volumes"] == ["confs-9999_mysql_data", "confs-9999_fate_flow_data"]


def test_down_of_nothing_changes_nothing(monkeypatch, tmp_path):
    docker = FakeDocker.after_host_checks((("ps",), PS_NONE))
    outcome, result = run(monkeypatch, docker, {"project_dir": str(tmp_path / "gone"), "state": "absent"})
    assert (outcome, result["changed"]) == ("exit", False)
    assert not docker.ran("down")
