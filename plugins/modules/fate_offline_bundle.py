#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Build, on the controller, the offline bundle party hosts without a package index install from."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_offline_bundle
short_description: Build the offline bundle of Debian packages and FATE runtime wheels on the controller
description:
  - Runs on the controller (delegated to localhost). Builds the parts asked for, each once, under a key of
    what goes into it, and returns what a host needs to install from them.
  - The C(debian) part is a flat apt repository of I(packages) and their whole dependency closure for
    I(release), fetched with the controller's apt (its proxy settings, a state of its own) from I(mirror).
  - The C(wheels) part is one tar of the wheels of I(requirements), built by I(python)'s pip, which must be the
    release's Python (3.11 for Debian 12).
  - A part that is built is reported as a change; in check mode nothing is built and a missing part is reported
    as the change it would be.
version_added: "0.3.0"
author: fateops contributors
options:
  dir:
    description:
      - Where the parts are kept. Empty, C(/var/cache/fateops/bundles) for root and
        C($XDG_CACHE_HOME/fateops/bundles) (C(~/.cache/fateops/bundles)) for anyone else.
    type: path
  parts:
    description: The parts to build and report.
    type: list
    elements: str
    choices: [debian, wheels]
    default: [debian, wheels]
  release:
    description: Codename of the Debian release the party hosts run.
    type: str
    default: bookworm
  mirror:
    description: The Debian mirror the controller fetches packages from.
    type: str
    default: http://deb.debian.org/debian
  packages:
    description: Debian packages a party host may need.
    type: list
    elements: str
    default: []
  requirements:
    description: Pinned requirement files of the runtime, each with C(no_deps) to build its wheels without dependencies.
    type: list
    elements: dict
    default: []
  python:
    description: The Python whose pip builds the wheels; empty, the one running this module.
    type: str
    default: ""
  pip_extra_args:
    description: Extra arguments for pip wheel (an index mirror, say), split on blanks.
    type: str
    default: ""
extends_documentation_fragment:
  - fateops.federation.attributes
"""

EXAMPLES = r"""
- name: Build the bundle the hosts without the runtime or the broker need
  fateops.federation.fate_offline_bundle:
    packages: [rabbitmq-server, nginx, libnginx-mod-stream, python3-venv]
    requirements:
      - {file: /srv/pins/requirements.txt}
      - {file: /srv/pins/packages.txt, no_deps: true}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
debian:
  description: The Debian part (C({}) when not asked for).
  returned: always
  type: dict
  contains:
    dir: {description: The repository directory (its Packages index and .deb files)., type: str}
    packages: {description: Package name to its C(version) and C(file) in I(dir)., type: dict}
    key: {description: Hash of what the part was built from., type: str}
wheels:
  description: The wheels part (C({}) when not asked for).
  returned: always
  type: dict
  contains:
    archive: {description: The tar of the wheels., type: str}
    key: {description: Hash of what the part was built from., type: str}
"""

import os
import sys
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.offline_bundle import (
    BundleError,
    debian_part,
    wheels_part,
)


def default_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/cache/fateops/bundles")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fateops" / "bundles"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path"},
            "parts": {
                "type": "list",
                "elements": "str",
                "choices": ["debian", "wheels"],
                "default": ["debian", "wheels"],
            },
            "release": {"type": "str", "default": "bookworm"},
            "mirror": {"type": "str", "default": "http://deb.debian.org/debian"},
            "packages": {"type": "list", "elements": "str", "default": []},
            "requirements": {"type": "list", "elements": "dict", "default": []},
            "python": {"type": "str", "default": ""},
            "pip_extra_args": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    root = Path(params["dir"] or default_dir())
    result = {"changed": False, "debian": {}, "wheels": {}, "dir": str(root)}
    if module.check_mode:
        # Nothing is built in check mode: a part that is not there yet is the change a run would make.
        result["changed"] = any(
            not any(root.glob(f"{part}-{params['release']}-*/.complete")) for part in params["parts"]
        )
        module.exit_json(**result)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if "debian" in params["parts"]:
            result["debian"] = debian_part(root, params["release"], params["mirror"], params["packages"])
        if "wheels" in params["parts"]:
            requirements = [
                {"file": str(item["file"]), "no_deps": bool(item.get("no_deps"))} for item in params["requirements"]
            ]
            for item in requirements:
                if not Path(item["file"]).is_file():
                    raise BundleError(f"requirement file {item['file']} is not there")
            result["wheels"] = wheels_part(
                root,
                params["python"] or sys.executable,
                requirements,
                params["pip_extra_args"].split(),
                params["release"],
            )
    except BundleError as exc:
        module.fail_json(msg=f"offline bundle: {exc}", **result)
    except OSError as exc:
        module.fail_json(
            msg=f"offline bundle: {exc.strerror} ({exc.filename}): make {root} writable or set fate_offline_dir",
            **result,
        )
    result["changed"] = any(result[part].get("built") for part in ("debian", "wheels"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
