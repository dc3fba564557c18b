"""migrate and import: a trained model moved to new party ids, then made usable on the new federation.

Both take the seed's FATE 1.x config files unchanged (migrate_model.json, import_model.json). The archives stay on
the party hosts (each party's temp dir): migrate prints where, import reads them there.

A config is checked against the JSON Schema of the seed's fields (unknown keys refused) and handed to the playbook as
one variable (fate_migrate_request, fate_import_request): a key of the file can never set another variable of a
play, and, like every value the facade passes, its strings reach Ansible as data, never as templates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import MODEL_TASK
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import (
    IMPORT_CONFIG_SCHEMA,
    MIGRATE_CONFIG_SCHEMA,
    MigrationError,
    new_job_id,
    parse_import_config,
    parse_migrate_config,
)

from fateops.contracts import ImportedModel, ImportedPart, MigratedArchives, Migration, ModelPart, State
from fateops.deployment import deployed_flow
from fateops.errors import FateopsError, UsageError
from fateops.lifecycle import recorded_inventory
from fateops.runner import run_playbook
from fateops.workspace import Workspace

T = TypeVar("T")
# The algorithm a model's task name stands for (lr_0 -> hetero_lr).
TASK_ALGORITHM = {task: algorithm for algorithm, task in MODEL_TASK.items()}


def _schema_error(error: jsonschema.ValidationError) -> str:
    """One line in the user's terms: the field, its value and what it must be (the schema's description)."""
    where = ".".join(str(part) for part in error.absolute_path) or "the top level"
    wanted = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"{where} {error.instance!r} is not {wanted}" if wanted else f"{where}: {error.message}"


def read_config(
    path: str | None, kind: str, schema: dict[str, Any], parse: Callable[[Any], T]
) -> tuple[dict[str, Any], T]:
    """The seed's config file as given, and checked; any problem is a UsageError (nothing has run yet)."""
    if not path:
        raise UsageError(f"no config given; pass -conf {kind}.json (the seed's {kind}.json)")
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist; pass the path of your {kind}.json") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"config file {path} is not readable JSON ({exc}); fix it and run again") from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} must hold one JSON object (see the seed's {kind}.json)")
    try:
        # The parser names unknown keys and explains wrong values in FATE's terms; the schema then holds every
        # value to its type and characters.
        config = parse(data)
    except MigrationError as exc:
        raise UsageError(f"{kind}.json: {exc}") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        raise UsageError(f"{kind}.json: {_schema_error(error)}; fix it (see the seed's {kind}.json)")
    return data, config


def model_key(model_id: str, model_version: str) -> str:
    return f"{model_id}/{model_version}"


def migrate(workspace: Workspace, config_path: str | None) -> dict[str, Any]:
    data, config = read_config(config_path, "migrate_model", MIGRATE_CONFIG_SCHEMA, parse_migrate_config)
    job_id = new_job_id()
    with workspace.locked():
        state = workspace.load_state()
        # Every executing party must be deployed here before anything runs.
        for party in config.executing_parties():
            deployed_flow(state, party.party_id)
        result = run_playbook(
            workspace,
            "migrate.yml",
            recorded_inventory(workspace, state),
            "migrate",
            {"fate_migrate_request": data, "fate_migration_job_id": job_id},
        )
        if not result.ok:
            raise FateopsError(result.error)
        archives = MigratedArchives.from_run(result).archives
        if not archives:
            raise FateopsError("the migration wrote no archive; check that execute_party names deployed parties")
        new_model_id = config.new_model_id()
        new_version = config.unify_model_version or job_id
        detail: dict[str, dict[str, dict[str, Any]]] = {}
        for archive in archives:
            detail.setdefault(archive.role, {})[archive.party_id] = {"retcode": 0, "retmsg": archive.retmsg}
        source_job = next((job for job in state.jobs.values() if job.model_id == config.model_id), None)
        state.migrations[job_id] = Migration(
            new_model_id,
            new_version,
            source_job.algorithm if source_job else None,
            config.as_dict(),
            archives,
            migrated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        workspace.save_state(state)
    return {"retcode": 0, "retmsg": "success", "jobId": job_id, "data": {"detail": detail}}


def import_model(workspace: Workspace, config_path: str | None) -> dict[str, Any]:
    data, config = read_config(config_path, "import_model", IMPORT_CONFIG_SCHEMA, parse_import_config)
    with workspace.locked():
        state = workspace.load_state()
        flow = deployed_flow(state, config.party_id)
        result = run_playbook(
            workspace,
            "import_model.yml",
            recorded_inventory(workspace, state),
            "import",
            {"fate_import_request": data},
            limit=flow.ip,
        )
        if not result.ok:
            raise FateopsError(result.error)
        imported = ImportedPart.from_run(result)
        if imported is None:
            raise FateopsError(f"party {config.party_id} imported nothing; check that it is deployed")
        key = model_key(config.model_id, config.model_version)
        record = state.models.setdefault(key, ImportedModel(config.model_id, config.model_version))
        record.parties.setdefault(config.role, {})[config.party_id] = ModelPart(
            imported.archive, imported.tasks, imported.sha256, imported_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        workspace.save_state(state)
    return {
        "retcode": 0,
        "retmsg": "success",
        "data": {
            "role": config.role,
            "party_id": config.party_id,
            "model_id": config.model_id,
            "model_version": config.model_version,
            "sha256": imported.sha256,
        },
    }


def imported_model(state: State, model_id: str, model_version: str) -> dict[str, Any] | None:
    """What load_bind needs of an imported model: algorithm, task, guest, hosts and each part's archive."""
    record = state.models.get(model_key(model_id, model_version))
    if record is None:
        return None
    parties = record.parties
    guests = sorted(parties.get("guest", {}))
    if len(guests) != 1:
        raise UsageError(
            f"model {model_id} version {model_version} has no imported guest part; import the guest's archive first"
        )
    hosts = sorted(parties.get("host", {}))
    if not hosts:
        raise UsageError(
            f"model {model_id} version {model_version} has no imported host part; import every host's archive first"
        )
    tasks = {task for part in [*parties["guest"].values(), *parties["host"].values()] for task in part.tasks}
    servable = sorted(tasks & set(TASK_ALGORITHM))
    if len(servable) != 1:
        raise UsageError(
            f"model {model_id} version {model_version} holds tasks {sorted(tasks)}; "
            "only a model with one lr_0 or linr_0 task can be served"
        )
    return {
        "algorithm": TASK_ALGORITHM[servable[0]],
        "task_name": servable[0],
        "guest": guests[0],
        "hosts": hosts,
        "archives": {
            ("guest", guests[0]): parties["guest"][guests[0]].archive,
            **{("host", h): parties["host"][h].archive for h in hosts},
        },
    }
