#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Turn a CSV file on a party host into a FATE table through that party's FATE-Flow."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_data
short_description: Upload a CSV file that is on the party host into a FATE table
description:
  - Reads the header of a CSV file on the managed host, infers FATE's meta (id column, label column,
    label type), checks every line, and uploads it into the FATE table I(namespace)/I(name) through the
    party's own FATE-Flow (C(POST /v2/data/component/upload)).
  - Waits until the upload job succeeded and the table answers C(GET /v2/table/query).
  - Idempotent. FATE's table meta cannot carry a checksum, so the file's SHA-256 and the meta it was
    uploaded with are recorded in a small JSON file under I(state_dir). The same content and meta
    already in the same table gives C(changed=false); anything else drops the old table and uploads
    again.
  - In check mode the file is still read and checked, FATE-Flow is only queried, and the module reports
    what it would do.
  - With I(uploads), several files (a host's guest and host parties, say) are handled in one call, side by side;
    FATE runs each upload as a job of its own. Each gets the options of the call with its own file, table, role,
    records directory and FATE-Flow port. The call fails when any of them fails, after all of them ended, and
    names each failure.
version_added: "0.1.0"
author: fateops contributors
options:
  path:
    description: The CSV file on the managed host. Exactly one of I(path) and I(uploads).
    type: path
  uploads:
    description:
      - Several files, each into its table, in one call (instead of I(path), I(server_path), I(namespace),
        I(name), I(role), I(state_dir) and I(fate_flow_port)).
    type: list
    elements: dict
    suboptions:
      path:
        description: The CSV file on the managed host.
        type: path
        required: true
      server_path:
        description: The same file as FATE-Flow sees it, when that differs from I(path).
        type: str
      namespace:
        description: FATE table namespace.
        type: str
        required: true
      name:
        description: FATE table name.
        type: str
        required: true
      role:
        description: The role this file feeds.
        type: str
        choices: [guest, host]
        required: true
      state_dir:
        description: Where this table's upload record is kept.
        type: path
        required: true
      fate_flow_port:
        description: The port of this table's FATE-Flow; defaults to the call's I(fate_flow_port).
        type: int
      party_id:
        description: The party the file belongs to; only returned with its result.
        type: int
  server_path:
    description:
      - The same file as FATE-Flow sees it, when that differs from I(path) (FATE-Flow in a container
        with the data directory mounted elsewhere).
      - Defaults to I(path).
    type: str
  namespace:
    description: FATE table namespace (the project).
    type: str
  name:
    description: FATE table name.
    type: str
  role:
    description:
      - The role this file feeds. On C(guest) a column named C(y) or C(label) becomes the label unless
        I(label_name) says otherwise; a C(host) file has no label unless I(label_name) names one.
    type: str
    choices: [guest, host]
  state:
    description:
      - C(present) uploads the file (when needed); C(absent) drops the table and its record.
    type: str
    choices: [present, absent]
    default: present
  id_name:
    description: The column that identifies a row (FATE's match id). Defaults to the first column.
    type: str
  label_name:
    description:
      - The label column. Unset means C(y) or C(label) on a guest, none on a host.
      - An empty string forces no label.
    type: str
  label_type:
    description:
      - Type of the label. Unset means inferred from the file, C(int64) when every label is written
        as an integer (C(1), not C(1.0), because FATE parses integer labels with C(int())), otherwise
        C(float64).
    type: str
    choices: [int32, int64, float32, float64]
  require_label:
    description: Fail when the file ends up without a label (a guest file for a supervised algorithm).
    type: bool
    default: false
  dtype:
    description: Type FATE stores the feature columns as.
    type: str
    choices: [float32, float64]
    default: float64
  delimiter:
    description: Field delimiter of the file.
    type: str
    default: ","
  partitions:
    description: Number of partitions of the FATE table.
    type: int
    default: 4
  extend_sid:
    description: Let FATE add its own sample id column (what FATE's examples do).
    type: bool
    default: true
  state_dir:
    description:
      - Directory on the managed host where the upload records are kept (one JSON per table),
        normally next to FATE-Flow's own data. Created when missing.
      - Required with I(path), as are I(namespace), I(name) and I(role).
    type: path
  wait_timeout:
    description: Seconds to wait for the upload job and the table.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two checks while waiting.
    type: float
    default: 2
extends_documentation_fragment:
  - fateops.federation.fate_flow
  - fateops.federation.attributes
notes:
  - FATE-Flow reads the file itself, so it must run on the managed host (or see the file at I(server_path)).
  - FATE splits lines on I(delimiter) without CSV quoting; so does this module's check.
"""

EXAMPLES = r"""
- name: Upload the guest's training data
  fateops.federation.fate_data:
    path: /data/projects/fate/input/guest.csv
    namespace: test
    name: guest_9999
    role: guest
    require_label: true
    state_dir: /data/projects/fate/fateops/tables

- name: Upload a host file whose id column is not the first one
  fateops.federation.fate_data:
    path: /data/host.csv
    namespace: test
    name: host_10000
    role: host
    id_name: uid
    state_dir: /data/projects/fate/fateops/tables
    fate_flow_port: 9380

- name: Upload a guest's and a host's file side by side, each through its party's FATE-Flow
  fateops.federation.fate_data:
    uploads:
      - path: /data/guest.csv
        namespace: test
        name: guest_9999
        role: guest
        state_dir: /data/projects/fate/party-9999/fateops/tables
        fate_flow_port: 9380
      - path: /data/host.csv
        namespace: test
        name: host_10000
        role: host
        state_dir: /data/projects/fate/party-10000/fateops/tables
        fate_flow_port: 9381

- name: Drop a table
  fateops.federation.fate_data:
    path: /data/host.csv
    namespace: test
    name: host_10000
    role: host
    state: absent
    state_dir: /data/projects/fate/fateops/tables
"""

RETURN = r"""
action:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: str
  choices: [none, upload, replace, delete]
namespace:
  description: Table namespace.
  returned: always
  type: str
name:
  description: Table name.
  returned: always
  type: str
sha256:
  description: SHA-256 of the file.
  returned: when state is present
  type: str
header:
  description: Column names of the file.
  returned: when state is present
  type: list
  elements: str
rows:
  description: Data lines in the file (header excluded).
  returned: when state is present
  type: int
id_name:
  description: The id (match id) column.
  returned: when state is present
  type: str
label_name:
  description: The label column, or null.
  returned: when state is present
  type: str
label_type:
  description: The label's type, or null.
  returned: when state is present
  type: str
meta:
  description: The meta sent to FATE-Flow.
  returned: when state is present
  type: dict
  sample: {"delimiter": ",", "match_id_name": "id", "dtype": "float64", "label_name": "y", "label_type": "int64"}
job_id:
  description: FATE-Flow's upload job id (of this run, or of the upload recorded earlier).
  returned: when state is present and the table is known
  type: str
count:
  description: Rows in the FATE table, as FATE-Flow reports them.
  returned: when the table exists (not in check mode before an upload)
  type: int
results:
  description:
    - With I(uploads), one result per file in their order, each with the keys above and C(upload) (the entry of
      I(uploads) it answers); a failed one has C(failed) and C(msg).
  returned: when uploads is given
  type: list
  elements: dict
state_file:
  description: The JSON file that records this table's upload.
  returned: when path is given
  type: str
"""

import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import wait_for_table

LABEL_CANDIDATES = ("y", "label")


class CsvProblem(Exception):
    """The file cannot become a FATE table; the message names the problem and the fix."""


@dataclass
class CsvFacts:
    header: list[str]
    rows: int
    sha256: str
    id_name: str
    label_name: str | None
    label_type: str | None


@dataclass
class UploadRecord:
    """What was uploaded into one table; kept as JSON under state_dir."""

    namespace: str
    name: str
    sha256: str
    meta: dict[str, Any]
    partitions: int
    extend_sid: bool
    job_id: str
    rows: int
    count: int | None
    path: str
    uploaded_at: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat())

    def same_upload(self, other: UploadRecord) -> bool:
        return (self.sha256, self.meta, self.partitions, self.extend_sid) == (
            other.sha256,
            other.meta,
            other.partitions,
            other.extend_sid,
        )


# Uploads of one call that run at the same time (each is a FATE job, mostly spent in FATE's processes).
MAX_PARALLEL_UPLOADS = 8


def _lines(handle: Any, digest: Any) -> Iterator[bytes]:
    for raw in handle:
        digest.update(raw)
        yield raw


def _pick_label(header: list[str], role: str, label_name: str | None) -> str | None:
    if label_name == "":
        return None
    if label_name is not None:
        if label_name not in header:
            raise CsvProblem(
                f"label column '{label_name}' is not in the header ({', '.join(header)}): fix label_name or the file"
            )
        return label_name
    if role != "guest":
        return None
    for column in header:
        if column.lower() in LABEL_CANDIDATES:
            return column
    return None


def inspect_csv(
    path: Path,
    *,
    role: str,
    delimiter: str = ",",
    id_name: str | None = None,
    label_name: str | None = None,
    label_type: str | None = None,
) -> CsvFacts:
    """Read the whole file once: checksum, header, id/label columns, and every line's shape."""
    if not path.exists():
        raise CsvProblem(f"CSV file {path} does not exist on this host: copy it there or fix the path")
    if not path.is_file():
        raise CsvProblem(f"{path} is not a regular file: give the path of the CSV file itself")
    digest = hashlib.sha256()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CsvProblem(f"cannot read {path}: {exc.strerror}; fix its permissions") from exc
    with handle:
        lines = _lines(handle, digest)
        first = next(lines, b"")
        try:
            header_line = first.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise CsvProblem(f"{path} is not UTF-8 text: save it as UTF-8 CSV") from exc
        if not header_line.strip():
            raise CsvProblem(f"{path} is empty or starts with a blank line: it needs a header line of column names")
        header = [column.strip() for column in header_line.split(delimiter)]
        if any(not column for column in header):
            raise CsvProblem(f"{path} has an empty column name in its header: name every column")
        if _all_numbers(header):
            raise CsvProblem(
                f"{path} has no header: its first line ({header_line[:60]}) is data; add a line of column names"
            )
        duplicates = sorted({c for c in header if header.count(c) > 1})
        if duplicates:
            raise CsvProblem(f"{path} repeats column(s) {', '.join(duplicates)} in its header: rename them")
        chosen_id = id_name or header[0]
        if chosen_id not in header:
            raise CsvProblem(
                f"{path} has no id column '{chosen_id}' (header: {', '.join(header)}): fix id_name or the file"
            )
        chosen_label = _pick_label(header, role, label_name)
        if chosen_label == chosen_id:
            raise CsvProblem(f"column '{chosen_id}' cannot be both the id and the label: fix id_name or label_name")
        if len(header) - 1 - (chosen_label is not None) < 1:
            raise CsvProblem(f"{path} has no feature column besides id and label: add the features")

        id_index = header.index(chosen_id)
        label_index = header.index(chosen_label) if chosen_label is not None else None
        seen_ids: set[str] = set()
        all_integer_labels = True
        rows = 0
        for number, raw in enumerate(lines, start=2):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise CsvProblem(f"{path} line {number} is not UTF-8 text: save the file as UTF-8") from exc
            if not line.strip():
                continue
            values = line.split(delimiter)
            if len(values) != len(header):
                raise CsvProblem(
                    f"{path} line {number} has {len(values)} fields, the header has {len(header)}: fix that line"
                )
            identifier = values[id_index].strip()
            if not identifier:
                raise CsvProblem(f"{path} line {number} has an empty id ('{chosen_id}'): every row needs an id")
            if identifier in seen_ids:
                raise CsvProblem(f"{path} line {number} repeats id {identifier}: ids must be unique")
            seen_ids.add(identifier)
            if label_index is not None:
                all_integer_labels = _check_label(path, number, chosen_label, values[label_index], all_integer_labels)
            rows += 1
    if rows == 0:
        raise CsvProblem(f"{path} has a header but no data lines: add the data")
    inferred_type = None
    if chosen_label is not None:
        inferred_type = label_type or ("int64" if all_integer_labels else "float64")
    return CsvFacts(
        header=header,
        rows=rows,
        sha256=digest.hexdigest(),
        id_name=chosen_id,
        label_name=chosen_label,
        label_type=inferred_type,
    )


def _all_numbers(values: list[str]) -> bool:
    try:
        for value in values:
            float(value)
    except ValueError:
        return False
    return True


def _check_label(path: Path, number: int, label: str | None, value: str, all_integer: bool) -> bool:
    """Whether the labels so far are all integers written as integers.

    FATE parses an integer label type with int() on the text, so "151.0" must make the type a float one.
    """
    text = value.strip()
    try:
        float(text)
    except ValueError:
        raise CsvProblem(
            f"{path} line {number} has a non-numeric label '{text}' in column '{label}': labels must be numbers"
        ) from None
    if not all_integer:
        return False
    try:
        int(text)
    except ValueError:
        return False
    return True


def build_meta(facts: CsvFacts, delimiter: str, dtype: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"delimiter": delimiter, "match_id_name": facts.id_name, "dtype": dtype}
    if facts.label_name is not None:
        meta["label_name"] = facts.label_name
        meta["label_type"] = facts.label_type
    return meta


def state_file(state_dir: str, namespace: str, name: str) -> Path:
    # Quoting keeps any namespace/name a single safe path component.
    return Path(state_dir) / quote(namespace, safe="") / f"{quote(name, safe='')}.json"


def read_record(path: Path) -> UploadRecord | None:
    try:
        return UploadRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        # A missing or unreadable record only costs a re-upload.
        return None


def write_record(path: Path, record: UploadRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(asdict(record), handle, indent=2, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _table_made_by(table: dict[str, Any], job_id: str) -> bool:
    """Whether the table FATE holds is the one our recorded upload job made (not replaced behind our back)."""
    source = table.get("source") or {}
    task_id = str(source.get("task_id") or source.get("party_task_id") or "")
    return bool(job_id) and task_id.startswith(job_id)


def run_absent(module: AnsibleModule, client: FateFlowClient, record_path: Path) -> None:
    params = module.params
    table = client.query_table(params["namespace"], params["name"])
    changed = table is not None or record_path.exists()
    result = {
        "changed": changed,
        "action": "delete" if changed else "none",
        "namespace": params["namespace"],
        "name": params["name"],
        "state_file": str(record_path),
    }
    if changed and not module.check_mode:
        record_path.unlink(missing_ok=True)
        if table is not None:
            client.delete_table(params["namespace"], params["name"])
    module.exit_json(**result)


def run_present(module: AnsibleModule, client: FateFlowClient, record_path: Path) -> None:
    params = module.params
    path = Path(params["path"])
    facts = inspect_csv(
        path,
        role=params["role"],
        delimiter=params["delimiter"],
        id_name=params["id_name"],
        label_name=params["label_name"],
        label_type=params["label_type"],
    )
    if params["require_label"] and facts.label_name is None:
        candidates = " or ".join(LABEL_CANDIDATES)
        raise CsvProblem(
            f"{path} has no label column ({candidates}) but a label is required: "
            "add the label column or name it with label_name"
        )
    namespace, name = params["namespace"], params["name"]
    meta = build_meta(facts, params["delimiter"], params["dtype"])
    wanted = UploadRecord(
        namespace=namespace,
        name=name,
        sha256=facts.sha256,
        meta=meta,
        partitions=params["partitions"],
        extend_sid=params["extend_sid"],
        job_id="",
        rows=facts.rows,
        count=None,
        path=str(path),
    )
    result: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "sha256": facts.sha256,
        "header": facts.header,
        "rows": facts.rows,
        "id_name": facts.id_name,
        "label_name": facts.label_name,
        "label_type": facts.label_type,
        "meta": meta,
        "state_file": str(record_path),
    }

    table = client.query_table(namespace, name)
    recorded = read_record(record_path)
    up_to_date = (
        table is not None
        and recorded is not None
        and recorded.same_upload(wanted)
        and _table_made_by(table, recorded.job_id)
    )
    if up_to_date:
        module.exit_json(changed=False, action="none", job_id=recorded.job_id, count=table.get("count"), **result)

    action = "replace" if table is not None else "upload"
    if module.check_mode:
        module.exit_json(changed=True, action=action, **result)

    # The record goes first: a failure between drop and upload must not leave a record of a gone table.
    record_path.unlink(missing_ok=True)
    job_id = None
    try:
        if table is not None:
            client.delete_table(namespace, name)
        job_id = client.upload(
            params["server_path"] or str(path),
            namespace,
            name,
            meta,
            partitions=params["partitions"],
            head=True,
            extend_sid=params["extend_sid"],
        )
        table = wait_for_table(
            client,
            namespace,
            name,
            upload_job_id=job_id,
            timeout=params["wait_timeout"],
            poll_interval=params["poll_interval"],
        )
    except FateFlowError as exc:
        hint = ""
        if job_id is not None and ("No such file" in exc.message or "Permission denied" in exc.message):
            hint = " (FATE-Flow reads the file itself: give it access, or set server_path to where it sees the file)"
        module.fail_json(
            msg=f"upload of {path} into {namespace}.{name} failed: {exc}{hint}",
            job_id=job_id,
            action=action,
            # A dropped table or an upload job is a change even when the upload then fails.
            changed=table is not None or job_id is not None,
            **exc.as_dict(),
            **result,
        )
    count = table.get("count")
    wanted.job_id, wanted.count = job_id, count
    write_record(record_path, wanted)
    if count is not None and count != facts.rows:
        module.warn(f"FATE-Flow counts {count} rows in {namespace}.{name}, the file has {facts.rows}")
    module.exit_json(changed=True, action=action, job_id=job_id, count=count, **result)


class _Ended(Exception):
    """What run_present or run_absent gave as the module's answer for one table of uploads."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


class _OneUpload:
    """The part of AnsibleModule that run_present and run_absent use, for one table of uploads: its answer is
    kept instead of ending the process, so that the other tables go on."""

    def __init__(self, module: AnsibleModule, params: dict[str, Any]) -> None:
        self.params = params
        self.check_mode = module.check_mode
        self.warnings: list[str] = []

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def exit_json(self, **result: Any) -> None:
        raise _Ended(result)

    def fail_json(self, msg: str, **result: Any) -> None:
        raise _Ended({**result, "failed": True, "msg": msg})


def run_table(module: Any, params: dict[str, Any]) -> None:
    """Upload or drop one table; ends through module.exit_json or module.fail_json."""
    record_path = state_file(params["state_dir"], params["namespace"], params["name"])
    client = client_from_params(params)
    try:
        if params["state"] == "absent":
            run_absent(module, client, record_path)
        else:
            run_present(module, client, record_path)
    except CsvProblem as exc:
        module.fail_json(msg=str(exc), changed=False, path=params["path"])
    except FateFlowError as exc:
        module.fail_json(msg=str(exc), changed=False, **exc.as_dict())


def run_uploads(module: AnsibleModule) -> None:
    """Every table of uploads side by side (FATE-Flow runs each upload as a job of its own)."""
    items = module.params["uploads"]

    def one(item: dict[str, Any]) -> dict[str, Any]:
        params = {**module.params, **{k: v for k, v in item.items() if v is not None or k == "server_path"}}
        params["uploads"] = None
        single = _OneUpload(module, params)
        try:
            run_table(single, params)
        except _Ended as ended:
            result = ended.result
        except Exception as exc:  # a fault of this table must not leave the others unreported
            result = {"failed": True, "changed": False, "msg": f"{item['path']}: {type(exc).__name__}: {exc}"}
        else:
            raise AssertionError("run_table ended without an answer")
        for warning in single.warnings:
            module.warn(warning)
        return {**result, "upload": item}

    with ThreadPoolExecutor(max_workers=max(1, min(len(items), MAX_PARALLEL_UPLOADS))) as pool:
        results = list(pool.map(one, items))
    changed = any(result.get("changed") for result in results)
    failed = [result["msg"] for result in results if result.get("failed")]
    if failed:
        module.fail_json(msg="; ".join(failed), changed=changed, results=results)
    module.exit_json(changed=changed, results=results)


def main() -> None:
    argument_spec: dict[str, Any] = {
        "path": {"type": "path"},
        "uploads": {
            "type": "list",
            "elements": "dict",
            "options": {
                "path": {"type": "path", "required": True},
                "server_path": {"type": "str"},
                "namespace": {"type": "str", "required": True},
                "name": {"type": "str", "required": True},
                "role": {"type": "str", "required": True, "choices": ["guest", "host"]},
                "state_dir": {"type": "path", "required": True},
                "fate_flow_port": {"type": "int"},
                "party_id": {"type": "int"},
            },
        },
        "server_path": {"type": "str"},
        "namespace": {"type": "str"},
        "name": {"type": "str"},
        "role": {"type": "str", "choices": ["guest", "host"]},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "id_name": {"type": "str"},
        "label_name": {"type": "str"},
        "label_type": {"type": "str", "choices": ["int32", "int64", "float32", "float64"]},
        "require_label": {"type": "bool", "default": False},
        "dtype": {"type": "str", "default": "float64", "choices": ["float32", "float64"]},
        "delimiter": {"type": "str", "default": ","},
        "partitions": {"type": "int", "default": 4},
        "extend_sid": {"type": "bool", "default": True},
        "state_dir": {"type": "path"},
        "wait_timeout": {"type": "int", "default": 600},
        "poll_interval": {"type": "float", "default": 2.0},
    }
    argument_spec.update(client_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_together=[("app_id", "app_token")],
        required_one_of=[("path", "uploads")],
        mutually_exclusive=[("path", "uploads")],
        required_by={"path": ("namespace", "name", "role", "state_dir")},
    )
    params = module.params
    if params["partitions"] < 1:
        module.fail_json(msg=f"partitions must be at least 1, got {params['partitions']}")
    if not params["delimiter"]:
        module.fail_json(msg="delimiter must not be empty")
    if params["uploads"] is not None:
        run_uploads(module)
    run_table(module, params)


if __name__ == "__main__":
    main()
