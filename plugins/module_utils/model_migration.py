# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Model migration: the seed's migrate_model.json / import_model.json, and rewriting an exported FATE 2.x model.

FATE-Flow 2.x exports one party's part of a model as a zip whose entries are
``<model_id>/<model_version>/<role>/<party_id>/<task_name>/<output_key>``; each entry is a tar holding the
component's model (JSON) and its metadata (YAML), both of which name the job's parties. Migration rewrites every
role/party-id reference for the new federation and records a manifest (sha256 of every entry, old and new ids) in
the zip's comment, which FATE-Flow ignores and import checks, so a tampered archive is refused.

Standard library only: it runs inside modules on party hosts.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils import fate_ids

FEDERATED_MODES = ("SINGLE", "MULTIPLE")
ROLES = ("guest", "host", "arbiter")
MANIFEST_FORMAT = "fateops-model-archive/1"
# A FATE 1.x style model id: role-ids groups joined by '#', ending in '#model' (ids of one role joined by '_').
_LEGACY_MODEL_ID = re.compile(r"^(?:(?:guest|host|arbiter|local)-\d+(?:_\d+)*#)+model$")
# Keys under which FATE's model metadata and DAGs name party ids.
_PARTY_ID_KEYS = frozenset({"party_id", "party_ids", "partyid", "partyId"})


class MigrationError(ValueError):
    """Bad migration or import input; the message names the problem and the fix."""


# The seed's config files as JSON Schemas: the one description of their fields. The controller validates a config
# against the whole schema (jsonschema); modules on party hosts have the standard library only and check its keys
# (unknown_keys), so a misspelt or foreign key is refused either way and never reaches a play as a variable.
_PARTY_ID_SCHEMA: dict[str, Any] = {
    "description": "a positive integer party id",
    "type": ["integer", "string"],
    "pattern": "^[0-9]+$",
    "minimum": 1,
}
# FATE's id characters (FATE 1.x ids such as arbiter-10000#guest-9999#host-10000#model, 2.x job ids); they name
# files, so neither a path separator nor a leading '.' is allowed.
_MODEL_ID_SCHEMA: dict[str, Any] = {
    "description": "a FATE model id (letters, digits, '_', '#', '.' and '-', not starting with '.' or '-')",
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9_#.-]{0,127}$",
}
_MODEL_VERSION_SCHEMA: dict[str, Any] = {
    "description": "a FATE model version (letters, digits, '_', '.' and '-', not starting with '.' or '-')",
    "type": ["string", "integer"],
    "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
}
_ROLE_LISTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {role: {"type": "array", "items": _PARTY_ID_SCHEMA, "minItems": 1} for role in ROLES},
    "additionalProperties": False,
    "minProperties": 1,
}
MIGRATE_CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "migrate_model.json",
    "type": "object",
    "properties": {
        "job_parameters": {
            "type": "object",
            "properties": {"federated_mode": {"type": "string"}},
            "required": ["federated_mode"],
            "additionalProperties": False,
        },
        "migrate_initiator": {
            "type": "object",
            "properties": {"role": {"enum": list(ROLES)}, "party_id": _PARTY_ID_SCHEMA},
            "required": ["role", "party_id"],
            "additionalProperties": False,
        },
        "role": _ROLE_LISTS_SCHEMA,
        "migrate_role": _ROLE_LISTS_SCHEMA,
        "execute_party": _ROLE_LISTS_SCHEMA,
        "model_id": _MODEL_ID_SCHEMA,
        "model_version": _MODEL_VERSION_SCHEMA,
        "unify_model_version": {
            "description": f"empty or {_MODEL_VERSION_SCHEMA['description']}",
            "anyOf": [{"type": "null"}, {"const": ""}, _MODEL_VERSION_SCHEMA],
        },
    },
    "required": [
        "job_parameters",
        "migrate_initiator",
        "role",
        "migrate_role",
        "execute_party",
        "model_id",
        "model_version",
    ],
    "additionalProperties": False,
}
IMPORT_CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "import_model.json",
    "type": "object",
    "properties": {
        "role": {"enum": list(ROLES)},
        "party_id": _PARTY_ID_SCHEMA,
        "model_id": _MODEL_ID_SCHEMA,
        "model_version": _MODEL_VERSION_SCHEMA,
        # The archive on the party's host; any path, used as it is.
        "file": {"description": "the path of the archive", "type": "string", "minLength": 1},
        "force_update": {"description": "true or false", "type": "boolean"},
    },
    "required": ["role", "party_id", "model_id", "model_version", "file"],
    "additionalProperties": False,
}


