#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Write a set of an instance's files in one call, only those whose content or mode differs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_files
short_description: Write several files of a FATE instance in one call, each only when it differs
description:
  - Each file of I(files) gets the given content (rendered on the controller, e.g. with the template lookup) or a
    copy of a file already on the host (I(src)), and its mode. A file whose bytes and mode are already right is not
    touched.
  - Every write goes to a temporary file in the destination's directory, then replaces the destination (rename); a
    hard link (an instance's venv is a hard-linked copy of the host's FATE runtime) is broken for that file only.
  - One call instead of one template or copy task per file - a deploy that changes nothing costs one round trip.
  - Files of I(absent) are removed in the same call (a setting turned off takes its files away).
version_added: "0.1.0"
author: fateops contributors
options:
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file; its directory must exist.
        type: path
        required: true
      content:
        description: The file's content. Exactly one of I(content) and I(src).
        type: str
      src:
        description: A file on the host to copy. Exactly one of I(content) and I(src).
        type: path
      mode:
        description: The file's permission bits, in octal.
        type: str
        required: true
  absent:
    description:
      - Absolute paths of files to remove when they are there (a file or a symbolic link; a directory is refused).
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Secrets in I(content) are the caller's to hide (C(no_log)); the module returns paths only, never content.
"""

EXAMPLES = r"""
- name: Write FATE-Flow's configuration
  fateops.federation.fate_files:
    files:
      - dest: /data/projects/fate/party-9999/home/conf/service_conf.yaml
        content: "{{ lookup('ansible.builtin.template', 'service_conf.yaml.j2') }}"
        mode: "0600"
      - dest: /data/projects/fate/party-9999/home/conf/casbin_model.conf
        src: /data/projects/fate/party-9999/venv/lib/python3.11/site-packages/fate_flow/conf/casbin_model.conf
        mode: "0640"
  no_log: true
"""

RETURN = r"""
changed_files:
  description: The files written or removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


def wanted_bytes(module: AnsibleModule, spec: dict) -> bytes:
    if (spec.get("content") is None) == (spec.get("src") is None):
        module.fail_json(msg=f"give {spec['dest']} either content or src, not both or neither")
    if spec.get("content") is not None:
        return spec["content"].encode("utf-8")
    try:
        with open(spec["src"], "rb") as handle:
            return handle.read()
    except OSError as exc:
        module.fail_json(msg=f"cannot read {spec['src']} for {spec['dest']}: {exc.strerror}; install the instance")
    raise AssertionError("unreachable")


def differs(path: str, data: bytes, mode: int) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != mode or info.st_size != len(data):
            return True
        with open(path, "rb") as handle:
            return handle.read() != data
    except FileNotFoundError:
        return True


def replace(module: AnsibleModule, path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path)
    try:
        handle, partial = tempfile.mkstemp(prefix=".fateops-", dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(partial, mode)
            os.replace(partial, path)
        except BaseException:
            os.unlink(partial)
            raise
    except OSError as exc:
        module.fail_json(msg=f"cannot write {path}: {exc.strerror}; check that {directory} exists and is writable")


def remove(module: AnsibleModule, path: str) -> bool:
    """Remove a file that is there (not in check mode); whether there was one."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        module.fail_json(msg=f"cannot look at {path}: {exc.strerror}")
    if stat.S_ISDIR(info.st_mode):
        module.fail_json(msg=f"{path} is a directory, not a file of the instance; move it away and run again")
    if not module.check_mode:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            module.fail_json(msg=f"cannot remove {path}: {exc.strerror}")
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "content": {"type": "str"},
                    "src": {"type": "path"},
                    "mode": {"type": "str", "required": True},
                },
            },
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    changed_files = []
    for spec in module.params["files"]:
        try:
            mode = int(spec["mode"], 8)
        except ValueError:
            module.fail_json(msg=f'mode {spec["mode"]!r} of {spec["dest"]} is not octal; write it as "0640"')
        if module.check_mode and spec.get("src") and not os.path.exists(spec["src"]):
            # In check mode on a new instance its source is not there yet; it would be copied.
            changed_files.append(spec["dest"])
            continue
        data = wanted_bytes(module, spec)
        if differs(spec["dest"], data, mode):
            changed_files.append(spec["dest"])
            if not module.check_mode:
                replace(module, spec["dest"], data, mode)
    for path in module.params["absent"]:
        if remove(module, path):
            changed_files.append(path)
    module.exit_json(changed=bool(changed_files), changed_files=changed_files)


if __name__ == "__main__":
    main()
