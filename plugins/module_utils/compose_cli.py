# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Reading what the docker CLI and its compose v2 plugin print, for the fate_compose module.

Pure functions over text, so that outputs of each docker and compose release can be fed to them in unit tests.
Standard library only: this runs on party hosts.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any

# The oldest compose v2 this project drives; older releases print `ps` and `version` differently.
MIN_COMPOSE_VERSION = "2.17.0"

_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)")


class DockerCliError(Exception):
    """The docker CLI cannot be used on this host. The message names the problem and the fix."""


def version_tuple(text: str) -> tuple[int, int, int]:
    match = _VERSION.search(text or "")
    if not match:
        raise ValueError(f"no version number in {text!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


@dataclass(frozen=True)
class EngineInfo:
    client_version: str
    server_version: str


def parse_docker_version(rc: int, stdout: str, stderr: str, host_label: str = "this host") -> EngineInfo:
    """`docker version --format '{{json .}}'`: the client and engine versions, or why the engine is unusable.

    Without an engine the CLI still prints the client part, with ``"Server": null``, and exits 1.
    """
    try:
        data = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        data = {}
    client = (data.get("Client") or {}).get("Version") or ""
    server = (data.get("Server") or {}).get("Version") or ""
    if rc == 0 and server:
        return EngineInfo(client, server)
    reason = " ".join(line.strip() for line in stderr.splitlines() if line.strip()) or f"docker version exited {rc}"
    if "permission denied" in reason.lower():
        fix = "add the connecting user to the docker group or connect as root"
    elif "cannot connect to the docker daemon" in reason.lower():
        fix = (
            "install Docker Engine and start it (systemctl start docker, or make docker in a fateops checkout), "
            "or deploy with fate_runtime: native"
        )
    else:
        fix = "check that Docker Engine runs there (docker version), or deploy with fate_runtime: native"
    raise DockerCliError(f"{host_label} has no usable Docker engine ({reason}); {fix}")


def parse_compose_version(rc: int, stdout: str, stderr: str, minimum: str = MIN_COMPOSE_VERSION) -> str:
    """`docker compose version`: the plugin's version ("2.29.1"), or why compose v2 is unusable."""
    text = stdout.strip()
    if rc != 0 or "compose" not in text.lower():
        reason = " ".join(line.strip() for line in (stderr or text).splitlines() if line.strip())
        raise DockerCliError(
            f"the docker compose v2 plugin is missing ({reason or f'docker compose exited {rc}'}); install "
            "Docker's docker-compose-plugin package, or run make setup in a fateops checkout, which links the "
            "pinned one (the v1 docker-compose program is not enough)"
        )
    try:
        found = version_tuple(text)
    except ValueError:
        raise DockerCliError(f"cannot read the compose version from {text!r}; check `docker compose version`") from None
    if found < version_tuple(minimum):
        raise DockerCliError(
            f"docker compose {'.'.join(map(str, found))} is older than {minimum}; upgrade docker-compose-plugin"
        )
    return ".".join(map(str, found))


@dataclass(frozen=True)
class Container:
    """One container of a compose project as `docker compose ps` shows it."""

    service: str
    container_id: str
    name: str
    state: str
    health: str = ""
    config_hash: str = ""
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _labels(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    labels: dict[str, str] = {}
    for item in str(value or "").split(","):
        if "=" in item:
            key, _, text = item.partition("=")
            labels[key.strip()] = text
    return labels


def parse_ps(stdout: str) -> list[Container]:
    """`docker compose ps --all --format json`, in both shapes compose has printed.

    Compose before 2.21 prints one JSON array; from 2.21 on, one JSON object per line. Nothing at all (or
    ``[]``) means no container.
    """
    text = stdout.strip()
    if not text:
        return []
    records: list[Any]
    if text.startswith("["):
        records = json.loads(text)
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    containers = []
    for record in records:
        labels = _labels(record.get("Labels"))
        containers.append(
            Container(
                service=str(record.get("Service") or labels.get("com.docker.compose.service", "")),
                container_id=str(record.get("ID") or ""),
                name=str(record.get("Name") or record.get("Names") or ""),
                state=str(record.get("State") or "").lower(),
                health=str(record.get("Health") or "").lower(),
                config_hash=labels.get("com.docker.compose.config-hash", ""),
                labels=labels,
            )
        )
    return sorted(containers, key=lambda c: (c.service, c.name))


def parse_config_hashes(stdout: str) -> dict[str, str]:
    """`docker compose config --hash '*'`: service -> the hash compose labels its container with."""
    hashes: dict[str, str] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 2:
            hashes[words[0]] = words[1]
    return hashes


def snapshot(containers: list[Container]) -> dict[str, tuple[str, str]]:
    """What counts for `changed`: each container's id and state (a recreate gives a new id)."""
    return {c.name: (c.container_id, c.state) for c in containers}


def services_to_update(containers: list[Container], desired_hashes: dict[str, str]) -> list[str]:
    """Services `up` would create or recreate: no running container, or one made from another configuration."""
    by_service: dict[str, list[Container]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    pending = []
    for service, desired in sorted(desired_hashes.items()):
        running = [c for c in by_service.get(service, []) if c.state == "running"]
        if not running or any(c.config_hash and c.config_hash != desired for c in running):
            pending.append(service)
    return pending


def unhealthy(containers: list[Container]) -> list[Container]:
    """Containers that are not running, or whose healthcheck failed."""
    return [c for c in containers if c.state != "running" or c.health == "unhealthy"]


def archive_image_tags(path: str) -> list[str]:
    """The image names a `docker save` archive holds (manifest.json's RepoTags)."""
    try:
        with tarfile.open(path) as archive:
            member = archive.extractfile("manifest.json")
            if member is None:
                raise DockerCliError(f"{path} has no manifest.json; make it with `docker save IMAGE -o FILE`")
            manifest = json.loads(member.read().decode("utf-8"))
    except KeyError:
        raise DockerCliError(f"{path} has no manifest.json; make it with `docker save IMAGE -o FILE`") from None
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise DockerCliError(f"{path} is not a docker image archive ({exc}); make it with `docker save`") from None
    tags: list[str] = []
    for entry in manifest if isinstance(manifest, list) else []:
        tags.extend(str(tag) for tag in entry.get("RepoTags") or [])
    if not tags:
        raise DockerCliError(f"{path} holds no tagged image; save images by name (docker save NAME:TAG)")
    return tags


def parse_loaded_images(stdout: str) -> list[str]:
    """`docker load`: the images it loaded ("Loaded image: NAME:TAG")."""
    return [line.split(":", 1)[1].strip() for line in stdout.splitlines() if line.startswith("Loaded image")]
