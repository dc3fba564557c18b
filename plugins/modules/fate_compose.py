#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Run a FATE party's docker compose project with the docker compose v2 CLI."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_compose
short_description: Run, stop or check a FATE party's docker compose project (docker compose v2 CLI)
description:
  - C(state=info) checks that the host has a running Docker engine and the compose v2 plugin and reports their
    versions, and which of I(images) the engine lacks; every other state checks engine and plugin first.
  - C(state=present) loads the given image archives whose images are missing (C(docker load)), then runs
    C(docker compose up -d) and restarts the services in I(restart_services) that C(up) did not recreate.
  - C(state=absent) runs C(docker compose down); named volumes (the party's data) are kept unless
    I(remove_volumes=true).
  - C(changed) comes from what happened, not from a command having run - containers created, recreated,
    started, restarted or removed, images loaded. Check mode compares the project's configuration hashes with
    the running containers' and changes nothing.
version_added: "0.1.0"
author: fateops contributors
options:
  project_name:
    description: The compose project's name (lower case letters, digits, C(-) and C(_)).
    type: str
    required: true
  project_dir:
    description:
      - Directory that holds C(docker-compose.yml) and C(.env). Required for C(state=present).
      - For C(state=absent) it may be gone already; the project is then found by its name.
    type: path
  state:
    description: What to do with the project.
    type: str
    default: present
    choices: [present, absent, info]
  pull:
    description: When C(up) pulls images.
    type: str
    default: missing
    choices: [missing, always, never]
  restart_services:
    description: Services whose mounted configuration changed; restarted unless C(up) recreated them anyway.
    type: list
    elements: str
    default: []
  image_archives:
    description: C(docker save) archives on the host to load before C(up); an archive whose images are all present
      is not loaded again.
    type: list
    elements: path
    default: []
  images:
    description: With C(state=info), image references to look up in the engine; those it lacks are returned.
    type: list
    elements: str
    default: []
  remove_volumes:
    description: With C(state=absent), also remove the project's named volumes (its databases and models).
    type: bool
    default: false
  docker_cli:
    description: The docker program.
    type: str
    default: docker
  min_compose_version:
    description: The oldest docker compose v2 plugin accepted.
    type: str
    default: "2.17.0"
extends_documentation_fragment:
  - fateops.federation.attributes
notes:
  - Drives the C(docker) CLI, so the host needs nothing but Docker; no Python Docker SDK.
"""

EXAMPLES = r"""
- name: Check Docker and compose v2, and look for the project's images
  fateops.federation.fate_compose:
    project_name: confs-9999
    state: info
    images: [federatedai/fateflow:2.2.0-release, mysql:8.0.28]

- name: Run party 9999's project, restarting FATE-Flow for a new service_conf.yaml
  fateops.federation.fate_compose:
    project_name: confs-9999
    project_dir: /data/projects/fate/confs-9999
    restart_services: [fateflow]

- name: Stop party 9999, keeping its data
  fateops.federation.fate_compose:
    project_name: confs-9999
    project_dir: /data/projects/fate/confs-9999
    state: absent
"""

RETURN = r"""
docker_version:
  description: Version of the Docker engine.
  returned: always
  type: str
compose_version:
  description: Version of the docker compose v2 plugin.
  returned: always
  type: str
missing_images:
  description: The images of I(images) the engine lacks.
  returned: when state is info
  type: list
  elements: str
  sample: [federatedai/osx:2.2.0-release]
containers:
  description: The project's containers after the run (before it, in check mode; as they are, with state info).
  returned: always
  type: list
  elements: dict
  sample: [{"service": "fateflow", "name": "confs-9999-fateflow-1", "state": "running", "health": "healthy"}]
pending_services:
  description: Services that C(up) creates or recreates (in check mode, would).
  returned: when state is present
  type: list
  elements: str
restarted:
  description: Services restarted for a changed configuration.
  returned: when state is present
  type: list
  elements: str
loaded_images:
  description: Images loaded from I(image_archives).
  returned: when state is present
  type: list
  elements: str
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.compose_cli import (
    MIN_COMPOSE_VERSION,
    Container,
    DockerCliError,
    archive_image_tags,
    parse_compose_version,
    parse_config_hashes,
    parse_docker_version,
    parse_loaded_images,
    parse_ps,
    services_to_update,
    snapshot,
)

COMPOSE_FILE = "docker-compose.yml"


class Compose:
    """The docker commands of one project, failing the module with the command's output on error."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.docker = module.params["docker_cli"]
        self.name = module.params["project_name"]
        self.project_dir = module.params["project_dir"]

    def run(self, argv: list[str], check_rc: bool = True) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(argv)
        if check_rc and rc != 0:
            last = (err.strip() or out.strip() or f"exit status {rc}").splitlines()[-1]
            self.module.fail_json(
                msg=f"{' '.join(argv[:4])} ... failed: {last}", cmd=argv, rc=rc, stdout=out, stderr=err
            )
        return rc, out, err

    def compose(self, *args: str, with_files: bool = True) -> list[str]:
        argv = [self.docker, "compose", "--project-name", self.name]
        if with_files and self.project_dir and os.path.isfile(os.path.join(self.project_dir, COMPOSE_FILE)):
            argv += ["--project-directory", self.project_dir, "--file", os.path.join(self.project_dir, COMPOSE_FILE)]
        return argv + list(args)

    def containers(self) -> list[Container]:
        _, out, _ = self.run(self.compose("ps", "--all", "--format", "json"))
        return parse_ps(out)


def as_dicts(containers: list[Container]) -> list[dict[str, str]]:
    return [{"service": c.service, "name": c.name, "state": c.state, "health": c.health} for c in containers]


def check_host(module: AnsibleModule, compose: Compose) -> dict[str, str]:
    docker = module.params["docker_cli"]
    try:
        rc, out, err = module.run_command([docker, "version", "--format", "{{json .}}"])
        engine = parse_docker_version(rc, out, err)
        rc, out, err = module.run_command([docker, "compose", "version"])
        compose_version = parse_compose_version(rc, out, err, module.params["min_compose_version"])
    except DockerCliError as exc:
        module.fail_json(msg=str(exc), rc=rc, stdout=out, stderr=err)
    except OSError as exc:
        module.fail_json(msg=f"cannot run {docker} ({exc}); install the Docker CLI or set docker_cli")
    return {"docker_version": engine.server_version, "compose_version": compose_version}


def missing_images(compose: Compose, images: list[str]) -> list[str]:
    return [image for image in images if compose.run([compose.docker, "image", "inspect", image], check_rc=False)[0]]


def load_archives(module: AnsibleModule, compose: Compose) -> list[str]:
    loaded: list[str] = []
    for path in module.params["image_archives"]:
        try:
            tags = archive_image_tags(path)
        except DockerCliError as exc:
            module.fail_json(msg=str(exc), path=path)
        missing = missing_images(compose, tags)
        if not missing:
            continue
        if module.check_mode:
            loaded.extend(missing)
            continue
        _, out, _ = compose.run([compose.docker, "load", "--input", path])
        loaded.extend(parse_loaded_images(out) or missing)
    return loaded


def present(module: AnsibleModule, compose: Compose, result: dict[str, Any]) -> None:
    project_dir = module.params["project_dir"]
    if not project_dir or not os.path.isfile(os.path.join(project_dir, COMPOSE_FILE)):
        module.fail_json(
            msg=f"cannot find {COMPOSE_FILE} in project_dir {project_dir}; ship the project there first", **result
        )
    result["loaded_images"] = load_archives(module, compose)
    before = compose.containers()
    _, out, _ = compose.run(compose.compose("config", "--hash", "*"))
    pending = services_to_update(before, parse_config_hashes(out))
    result["pending_services"] = pending
    recreated = set(pending)
    restart = [s for s in module.params["restart_services"] if s not in recreated]
    if module.check_mode:
        result.update(
            changed=bool(pending or restart or result["loaded_images"]), restarted=restart, containers=as_dicts(before)
        )
        return
    compose.run(compose.compose("up", "--detach", "--pull", module.params["pull"], "--remove-orphans"))
    middle = compose.containers()
    # Containers up just made were started with the new configuration already.
    fresh = {c.service for c in middle if (c.container_id, c.state) not in snapshot(before).values()}
    restart = [s for s in restart if s not in fresh]
    if restart:
        compose.run(compose.compose("restart", *restart))
    after = compose.containers() if restart else middle
    changed = snapshot(before) != snapshot(after) or bool(restart) or bool(result["loaded_images"])
    result.update(changed=changed, restarted=restart, containers=as_dicts(after))


def absent(module: AnsibleModule, compose: Compose, result: dict[str, Any]) -> None:
    before = compose.containers()
    volumes: list[str] = []
    if module.params["remove_volumes"]:
        _, out, _ = compose.run(
            [compose.docker, "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={compose.name}"]
        )
        volumes = out.split()
    result.update(changed=bool(before or volumes), containers=as_dicts(before), removed_volumes=volumes)
    if module.check_mode or not result["changed"]:
        return
    args = ["down", "--remove-orphans"] + (["--volumes"] if module.params["remove_volumes"] else [])
    compose.run(compose.compose(*args))
    result["containers"] = as_dicts(compose.containers())


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "project_name": {"type": "str", "required": True},
            "project_dir": {"type": "path"},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent", "info"]},
            "pull": {"type": "str", "default": "missing", "choices": ["missing", "always", "never"]},
            "restart_services": {"type": "list", "elements": "str", "default": []},
            "image_archives": {"type": "list", "elements": "path", "default": []},
            "images": {"type": "list", "elements": "str", "default": []},
            "remove_volumes": {"type": "bool", "default": False},
            "docker_cli": {"type": "str", "default": "docker"},
            "min_compose_version": {"type": "str", "default": MIN_COMPOSE_VERSION},
        },
        required_if=[("state", "present", ("project_dir",))],
        supports_check_mode=True,
    )
    compose = Compose(module)
    result: dict[str, Any] = {"changed": False, **check_host(module, compose)}
    state = module.params["state"]
    if state == "present":
        present(module, compose, result)
    elif state == "absent":
        absent(module, compose, result)
    else:
        result["missing_images"] = missing_images(compose, module.params["images"])
        result["containers"] = as_dicts(compose.containers())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