def unknown_keys(data: Any, schema: Mapping[str, Any], where: str = "") -> list[str]:
    """The keys of data (and of its objects, nested) that the schema does not name, as dotted paths."""
    if not isinstance(data, Mapping) or "properties" not in schema:
        return []
    known = schema["properties"]
    found: list[str] = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            if schema.get("additionalProperties") is False:
                found.append(path)
        else:
            found.extend(unknown_keys(value, known[key], path))
    return found


def _refuse_unknown_keys(data: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    unknown = unknown_keys(data, schema)
    if not unknown:
        return
    parent = unknown[0].rpartition(".")[0]
    node: Mapping[str, Any] = schema
    for part in parent.split(".") if parent else []:
        node = node["properties"][part]
    raise MigrationError(
        f"unknown key {unknown[0]!r}; the keys of {parent or schema['title']} are "
        f"{', '.join(node['properties'])}: remove it or fix its spelling"
    )


@dataclass(frozen=True)
class PartyRef:
    role: str
    party_id: int

    def __str__(self) -> str:
        return f"{self.role} {self.party_id}"


@dataclass(frozen=True)
class MigrationConfig:
    """The seed's migrate_model.json, checked."""

    federated_mode: str
    initiator: PartyRef
    role: dict[str, list[int]]
    migrate_role: dict[str, list[int]]
    execute_party: dict[str, list[int]]
    model_id: str
    model_version: str
    unify_model_version: str | None = None

    def new_party_id(self, role: str, party_id: int) -> int:
        return self.migrate_role[role][self.role[role].index(party_id)]

    def party_map(self) -> dict[str, dict[str, str]]:
        """{role: {old party id: new party id}}, as strings (the form FATE writes them in)."""
        return {
            role: {str(old): str(new) for old, new in zip(ids, self.migrate_role[role], strict=True)}
            for role, ids in self.role.items()
        }

    def executing_parties(self) -> list[PartyRef]:
        """Who exports and rewrites: SINGLE, the initiator's own old party; MULTIPLE, every execute_party."""
        if self.federated_mode == "SINGLE":
            index = self.migrate_role[self.initiator.role].index(self.initiator.party_id)
            return [PartyRef(self.initiator.role, self.role[self.initiator.role][index])]
        return [PartyRef(role, pid) for role in ROLES for pid in self.execute_party.get(role, [])]

    def new_model_id(self) -> str:
        return rewrite_model_id(self.model_id, self.party_map())

    def as_dict(self) -> dict[str, Any]:
        return {
            "federated_mode": self.federated_mode,
            "migrate_initiator": {"role": self.initiator.role, "party_id": self.initiator.party_id},
            "role": self.role,
            "migrate_role": self.migrate_role,
            "execute_party": self.execute_party,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "unify_model_version": self.unify_model_version,
        }


def _party_id(value: Any, where: str) -> int:
    try:
        return fate_ids.party_id(value, where if where.endswith("party_id") else f"{where}: party id")
    except fate_ids.IdError as exc:
        raise MigrationError(str(exc)) from None


def _role_lists(data: Any, where: str) -> dict[str, list[int]]:
    if not isinstance(data, Mapping) or not data:
        raise MigrationError(f'{where} must be an object such as {{"guest": [9999], "host": [10000]}}')
    lists: dict[str, list[int]] = {}
    for role, ids in data.items():
        if role not in ROLES:
            raise MigrationError(f"{where}: unknown role {role!r}; roles are {', '.join(ROLES)}")
        if not isinstance(ids, list) or not ids:
            raise MigrationError(f"{where}.{role} must be a non-empty list of party ids")
        parsed = [_party_id(pid, f"{where}.{role}") for pid in ids]
        if len(set(parsed)) != len(parsed):
            raise MigrationError(f"{where}.{role} lists a party id twice: {parsed}")
        lists[role] = parsed
    return lists


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, (dict, list, bool)):
        raise MigrationError(f"{key} is missing; give the {key} of the model to migrate")
    return str(value).strip()


def _model_name(data: Mapping[str, Any], key: str) -> str:
    """A model id or version of the config: FATE's id characters only, since paths on party hosts hold it."""
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MigrationError(f"{key} is missing; give the {key} of the model")
    try:
        return fate_ids.model_name(value, key)
    except fate_ids.IdError as exc:
        raise MigrationError(str(exc)) from None


