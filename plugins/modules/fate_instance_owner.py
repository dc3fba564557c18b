#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Which fateops deployment owns an instance on a host: checked before any host changes, recorded on deploy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_instance_owner
short_description: Check or record which fateops deployment owns an instance on a host
description:
  - An instance is a directory under I(base_dir) (a FATE-Flow instance, a compose project, the exchange). Its
    owner is the deployment id written in the file C(fateops-owner) inside it.
  - With I(state=checked), reports the owner of every instance in I(names) and fails, naming the instance, the
    host and the other deployment, when one belongs to another deployment. Never changes the host.
  - With I(state=present), records I(deployment_id) as the owner of the (existing) instance in I(names),
    unless another deployment owns it. Writes only what differs, so a second run reports no change.
  - An instance directory without the file (made by an older fateops) has no owner; it is taken over freely.
  - An empty I(deployment_id) (the roles run without the facade) records nothing, and still refuses an instance
    that a deployment owns.
version_added: "0.2.0"
author: fateops contributors
options:
  base_dir:
    description: Directory that holds the instances (the parties' C(fate_base_dir)).
    type: path
    required: true
  names:
    description:
      - Instance directories under I(base_dir), each one path component (a FATE-Flow name, C(confs-<party id>)).
    type: list
    elements: str
    required: true
  deployment_id:
    description: The id of the deployment this run works for; empty for none.
    type: str
    default: ""
  adopt:
    description: Take over instances that another deployment owns instead of refusing them.
    type: bool
    default: false
  host:
    description: How messages name this host (normally the inventory name, the address the operator gave).
    type: str
    default: this host
  state:
    description: C(checked) only reads; C(present) records the owner.
    type: str
    choices: [checked, present]
    default: present
  create:
    description:
      - With I(state=present), make an instance directory that does not exist yet (mode C(0750)) before
        recording its owner, instead of failing.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Refuse instances of another deployment before changing any host
  fateops.federation.fate_instance_owner:
    base_dir: /data/projects/fate
    names: [standalone]
    deployment_id: "{{ fate_deployment_id }}"
    host: "{{ inventory_hostname }}"
    state: checked

- name: Record this deployment as the owner of the instance
  fateops.federation.fate_instance_owner:
    base_dir: /data/projects/fate
    names: [standalone]
    deployment_id: "{{ fate_deployment_id }}"
    adopt: "{{ fate_adopt_instances }}"
"""

RETURN = r"""
instances:
  description: One entry per name, with the owner found (empty for none) and the instance's state.
  returned: always
  type: list
  elements: dict
  sample:
    - name: standalone
      path: /data/projects/fate/standalone
      owner: 3f0c1c2e-8d0b-4f6e-9a57-1b2b8f0f5e21
      state: ours
  contains:
    state:
      description: >-
        C(new) (no directory yet), C(unowned) (no owner file), C(ours), C(foreign) (another deployment's),
        C(adopted) (another deployment's, taken over with I(adopt)).
      type: str
"""

import contextlib
import os
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

OWNER_FILE = "fateops-owner"
OVERRIDE = "fate_adopt_instances: true"


def read_owner(instance: Path) -> str:
    """The deployment id recorded in the instance; empty when it records none."""
    try:
        return (instance / OWNER_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def instance_state(instance: Path, owner: str, deployment_id: str, adopt: bool) -> str:
    if not instance.is_dir():
        return "new"
    if not owner:
        return "unowned"
    if owner == deployment_id:
        return "ours"
    return "adopted" if adopt else "foreign"


def refusal(name: str, host: str, owner: str) -> str:
    return (
        f"{name} on {host} belongs to another fateops deployment ({owner}); delete it from that workspace, "
        f"or set {OVERRIDE} in settings.yml to take it over"
    )


def write_owner(instance: Path, deployment_id: str) -> None:
    """Replace the owner file in one step, so a reader never sees half an id."""
    fd, tmp = tempfile.mkstemp(prefix=f".{OWNER_FILE}.", dir=instance)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{deployment_id}\n")
        os.replace(tmp, instance / OWNER_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _bad_name(name: str) -> bool:
    return not name or name in (".", "..") or "/" in name or "\0" in name


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "base_dir": {"type": "path", "required": True},
            "names": {"type": "list", "elements": "str", "required": True},
            "deployment_id": {"type": "str", "default": ""},
            "adopt": {"type": "bool", "default": False},
            "host": {"type": "str", "default": "this host"},
            "state": {"type": "str", "choices": ["checked", "present"], "default": "present"},
            "create": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    bad = [name for name in params["names"] if _bad_name(name)]
    if bad:
        module.fail_json(msg=f"instance names {bad} are not single directory names; name each instance directory")
    deployment_id = params["deployment_id"].strip()
    base_dir = Path(params["base_dir"])

    instances = []
    for name in params["names"]:
        path = base_dir / name
        try:
            owner = read_owner(path)
        except OSError as exc:
            module.fail_json(msg=f"cannot read the owner of {name} on {params['host']} ({exc}); check {path}")
        state = instance_state(path, owner, deployment_id, params["adopt"])
        instances.append({"name": name, "path": str(path), "owner": owner, "state": state})

    foreign = [entry for entry in instances if entry["state"] == "foreign"]
    if foreign:
        first = foreign[0]
        module.fail_json(msg=refusal(first["name"], params["host"], first["owner"]), changed=False, instances=instances)
    made = []
    if params["state"] == "present" and params["create"]:
        made = [entry for entry in instances if entry["state"] == "new" and not Path(entry["path"]).is_dir()]
        if not module.check_mode:
            for entry in made:
                try:
                    Path(entry["path"]).mkdir(mode=0o750, parents=True, exist_ok=True)
                except OSError as exc:
                    module.fail_json(msg=f"cannot make {entry['path']} ({exc.strerror}); check {base_dir}")
    if params["state"] == "checked" or not deployment_id:
        module.exit_json(changed=bool(made), instances=instances)

    # Recording: the instance exists (the role made it just before), except in check mode on a new host.
    missing = [
        entry["path"]
        for entry in instances
        if entry["state"] == "new" and not module.check_mode and not Path(entry["path"]).is_dir()
    ]
    if missing:
        module.fail_json(msg=f"{', '.join(missing)} does not exist; create the instance before recording its owner")
    to_write = [entry for entry in instances if entry["state"] != "ours"]
    if not module.check_mode:
        for entry in to_write:
            write_owner(Path(entry["path"]), deployment_id)
    result: dict = {"changed": bool(to_write or made), "instances": instances}
    if module._diff and to_write:
        result["diff"] = [
            {
                "before_header": f"{entry['path']}/{OWNER_FILE}",
                "after_header": f"{entry['path']}/{OWNER_FILE}",
                "before": f"{entry['owner']}\n" if entry["owner"] else "",
                "after": f"{deployment_id}\n",
            }
            for entry in to_write
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
