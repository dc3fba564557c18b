#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Migrate a FATE 2.x model to new party ids, or import a migrated model, on a party's FATE-Flow."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_model
short_description: Migrate a FATE model to new party ids, or import one
description:
  - C(state=migrated) takes the seed's C(migrate_model.json) as I(config). For every executing party that this
    FATE-Flow plays (federated mode C(SINGLE) the initiator's old party, C(MULTIPLE) every C(execute_party)), it
    exports the party's part of the model from FATE-Flow, rewrites every role/party-id reference (archive paths,
    model metadata, the DAG's parties, a FATE 1.x style model id) and writes
    C(<role>#<new_party_id>#<new_model_id>_<version>.zip) in I(dest_dir). All parts are exported and rewritten
    before any archive is written, so a failure leaves nothing behind.
  - C(state=imported) takes the seed's C(import_model.json) fields. It checks the archive (readable, sha256 of every
    entry against the manifest written by migration, model and party as given) before anything is sent, imports it
    into FATE-Flow (which makes it usable by predict jobs through C(model_warehouse)) and keeps a copy in
    I(archive_dir) for online serving. Importing the same archive again changes nothing; another archive under the
    same model id and version needs I(force_update).
  - C(state=exported) exports one party's part (I(model_id), I(model_version), I(role), I(party_id)) unchanged,
    with the same manifest, as C(<role>#<party_id>#<model_id>_<model_version>.zip) in I(dest_dir) - the file to
    store, copy or import elsewhere under the same party ids.
  - C(state=stored) puts an archive (checked as for import) into the model registry I(store) under
    C(<model_id>/<model_version>/<role>/<party_id>) with its sha256, reads it back and compares before it reports
    success. The archive file is only read, so a failed store leaves it as it was.
  - C(state=restored) fetches an archive from I(store), checks its sha256 and manifest, and writes it to I(file)
    atomically; import it afterwards with C(state=imported).
  - The module runs on the FATE-Flow host: FATE-Flow writes exports to its own disk. The C(mysql) and C(s3)
    engines need PyMySQL and boto3, which the party's FATE runtime has: run those with its interpreter.
  - In check mode C(migrated) still asks FATE-Flow for the export (into a temporary directory that is removed) so
    an unknown model is reported; nothing is kept. C(imported) checks the archive and imports nothing.
version_added: "0.2.0"
author: fateops contributors
options:
  state:
    description: What to do.
    type: str
    choices: [migrated, imported, exported, stored, restored]
    default: migrated
  config:
    description:
      - C(state=migrated) only. The seed's migrate_model.json as a dict (job_parameters.federated_mode,
        migrate_initiator, role, migrate_role, execute_party, model_id, model_version, unify_model_version).
        An unknown key, at the top or nested, is an error.
    type: dict
  party_ids:
    description: C(state=migrated) only. The party ids this FATE-Flow plays; other executing parties are skipped.
    type: list
    elements: str
  job_id:
    description:
      - C(state=migrated) only. The migration's own job id; it becomes the new model version unless the config
        gives C(unify_model_version).
    type: str
  dest_dir:
    description: C(state=migrated) and C(exported). The directory for the archives (the party's temp dir).
    type: path
  file:
    description: C(state=imported) and C(stored) the archive on this host; C(state=restored) where to write it.
    type: path
  role:
    description: C(state=imported), C(stored), C(restored). The role of the party whose part the archive is.
    type: str
    choices: [guest, host, arbiter]
  party_id:
    description: C(state=imported), C(stored), C(restored). That party's (new) id.
    type: str
  model_id:
    description: C(state=imported), C(stored), C(restored). The model id (the one the migration printed).
    type: str
  model_version:
    description: C(state=imported), C(stored), C(restored). The model version.
    type: str
  store:
    description: C(state=stored) and C(restored). The model registry.
    type: dict
    suboptions:
      engine:
        description: C(file) (a directory, e.g. a mounted share), C(mysql) (MySQL or MariaDB), C(redis), C(s3)
          (any S3-compatible storage; Tencent COS speaks S3).
        type: str
        choices: [file, mysql, redis, s3]
        required: true
      path:
        description: file. The directory.
        type: path
      host:
        description: mysql, redis. Server address.
        type: str
      port:
        description: mysql (3306), redis (6379). Server port.
        type: int
      user:
        description: mysql. User name.
        type: str
      password:
        description: mysql, redis. Password; never logged.
        type: str
      database:
        description: mysql. Database; the table C(fateops_model_store) is created in it when missing.
        type: str
      db:
        description: redis. Database number.
        type: int
        default: 0
      key_prefix:
        description: redis (C(fateops:model:)), s3 (C(fateops/models/)). Prefix of the keys.
        type: str
      bucket:
        description: s3. Bucket.
        type: str
      endpoint_url:
        description: s3. Endpoint of an S3-compatible service (e.g. C(https://cos.ap-guangzhou.myqcloud.com)).
        type: str
      region:
        description: s3. Region.
        type: str
      access_key:
        description: s3. Access key id; never logged.
        type: str
      secret_key:
        description: s3. Secret key; never logged.
        type: str
  archive_dir:
    description: C(state=imported) only. Where the imported archive is kept for online serving.
    type: path
  force_update:
    description: C(state=imported) only. Replace a model already imported under this id, version, role and party.
    type: bool
    default: false
extends_documentation_fragment:
  - fateops.federation.fate_flow
"""

EXAMPLES = r"""
- name: Migrate guest 9999 / host 10000 to 99 / 100 (the seed's migrate_model.json)
  fateops.federation.fate_model:
    state: migrated
    config: "{{ lookup('ansible.builtin.file', 'migrate_model.json') | from_json }}"
    party_ids: ["9999", "10000"]
    job_id: "202611220700001234567"
    dest_dir: /data/projects/fate/temp/models
    fate_flow_port: 9380

- name: Import the guest's migrated part on the new cluster
  fateops.federation.fate_model:
    state: imported
    role: guest
    party_id: "99"
    model_id: "202611220632017786920"
    model_version: "202611220700001234567"
    file: "/data/projects/fate/temp/models/guest#99#202611220632017786920_202611220700001234567.zip"
    archive_dir: /data/projects/fate/standalone/home/fateops/models

- name: Keep the guest's part in MariaDB
  fateops.federation.fate_model:
    state: stored
    role: guest
    party_id: "99"
    model_id: "202611220632017786920"
    model_version: "202611220700001234567"
    file: "/data/projects/fate/temp/models/guest#99#202611220632017786920_202611220700001234567.zip"
    store:
      engine: mysql
      host: 10.0.0.5
      user: fate
      password: "{{ vault_model_store_password }}"
      database: models
  vars:
    ansible_python_interpreter: /data/projects/fate/standalone/venv/bin/python
"""

RETURN = r"""
model_id:
  description: The (new) model id.
  returned: success
  type: str
model_version:
  description: The (new) model version.
  returned: success
  type: str
archives:
  description: C(state=migrated). One entry per migrated party part.
  returned: success
  type: list
  elements: dict
  sample:
    - {role: guest, party_id: "9999", new_party_id: "99", path: "/data/projects/fate/temp/models/guest#99#m_v.zip",
       sha256: "d27282...", tasks: [lr_0]}
detail:
  description: "C(state=migrated). The seed's result detail: {role: {old party id: {retcode, retmsg}}}."
  returned: success
  type: dict
archive:
  description: C(state=imported). Where the imported archive is kept on this host.
  returned: success
  type: str
key:
  description: C(state=stored) and C(restored). The archive's key in the store.
  returned: success
  type: str
sha256:
  description: C(state=imported), C(stored), C(restored). The sha256 of the archive.
  returned: success
  type: str
tasks:
  description: C(state=imported). The task names whose models the archive holds (e.g. lr_0).
  returned: success
  type: list
  elements: str
"""

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils import fate_ids
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import (
    ArchiveIdentity,
    MigrationConfig,
    MigrationError,
    archive_name,
    parse_migrate_config,
    rewrite_archive,
    sha256_file,
    verify_archive,
)
from ansible_collections.fateops.federation.plugins.module_utils.model_store import (
    StoreError,
    open_store,
    restore_archive,
    store_archive,
    store_key,
)


def migrated_message(model_id: str, model_version: str, path: str) -> str:
    return (
        "Migrating model successfully. Role and party ids were rewritten for the new federation. "
        f"New model id is: {model_id}, model version is: {model_version}. Model files can be found at '{path}'."
    )


def migrate(module: AnsibleModule, client: FateFlowClient, config: MigrationConfig) -> dict[str, Any]:
    params = module.params
    local = {str(pid) for pid in params["party_ids"] or []}
    parties = [party for party in config.executing_parties() if str(party.party_id) in local]
    new_model_id = config.new_model_id()
    new_version = config.unify_model_version or params["job_id"]
    if not new_version:
        raise MigrationError("no job_id given and the config has no unify_model_version; pass job_id")
    new_version = fate_ids.model_name(new_version, "job_id")
    dest_dir = Path(params["dest_dir"])
    party_map = config.party_map()
    archives: list[dict[str, Any]] = []
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Everything is exported and rewritten in a scratch directory first; archives move into place at the end.
    with tempfile.TemporaryDirectory(prefix=".migrate-", dir=dest_dir) as scratch:
        for party in parties:
            exported = ArchiveIdentity(config.model_id, config.model_version, party.role, str(party.party_id))
            export_dir = Path(scratch) / f"{party.role}_{party.party_id}"
            source = client.export_model_archive(
                config.model_id, config.model_version, party.role, party.party_id, export_dir
            )
            new_party_id = party_map[party.role][str(party.party_id)]
            name = archive_name(party.role, new_party_id, new_model_id, new_version)
            identity, digest, tasks = rewrite_archive(
                source, Path(scratch) / name, exported, party_map, new_model_id, new_version
            )
            archives.append(
                {
                    "role": party.role,
                    "party_id": str(party.party_id),
                    "new_party_id": identity.party_id,
                    "path": str(dest_dir / name),
                    "sha256": digest,
                    "tasks": tasks,
                    "scratch": str(Path(scratch) / name),
                }
            )
        changed = False
        for archive in archives:
            scratch_path = Path(archive.pop("scratch"))
            target = Path(archive["path"])
            if target.is_file() and sha256_file(target) == archive["sha256"]:
                continue
            changed = True
            if not module.check_mode:
                scratch_path.replace(target)
    detail: dict[str, dict[str, dict[str, Any]]] = {}
    for archive in archives:
        archive["retmsg"] = migrated_message(new_model_id, new_version, archive["path"])
        detail.setdefault(archive["role"], {})[archive["party_id"]] = {"retcode": 0, "retmsg": archive["retmsg"]}
    return {
        "changed": changed,
        "model_id": new_model_id,
        "model_version": new_version,
        "archives": archives,
        "detail": detail,
    }


def import_archive(module: AnsibleModule, client: FateFlowClient) -> dict[str, Any]:
    params = module.params
    identity = _identity(params)
    source = Path(params["file"])
    manifest = verify_archive(source, identity)
    digest = sha256_file(source)
    kept = Path(params["archive_dir"]) / archive_name(
        identity.role, identity.party_id, identity.model_id, identity.model_version
    )
    tasks = sorted({name.split("/")[4] for name in manifest["entries"]})
    result = {
        "model_id": identity.model_id,
        "model_version": identity.model_version,
        "role": identity.role,
        "party_id": identity.party_id,
        "archive": str(kept),
        "sha256": digest,
        "tasks": tasks,
    }
    if kept.is_file():
        if sha256_file(kept) == digest and not params["force_update"]:
            return {"changed": False, **result}
        if not params["force_update"]:
            raise MigrationError(
                f"{identity.role} {identity.party_id} already has model {identity.model_id} version "
                f"{identity.model_version} from another archive; set force_update to replace it"
            )
    if module.check_mode:
        return {"changed": True, **result}
    if kept.is_file():
        client.delete_model(identity.model_id, identity.model_version, role=identity.role, party_id=identity.party_id)
    client.import_model(identity.model_id, identity.model_version, source)
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_name(kept.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(kept)
    return {"changed": True, **result}


def _identity(params: dict[str, Any]) -> ArchiveIdentity:
    # These name files and store keys on this host: refuse anything but FATE's ids, whatever the caller checked.
    return ArchiveIdentity(
        fate_ids.model_name(params["model_id"], "model_id"),
        fate_ids.model_name(params["model_version"], "model_version"),
        params["role"],
        str(fate_ids.party_id(params["party_id"], "party_id")),
    )


def export_part(module: AnsibleModule, client: FateFlowClient) -> dict[str, Any]:
    params = module.params
    identity = _identity(params)
    dest_dir = Path(params["dest_dir"])
    target = dest_dir / archive_name(identity.role, identity.party_id, identity.model_id, identity.model_version)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=dest_dir) as scratch:
        source = client.export_model_archive(
            identity.model_id, identity.model_version, identity.role, identity.party_id, Path(scratch) / "fate"
        )
        same_ids = {identity.role: {identity.party_id: identity.party_id}}
        _, digest, tasks = rewrite_archive(
            source, Path(scratch) / target.name, identity, same_ids, identity.model_id, identity.model_version
        )
        changed = not (target.is_file() and sha256_file(target) == digest)
        if changed and not module.check_mode:
            (Path(scratch) / target.name).replace(target)
    return {"changed": changed, "file": str(target), "sha256": digest, "tasks": tasks}


def store_part(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    identity = _identity(params)
    source = Path(params["file"])
    verify_archive(source, identity)
    store = open_store(params["store"]["engine"], params["store"])
    key = store_key(identity.model_id, identity.model_version, identity.role, identity.party_id)
    digest = sha256_file(source)
    result = {"key": key, "sha256": digest, "engine": params["store"]["engine"]}
    held = store.get(key)
    if held is not None and held.sha256 == digest:
        return {"changed": False, **result}
    if not module.check_mode:
        store_archive(store, key, source)
    return {"changed": True, **result}


def restore_part(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    identity = _identity(params)
    target = Path(params["file"])
    store = open_store(params["store"]["engine"], params["store"])
    key = store_key(identity.model_id, identity.model_version, identity.role, identity.party_id)
    held = store.get(key)
    if held is None:
        raise StoreError(f"the store holds no archive {key}; store it first or check model id, version and party")
    result = {"key": key, "sha256": held.sha256, "file": str(target), "engine": params["store"]["engine"]}
    if target.is_file() and sha256_file(target) == held.sha256:
        return {"changed": False, **result}
    if module.check_mode:
        return {"changed": True, **result}
    with tempfile.TemporaryDirectory(
        prefix=".restore-", dir=target.parent if target.parent.is_dir() else None
    ) as scratch:
        fetched = Path(scratch) / target.name
        restore_archive(store, key, fetched)
        verify_archive(fetched, identity)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(fetched), str(target))
    return {"changed": True, **result}


def main() -> None:
    argument_spec: dict[str, Any] = {
        "state": {
            "type": "str",
            "choices": ["migrated", "imported", "exported", "stored", "restored"],
            "default": "migrated",
        },
        "config": {"type": "dict"},
        "party_ids": {"type": "list", "elements": "str"},
        "job_id": {"type": "str"},
        "dest_dir": {"type": "path"},
        "file": {"type": "path"},
        "role": {"type": "str", "choices": ["guest", "host", "arbiter"]},
        "party_id": {"type": "str"},
        "model_id": {"type": "str"},
        "model_version": {"type": "str"},
        "archive_dir": {"type": "path"},
        "force_update": {"type": "bool", "default": False},
        "store": {
            "type": "dict",
            "options": {
                "engine": {"type": "str", "choices": ["file", "mysql", "redis", "s3"], "required": True},
                "path": {"type": "path"},
                "host": {"type": "str"},
                "port": {"type": "int"},
                "user": {"type": "str"},
                "password": {"type": "str", "no_log": True},
                "database": {"type": "str"},
                "db": {"type": "int", "default": 0},
                "key_prefix": {"type": "str", "no_log": False},
                "bucket": {"type": "str"},
                "endpoint_url": {"type": "str"},
                "region": {"type": "str"},
                "access_key": {"type": "str", "no_log": True},
                "secret_key": {"type": "str", "no_log": True},
            },
        },
    }
    argument_spec.update(client_argument_spec())
    part = ("file", "role", "party_id", "model_id", "model_version")
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[
            ("state", "migrated", ("config", "party_ids", "dest_dir")),
            ("state", "imported", (*part, "archive_dir")),
            ("state", "exported", ("role", "party_id", "model_id", "model_version", "dest_dir")),
            ("state", "stored", (*part, "store")),
            ("state", "restored", (*part, "store")),
        ],
        supports_check_mode=True,
    )
    client = client_from_params(module.params)
    try:
        state = module.params["state"]
        if state == "migrated":
            result = migrate(module, client, parse_migrate_config(module.params["config"]))
        elif state == "imported":
            result = import_archive(module, client)
        elif state == "exported":
            result = export_part(module, client)
        elif state == "stored":
            result = store_part(module)
        else:
            result = restore_part(module)
    except (MigrationError, StoreError, fate_ids.IdError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    except FateFlowError as exc:
        module.fail_json(msg=str(exc), changed=False, **exc.as_dict())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