def parse_migrate_config(data: Any) -> MigrationConfig:
    """Check the seed's migrate_model.json; MigrationError names the first problem and how to fix it."""
    if not isinstance(data, Mapping):
        raise MigrationError("the migration config must be a JSON object (see migrate_model.json)")
    _refuse_unknown_keys(data, MIGRATE_CONFIG_SCHEMA)
    mode = str((data.get("job_parameters") or {}).get("federated_mode", "")).upper()
    if mode not in FEDERATED_MODES:
        raise MigrationError(
            f"job_parameters.federated_mode {mode or 'missing'}: use SINGLE (only the initiator's party) "
            "or MULTIPLE (every execute_party)"
        )
    role = _role_lists(data.get("role"), "role")
    migrate_role = _role_lists(data.get("migrate_role"), "migrate_role")
    if set(role) != set(migrate_role):
        raise MigrationError(
            f"migrate_role has roles {sorted(migrate_role)} but role has {sorted(role)}; give every role of the "
            "model a new party id list and no other role"
        )
    for name, ids in role.items():
        if len(ids) != len(migrate_role[name]):
            raise MigrationError(
                f"role.{name} has {len(ids)} party id(s) but migrate_role.{name} has {len(migrate_role[name])}; "
                "give one new id per old id, in the same order"
            )
    execute_party = _role_lists(data.get("execute_party"), "execute_party")
    for name, ids in execute_party.items():
        strangers = [pid for pid in ids if pid not in role.get(name, [])]
        if strangers:
            raise MigrationError(
                f"execute_party.{name} {strangers} is not among role.{name} {role.get(name, [])}; "
                "execute_party names old party ids of the model"
            )
    initiator_data = data.get("migrate_initiator")
    if not isinstance(initiator_data, Mapping) or initiator_data.get("role") not in ROLES:
        raise MigrationError('migrate_initiator must be {"role": "guest", "party_id": <new party id>}')
    initiator = PartyRef(
        str(initiator_data["role"]), _party_id(initiator_data.get("party_id"), "migrate_initiator.party_id")
    )
    if initiator.party_id not in migrate_role.get(initiator.role, []):
        raise MigrationError(
            f"migrate_initiator {initiator} is not in migrate_role.{initiator.role} "
            f"{migrate_role.get(initiator.role, [])}; the initiator is one of the new parties"
        )
    unify_text = _model_name(data, "unify_model_version") if data.get("unify_model_version") not in (None, "") else None
    config = MigrationConfig(
        federated_mode=mode,
        initiator=initiator,
        role=role,
        migrate_role=migrate_role,
        execute_party=execute_party,
        model_id=_model_name(data, "model_id"),
        model_version=_model_name(data, "model_version"),
        unify_model_version=unify_text,
    )
    if mode == "SINGLE":
        (only,) = config.executing_parties()
        if only.party_id not in execute_party.get(only.role, []):
            raise MigrationError(
                f"federated_mode SINGLE runs on the initiator's old party {only}, which is not in execute_party"
            )
    return config


@dataclass(frozen=True)
class ImportConfig:
    """The seed's import_model.json, checked."""

    role: str
    party_id: int
    model_id: str
    model_version: str
    file: str
    force_update: bool = False


def parse_import_config(data: Any) -> ImportConfig:
    if not isinstance(data, Mapping):
        raise MigrationError("the import config must be a JSON object (see import_model.json)")
    _refuse_unknown_keys(data, IMPORT_CONFIG_SCHEMA)
    role = data.get("role")
    if role not in ROLES:
        raise MigrationError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return ImportConfig(
        role=str(role),
        party_id=_party_id(data.get("party_id"), "party_id"),
        model_id=_model_name(data, "model_id"),
        model_version=_model_name(data, "model_version"),
        file=_text(data, "file"),
        force_update=bool(data.get("force_update", False)),
    )


def rewrite_model_id(model_id: str, party_map: Mapping[str, Mapping[str, str]]) -> str:
    """A FATE 1.x style id names the parties, so it is rewritten; a FATE 2.x id (the job id) is kept."""
    if not _LEGACY_MODEL_ID.match(model_id):
        return model_id
    groups = []
    for group in model_id.split("#")[:-1]:
        role, ids = group.split("-", 1)
        mapping = party_map.get(role, {})
        groups.append(f"{role}-" + "_".join(mapping.get(pid, pid) for pid in ids.split("_")))
    return "#".join([*groups, "model"])


