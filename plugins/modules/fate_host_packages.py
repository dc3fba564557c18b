#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The Debian packages a party host needs: what it lacks, and their install from the offline bundle or its index."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_host_packages
short_description: Check for, and install, the Debian packages a FATE party needs on its host
description:
  - C(checked) reports which of I(packages) the host lacks, the version of every package it has, its release
    (C(/etc/os-release)), and whether it must be given the offline bundle. It fails, naming the host's problem
    and the fix, when what is lacking cannot be installed there (another release than the bundle's with
    I(offline), no apt, not root). It changes nothing.
  - C(present) installs what is lacking with apt, from the flat repository I(repo) the offline bundle put on the
    host (I(offline)) or from the host's own sources. No package's service is started by the install (a
    C(policy-rc.d) that refuses every start is in place while apt runs, unless the host has one of its own);
    every party runs its own broker and nginx.
version_added: "0.3.0"
author: fateops contributors
options:
  packages:
    description: Debian package names the host needs.
    type: list
    elements: str
    default: []
  state:
    description: C(checked) looks, C(present) installs what is lacking.
    type: str
    choices: [checked, present]
    default: checked
  offline:
    description: Install from the offline bundle (I(repo)) instead of the host's own package index.
    type: bool
    default: true
  release:
    description: Codename of the Debian release the offline bundle is built for.
    type: str
    default: bookworm
  runtime_marker:
    description:
      - The marker of the host's FATE runtime. When it is missing and I(offline) is set, the runtime is built from
        the bundle's wheels, which need the bundle's release as well.
    type: path
  repo:
    description:
      - The flat apt repository (a Packages index and .deb files) on the host.
      - Required for C(present) with I(offline).
    type: path
extends_documentation_fragment:
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: See what the host lacks
  fateops.federation.fate_host_packages:
    packages: [rabbitmq-server, nginx, libnginx-mod-stream, python3-venv]
    runtime_marker: /data/projects/fate/.runtime/fate-2.2.0-0123456789ab/.complete
  register: fate_host_check

- name: Install it from the bundle shipped to the host
  fateops.federation.fate_host_packages:
    packages: "{{ fate_host_check.missing }}"
    state: present
    repo: /data/projects/fate/.bundle/debian
"""

RETURN = r"""
missing:
  description: The packages of I(packages) the host lacks (before an install).
  returned: always
  type: list
  elements: str
installed:
  description: Name to version of every package the host has (before an install).
  returned: always
  type: dict
runtime_missing:
  description: Whether I(runtime_marker) was given and is not there.
  returned: always
  type: bool
bundle:
  description: The parts of the offline bundle the host must be given (C(debian), C(wheels)).
  returned: always
  type: list
  elements: str
os_release:
  description: The host's /etc/os-release fields C(ID), C(VERSION_ID), C(VERSION_CODENAME) and C(PRETTY_NAME).
  returned: always
  type: dict
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.offline_bundle import (
    BundleError,
    parse_os_release,
    release_problem,
    validate_packages,
)

POLICY = "/usr/sbin/policy-rc.d"


def installed_packages() -> dict[str, str] | None:
    """Name -> version of every installed package; None without dpkg."""
    if shutil.which("dpkg-query") is None:
        return None
    done = subprocess.run(
        ["dpkg-query", "--show", "--showformat", "${Package} ${Version} ${db:Status-Abbrev}\n"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    packages = {}
    for line in done.stdout.splitlines():
        name, _, rest = line.partition(" ")
        version, _, status = rest.partition(" ")
        if status.startswith("ii"):
            packages[name] = version
    return packages


def os_release() -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            return parse_os_release(Path(path).read_text())
        except OSError:
            continue
    return {}


def problem(params: dict, missing: list[str], runtime_missing: bool, release: dict, has_dpkg: bool) -> str | None:
    """Why what the host lacks cannot be installed there (None: it can)."""
    if missing and (not has_dpkg or shutil.which("apt-get") is None):
        return (
            f"the host lacks {', '.join(missing)} and has no apt to install them: install them there and deploy again"
        )
    if params["offline"] and (missing or runtime_missing):
        why = release_problem(release, params["release"])
        if why:
            lacking = ", ".join(missing + (["the FATE runtime"] if runtime_missing else []))
            return (
                f"{why}; it lacks {lacking}: use such a host, or set fate_offline: false to install from its own index"
            )
    if missing and os.geteuid() != 0:
        return (
            f"the host lacks {', '.join(missing)} and installing them needs root: deploy once as root (-u root), "
            "or have them installed there"
        )
    return None


def install(module: AnsibleModule, packages: list[str]) -> None:
    params = module.params
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    options: list[str] = []
    scratch = None
    if params["offline"]:
        repo = params["repo"]
        if not repo or not os.path.isfile(os.path.join(repo, "Packages")):
            module.fail_json(msg=f"no offline repository at {repo}: deploy again to ship the bundle")
        # apt with the bundle as its only source and lists of its own: the host's sources are never read.
        scratch = tempfile.mkdtemp(prefix="fateops-apt-")
        os.makedirs(os.path.join(scratch, "lists", "partial"))
        sources = os.path.join(scratch, "sources.list")
        Path(sources).write_text(f"deb [trusted=yes] file:{repo} ./\n")
        options = [
            f"Dir::Etc::SourceList={sources}",
            "Dir::Etc::SourceParts=/nonexistent",
            f"Dir::State::Lists={scratch}/lists",
            "Acquire::Languages=none",
        ]
    apt = ["apt-get", "-q", *[arg for option in options for arg in ("-o", option)]]
    own_policy = not os.path.exists(POLICY)
    try:
        if own_policy:
            Path(POLICY).write_text("#!/bin/sh\n# fateops: no service starts while packages are installed\nexit 101\n")
            os.chmod(POLICY, 0o755)
        for step, argv in (
            ("reading the package lists", [*apt, "update"]),
            (f"installing {' '.join(packages)}", [*apt, "install", "--yes", "--no-install-recommends", *packages]),
        ):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800, check=False)
            if done.returncode != 0:
                tail = " / ".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-3:])
                module.fail_json(msg=f"apt-get {step} failed: {tail}", rc=done.returncode)
    finally:
        if own_policy and os.path.exists(POLICY):
            os.unlink(POLICY)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["checked", "present"], "default": "checked"},
            "offline": {"type": "bool", "default": True},
            "release": {"type": "str", "default": "bookworm"},
            "runtime_marker": {"type": "path"},
            "repo": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        validate_packages(params["packages"])
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    installed = installed_packages()
    missing = [name for name in params["packages"] if name not in (installed or {})]
    runtime_missing = bool(params["runtime_marker"]) and not os.path.exists(params["runtime_marker"])
    release = {
        key: value
        for key, value in os_release().items()
        if key in ("ID", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME")
    }
    bundle = []
    if params["offline"]:
        bundle = (["debian"] if missing else []) + (["wheels"] if runtime_missing else [])
    result = {
        "changed": False,
        "missing": missing,
        "installed": installed or {},
        "runtime_missing": runtime_missing,
        "bundle": bundle,
        "os_release": release,
    }
    why = problem(params, missing, runtime_missing, release, installed is not None)
    if why:
        module.fail_json(msg=why, **result)
    if params["state"] == "present" and missing:
        result["changed"] = True
        if not module.check_mode:
            install(module, missing)
            still = [name for name in missing if name not in (installed_packages() or {})]
            if still:
                module.fail_json(msg=f"apt-get ran, but {', '.join(still)} are still not installed", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