def new_job_id(now: float | None = None) -> str:
    """An id shaped like FATE-Flow's job ids (time to the second, then seven digits), for the migration itself."""
    moment = time.time() if now is None else now
    return time.strftime("%Y%m%d%H%M%S", time.localtime(moment)) + f"{int((moment % 1) * 10_000_000):07d}"


def archive_name(role: str, party_id: str | int, model_id: str, model_version: str) -> str:
    return f"{role}#{party_id}#{model_id}_{model_version}.zip"


def _map_party_ids(node: Any, party_map: Mapping[str, Mapping[str, str]], role: str | None = None) -> Any:
    """Rewrite party ids wherever FATE's metadata names them: {role, party_id} pairs and DAG party lists."""
    if isinstance(node, list):
        return [_map_party_ids(item, party_map, role) for item in node]
    if not isinstance(node, dict):
        return node
    own_role = node.get("role") if node.get("role") in party_map else role
    out: dict[Any, Any] = {}
    for key, value in node.items():
        if key in _PARTY_ID_KEYS and own_role in party_map:
            out[key] = _map_ids(value, party_map[own_role])
        else:
            out[key] = _map_party_ids(value, party_map, own_role)
    return out


def _map_ids(value: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return [_map_ids(item, mapping) for item in value]
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) in mapping:
        new = mapping[str(value)]
        return int(new) if isinstance(value, int) else new
    return value


def _rewrite_tar(raw: bytes, rewrite_text: Callable[[str, bytes], bytes]) -> bytes:
    """Rewrite the text members (model JSON, metadata YAML) of one task's model tar; others are copied."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(raw)) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            if not member.isfile():
                target.addfile(member)
                continue
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            data = rewrite_text(member.name, data)
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            info.mtime = member.mtime
            info.mode = member.mode
            target.addfile(info, io.BytesIO(data))
    return out.getvalue()


_YAML_ROLE_KEY = re.compile(r"^(\s*)(guest|host|arbiter|local):\s*$")
_YAML_LIST_ID = re.compile(r"^(\s*-\s*)(['\"]?)(\d+)(['\"]?)\s*$")
_YAML_PARTYID = re.compile(r"^(\s*(?:partyid|party_id):\s*)(['\"]?)(\d+)(['\"]?)\s*$")
_TASK_PARTY = re.compile(r"_(guest|host|arbiter)_(\d+)\b")


def rewrite_metadata_yaml(
    text: str, party_map: Mapping[str, Mapping[str, str]], own_role: str, id_map: Mapping[str, str]
) -> str:
    """Rewrite FATE's model metadata YAML line by line (no YAML library on party hosts' module side).

    It names parties in three ways: the DAG's ``parties: {role: ['id', ...]}``, the own party's
    ``partyid: 'id'`` next to ``role:``, and task ids ending in ``_<role>_<id>``; model and job ids are in
    ``id_map`` (old -> new).
    """
    lines = []
    list_role: str | None = None
    list_indent = -1
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        role_key = _YAML_ROLE_KEY.match(line)
        if role_key:
            list_role, list_indent = role_key.group(2), indent
        elif list_role is not None and (
            indent < list_indent or (indent == list_indent and not line.lstrip().startswith("-"))
        ):
            list_role = None
        item = _YAML_LIST_ID.match(line)
        own = _YAML_PARTYID.match(line)
        if item and list_role in party_map:
            mapped = party_map[list_role].get(item.group(3), item.group(3))
            line = f"{item.group(1)}{item.group(2)}{mapped}{item.group(4)}"
        elif own and own_role in party_map:
            mapped = party_map[own_role].get(own.group(3), own.group(3))
            line = f"{own.group(1)}{own.group(2)}{mapped}{own.group(4)}"
        line = _TASK_PARTY.sub(
            lambda m: f"_{m.group(1)}_{party_map.get(m.group(1), {}).get(m.group(2), m.group(2))}", line
        )
        for old, new in id_map.items():
            if old != new:
                line = line.replace(old, new)
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ArchiveIdentity:
    """Whose part of which model an archive holds."""

    model_id: str
    model_version: str
    role: str
    party_id: str


def _entry_parts(name: str) -> list[str]:
    parts = name.split("/")
    if len(parts) != 6 or not all(parts):
        raise MigrationError(
            f"archive entry {name!r} is not <model_id>/<model_version>/<role>/<party_id>/<task_name>/<output_key>: "
            "not a FATE 2.x model export"
        )
    return parts


def _open_zip(path: str | Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise MigrationError(f"model archive {path} does not exist; give the path the migration printed") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise MigrationError(f"model archive {path} is not a readable zip ({exc}); copy it again") from None
    return archive


def _file_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if not info.is_dir()]


def write_archive(path: Path, entries: Mapping[str, bytes], manifest: dict[str, Any]) -> str:
    """Write entries and the manifest (their sha256 in the zip comment) atomically; returns the zip's sha256."""
    manifest = {**manifest, "format": MANIFEST_FORMAT, "entries": {n: _sha256(d) for n, d in entries.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
        archive.comment = json.dumps(manifest, sort_keys=True).encode()
    partial.replace(path)
    return sha256_file(path)


def _text_rewriter(
    party_map: Mapping[str, Mapping[str, str]], role: str, id_map: Mapping[str, str]
) -> Callable[[str, bytes], bytes]:
    def rewrite_text(member: str, data: bytes) -> bytes:
        if member.endswith((".yaml", ".yml")):
            return rewrite_metadata_yaml(data.decode("utf-8"), party_map, role, id_map).encode("utf-8")
        try:
            document = json.loads(data)
        except ValueError:
            return data
        return json.dumps(_map_party_ids(document, party_map)).encode("utf-8")

    return rewrite_text


def rewrite_archive(
    source: str | Path,
    target: Path,
    exported: ArchiveIdentity,
    party_map: Mapping[str, Mapping[str, str]],
    new_model_id: str,
    new_model_version: str,
) -> tuple[ArchiveIdentity, str, list[str]]:
    """Rewrite FATE's export of one party's part for the new federation.

    Returns the new identity, the new archive's sha256 and the task names it holds models of.
    """
    new_party_id = party_map.get(exported.role, {}).get(exported.party_id)
    if new_party_id is None:
        raise MigrationError(f"{exported.role} {exported.party_id} has no new party id in migrate_role")
    id_map = {exported.model_id: new_model_id}
    entries: dict[str, bytes] = {}
    with _open_zip(source) as archive:
        for info in _file_entries(archive):
            model_id, model_version, role, party_id, task_name, output_key = _entry_parts(info.filename)
            if (model_id, model_version, role, party_id) != (
                exported.model_id,
                exported.model_version,
                exported.role,
                exported.party_id,
            ):
                raise MigrationError(f"archive entry {info.filename} belongs to another model or party than exported")

            name = "/".join((new_model_id, new_model_version, role, new_party_id, task_name, output_key))
            entries[name] = _rewrite_tar(archive.read(info), _text_rewriter(party_map, role, id_map))
    if not entries:
        raise MigrationError(f"model archive {source} holds no model files; FATE-Flow exported nothing")
    identity = ArchiveIdentity(new_model_id, new_model_version, exported.role, new_party_id)
    manifest = {
        **identity.__dict__,
        "migrated_from": exported.__dict__,
        "party_map": {role: dict(ids) for role, ids in party_map.items()},
    }
    tasks = sorted({name.split("/")[4] for name in entries})
    return identity, write_archive(target, entries, manifest), tasks


def verify_archive(path: str | Path, expected: ArchiveIdentity) -> dict[str, Any]:
    """Check an archive before it is imported: readable, untampered (manifest hashes), and the expected party's.

    Returns the manifest. Raises MigrationError naming the problem; nothing has been changed anywhere.
    """
    with _open_zip(path) as archive:
        broken = archive.testzip()
        if broken is not None:
            raise MigrationError(f"model archive {path}: entry {broken} is corrupt (CRC mismatch); copy it again")
        try:
            manifest = json.loads(archive.comment.decode("utf-8")) if archive.comment else None
        except (UnicodeDecodeError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise MigrationError(
                f"model archive {path} carries no fateops manifest, so it cannot be checked; import archives "
                "made by migrate or export"
            )
        present = {info.filename: _sha256(archive.read(info)) for info in _file_entries(archive)}
    recorded = manifest.get("entries") or {}
    if present != recorded:
        changed = sorted(set(present) ^ set(recorded) | {n for n in present if recorded.get(n) != present[n]})
        raise MigrationError(
            f"model archive {path} was modified after it was written (entries {', '.join(changed)} do not match "
            "their sha256); use an unmodified copy"
        )
    for key in ("model_id", "model_version", "role", "party_id"):
        want, have = str(getattr(expected, key)), str(manifest.get(key))
        if want != have:
            raise MigrationError(
                f"model archive {path} holds {key} {have}, not {want}; give the {key} the migration printed"
            )
    for name in present:
        _entry_parts(name)
    return manifest
