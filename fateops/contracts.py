"""The typed records that cross layers: the workspace's state.json, and what the playbooks publish to the facade.

state.json is read into a State (State.from_dict checks the whole file, so a hand-edited or foreign file is one
ShapeError naming the key, such as "deployment.parties[1] has no ip") and written from State.as_dict. Its layout
has a version, STATE_VERSION: read_state upgrades an older file in memory and the next save writes the new form; a
file of a newer version is refused (NewerStateError), as this fateops cannot know what it would drop.

The playbooks publish their results with ansible.builtin.set_stats; every payload the facade reads is a record here
(UploadedTables, SubmittedJob, MigratedArchives, ImportedPart), read from RunResult.data by its from_run, so that a
playbook and a facade that disagree fail with one PublishedError naming the key.

A record keeps the keys it does not know (extra) and writes them back: loading and saving a state drops nothing
(deploy still writes the deployment record anew). Flows, the exchange and parties are the plan's own records
(fateops/deployment.py): checked here, read by their own from_dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fateops.deployment import COMPOSE_EXTRA_PORTS, FEDERATION_PORTS, ExchangeHost, Flow, Party
from fateops.errors import FateopsError
from fateops.validation import (
    ADDRESS,
    FLAG,
    MODEL_NAME,
    OBJECT,
    PARTY_ID,
    PORT,
    TEXT,
    WHOLE_NUMBER,
    Leaf,
    parse_party_id,
    show,
)

if TYPE_CHECKING:
    from fateops.runner import RunResult

STATE_VERSION = 2

T = TypeVar("T")
# Reads a JSON value found at a key path ("jobs.123.hosts") into a typed value, or raises ShapeError naming the path.
Reader = Callable[[Any, str], T]
_REQUIRED: Any = object()


class ShapeError(ValueError):
    """Data without a record's shape: "<key> <what is wrong>", such as 'jobs.1.hosts is 5, not a list'."""


class NewerStateError(ValueError):
    """A state.json written by a newer fateops."""

    def __init__(self, version: int) -> None:
        super().__init__(f"state version {version}")
        self.version = version


class PublishedError(FateopsError):
    """A playbook that succeeded without publishing what the facade reads."""


def _here(where: str) -> str:
    return where or "the top level"


def _at(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _leaf(leaf: Leaf, convert: Callable[[Any], Any] = lambda value: value) -> Reader[Any]:
    def read(value: Any, where: str) -> Any:
        if not leaf.accepts(value):
            raise ShapeError(f"{_here(where)} is {show(value)}, not {leaf.what}")
        return convert(value)

    return read


_TEXT = _leaf(TEXT)
_FLAG = _leaf(FLAG)
_PORT = _leaf(PORT)
_WHOLE_NUMBER = _leaf(WHOLE_NUMBER)
_OBJECT = _leaf(OBJECT)
_ADDRESS = _leaf(ADDRESS)
# Party ids read as numbers, whichever spelling a file has ("9999" or 9999).
_PARTY_ID = _leaf(PARTY_ID, parse_party_id)
# A model version FATE or Ansible handed over as a number (0) reads as its digits.
_MODEL_NAME = _leaf(MODEL_NAME, str)


def _list_of(item: Reader[T]) -> Reader[list[T]]:
    def read(value: Any, where: str) -> list[T]:
        if not isinstance(value, list):
            raise ShapeError(f"{_here(where)} is {show(value)}, not a list")
        return [item(each, f"{where}[{index}]") for index, each in enumerate(value)]

    return read


def _mapping_of(item: Reader[T], keys: Leaf | None = None, key: Callable[[Any], Any] = str) -> Reader[dict[Any, T]]:
    def read(value: Any, where: str) -> dict[Any, T]:
        if not isinstance(value, dict):
            raise ShapeError(f"{_here(where)} is {show(value)}, not an object")
        found = {}
        for name, each in value.items():
            if keys is not None and not keys.accepts(name):
                raise ShapeError(f"{_here(where)} has the key {show(name)}, which is not {keys.what}")
            found[key(name)] = item(each, _at(where, name))
        return found

    return read


class _Object:
    """One JSON object being read into a record: each field's problem names its key; the unread keys are extra."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise ShapeError(f"{_here(where)} is {show(value)}, not an object")
        self.value: dict[str, Any] = value
        self.where = where
        self._read: set[str] = set()

    def get(self, key: str, read: Reader[T], default: Any = _REQUIRED) -> T:
        """The field read by read; a field with a default may be missing or null (older files left it out)."""
        self._read.add(key)
        if default is not _REQUIRED and self.value.get(key) is None:
            return default
        if key not in self.value:
            raise ShapeError(f"{_here(self.where)} has no {key}")
        return read(self.value[key], _at(self.where, key))

    def extra(self) -> dict[str, Any]:
        return {key: value for key, value in self.value.items() if key not in self._read}


def _flow(value: Any, where: str) -> Flow:
    data = _Object(value, where)
    data.get("name", _TEXT)
    data.get("party_ids", _list_of(_PARTY_ID))
    data.get("http_port", _PORT)
    data.get("grpc_port", _PORT)
    data.get("federation", _TEXT, None)
    for name in ("serving_port", *FEDERATION_PORTS, *COMPOSE_EXTRA_PORTS):
        data.get(name, _PORT, None)
    return Flow.from_dict(value)


def _exchange(value: Any, where: str) -> ExchangeHost:
    data = _Object(value, where)
    data.get("ip", _ADDRESS)
    data.get("user", _TEXT, None)
    data.get("local", _FLAG, None)
    data.get("nginx_port", _PORT, None)
    data.get("serving_port", _PORT, None)
    data.get("rabbitmq_ports", _mapping_of(_PORT, keys=PARTY_ID), None)
    return ExchangeHost.from_dict(value)


def _party(value: Any, where: str) -> Party:
    data = _Object(value, where)
    return Party(data.get("party_id", _PARTY_ID), data.get("ip", _ADDRESS))


# --- state.json -------------------------------------------------------------------------------------------------


@dataclass
class HostRecord:
    """A deployed host: the ssh user, whether it is this machine, and its FATE-Flow instances."""

    user: str
    # None in files from before it was recorded: the address then tells (deployment.is_local_address).
    local: bool | None = None
    flows: list[Flow] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> HostRecord:
        data = _Object(value, where)
        return cls(
            data.get("user", _TEXT),
            data.get("local", _FLAG, None),
            data.get("flows", _list_of(_flow), []),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        data = {**self.extra, "user": self.user, "flows": [f.as_dict() for f in self.flows]}
        # Left out while unknown, as version 1 did: its shape check refuses a null here, and a fateops of version 1
        # (which did not check the version) then still reads the file.
        if self.local is not None:
            data["local"] = self.local
        return data


@dataclass
class DeploymentRecord:
    """What is deployed: the parties and their hosts (by address), the exchange of a star, and the deployment id."""

    # Made at first need (workspace.deployment_id); the instances a workspace deploys record it as their owner.
    id: str | None = None
    parties: list[Party] = field(default_factory=list)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    exchange: ExchangeHost | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> DeploymentRecord:
        data = _Object(value, where)
        return cls(
            data.get("id", _TEXT, None),
            data.get("parties", _list_of(_party)),
            data.get("hosts", _mapping_of(HostRecord.from_dict, keys=ADDRESS)),
            data.get("exchange", _exchange, None),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self.extra,
            "parties": [{"party_id": p.party_id, "ip": p.ip} for p in self.parties],
            "hosts": {ip: host.as_dict() for ip, host in self.hosts.items()},
        }
        # Left out while there is none, as in version 1 (see HostRecord.as_dict).
        if self.id is not None:
            data["id"] = self.id
        if self.exchange is not None:
            data["exchange"] = self.exchange.as_dict()
        return data


@dataclass
class Table:
    """A party's data file uploaded as a FATE table, and what the upload found in it."""

    role: str
    party_id: int
    path: str
    namespace: str
    name: str
    sha256: str | None = None
    header: list[str] | None = None
    id_name: str | None = None
    label_name: str | None = None
    count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> Table:
        data = _Object(value, where)
        return cls(
            data.get("role", _TEXT),
            data.get("party_id", _PARTY_ID),
            data.get("path", _TEXT),
            data.get("namespace", _TEXT),
            data.get("name", _TEXT),
            **cls._found(data),
            extra=data.extra(),
        )

    @classmethod
    def from_upload(cls, value: Any, where: str) -> Table:
        """One result of upload.yml's fate_data loop: the module's answer, with the upload it was given."""
        data = _Object(value, where)
        upload = _Object(data.get("upload", _OBJECT), _at(where, "upload"))
        return cls(
            upload.get("role", _TEXT),
            upload.get("party_id", _PARTY_ID),
            upload.get("path", _TEXT),
            data.get("namespace", _TEXT),
            data.get("name", _TEXT),
            **cls._found(data),
        )

    @staticmethod
    def _found(data: _Object) -> dict[str, Any]:
        return {
            "sha256": data.get("sha256", _TEXT, None),
            "header": data.get("header", _list_of(_TEXT), None),
            "id_name": data.get("id_name", _TEXT, None),
            "label_name": data.get("label_name", _TEXT, None),
            "count": data.get("count", _WHOLE_NUMBER, None),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "role": self.role,
            "party_id": self.party_id,
            "path": self.path,
            "namespace": self.namespace,
            "name": self.name,
            "sha256": self.sha256,
            "header": self.header,
            "id_name": self.id_name,
            "label_name": self.label_name,
            "count": self.count,
        }


@dataclass
class Project:
    """A project's tables (guest first, then the hosts in -hp order), from its latest upload."""

    tables: list[Table] = field(default_factory=list)
    uploaded_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> Project:
        data = _Object(value, where)
        return cls(data.get("tables", _list_of(Table.from_dict)), data.get("uploaded_at", _TEXT, None), data.extra())

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.extra, "tables": [t.as_dict() for t in self.tables]}
        # Left out while unknown, as in version 1 (see HostRecord.as_dict).
        if self.uploaded_at is not None:
            data["uploaded_at"] = self.uploaded_at
        return data


@dataclass
class Job:
    """A submitted training job (state's jobs are keyed by job id) and the model it trains."""

    project: str
    algorithm: str
    guest: int
    hosts: list[int]
    model_id: str
    model_version: str
    # None for FATE's toy example, which runs on guest and host only.
    arbiter: int | None = None
    mode: int | None = None
    submitted_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> Job:
        data = _Object(value, where)
        return cls(
            data.get("project", _TEXT),
            data.get("algorithm", _TEXT),
            data.get("guest", _PARTY_ID),
            data.get("hosts", _list_of(_PARTY_ID)),
            data.get("model_id", _MODEL_NAME),
            data.get("model_version", _MODEL_NAME),
            data.get("arbiter", _PARTY_ID, None),
            data.get("mode", _WHOLE_NUMBER, None),
            data.get("submitted_at", _TEXT, None),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "project": self.project,
            "algorithm": self.algorithm,
            "mode": self.mode,
            "guest": self.guest,
            "hosts": list(self.hosts),
            "arbiter": self.arbiter,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "submitted_at": self.submitted_at,
        }


@dataclass
class Service:
    """A service name bound to a model on its parties' serving services."""

    model_id: str
    model_version: str
    algorithm: str
    guest: int
    hosts: list[int]
    # The data's match id columns predict takes the id under; None in files from before they were recorded.
    match_id_names: list[str] | None = None
    bound_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> Service:
        data = _Object(value, where)
        return cls(
            data.get("model_id", _MODEL_NAME),
            data.get("model_version", _MODEL_NAME),
            data.get("algorithm", _TEXT),
            data.get("guest", _PARTY_ID),
            data.get("hosts", _list_of(_PARTY_ID)),
            data.get("match_id_names", _list_of(_TEXT), None),
            data.get("bound_at", _TEXT, None),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "algorithm": self.algorithm,
            "guest": self.guest,
            "hosts": list(self.hosts),
            "match_id_names": self.match_id_names,
            "bound_at": self.bound_at,
        }


@dataclass
class ModelPart:
    """One party's imported part of a model: its archive, kept under the party's FATE-Flow instance."""

    archive: str
    tasks: list[str]
    sha256: str | None = None
    imported_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> ModelPart:
        data = _Object(value, where)
        return cls(
            data.get("archive", _TEXT),
            data.get("tasks", _list_of(_TEXT)),
            data.get("sha256", _TEXT, None),
            data.get("imported_at", _TEXT, None),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "archive": self.archive,
            "tasks": list(self.tasks),
            "sha256": self.sha256,
            "imported_at": self.imported_at,
        }


@dataclass
class ImportedModel:
    """A model imported here (state's models are keyed model_id/model_version): its parts, role -> party id."""

    model_id: str
    model_version: str
    parties: dict[str, dict[int, ModelPart]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> ImportedModel:
        data = _Object(value, where)
        parts = _mapping_of(ModelPart.from_dict, keys=PARTY_ID, key=parse_party_id)
        return cls(
            data.get("model_id", _MODEL_NAME),
            data.get("model_version", _MODEL_NAME),
            data.get("parties", _mapping_of(parts)),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "parties": {
                role: {str(party_id): part.as_dict() for party_id, part in parts.items()}
                for role, parts in self.parties.items()
            },
        }


@dataclass
class MigratedArchive:
    """One archive migrate.yml wrote on a party host: a part moved from party_id to new_party_id."""

    role: str
    party_id: str
    new_party_id: str
    path: str
    sha256: str
    tasks: list[str]
    retmsg: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> MigratedArchive:
        data = _Object(value, where)
        return cls(
            data.get("role", _TEXT),
            data.get("party_id", _TEXT),
            data.get("new_party_id", _TEXT),
            data.get("path", _TEXT),
            data.get("sha256", _TEXT),
            data.get("tasks", _list_of(_TEXT)),
            data.get("retmsg", _TEXT),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "role": self.role,
            "party_id": self.party_id,
            "new_party_id": self.new_party_id,
            "path": self.path,
            "sha256": self.sha256,
            "tasks": list(self.tasks),
            "retmsg": self.retmsg,
        }


@dataclass
class Migration:
    """A migration run (state's migrations are keyed by its job id): kept as a record of what was written where."""

    model_id: str
    model_version: str | None = None
    algorithm: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    archives: list[MigratedArchive] = field(default_factory=list)
    migrated_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> Migration:
        data = _Object(value, where)
        return cls(
            data.get("model_id", _MODEL_NAME),
            data.get("model_version", _MODEL_NAME, None),
            data.get("algorithm", _TEXT, None),
            data.get("config", _OBJECT, {}),
            data.get("archives", _list_of(MigratedArchive.from_dict), []),
            data.get("migrated_at", _TEXT, None),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "algorithm": self.algorithm,
            "config": self.config,
            "archives": [a.as_dict() for a in self.archives],
            "migrated_at": self.migrated_at,
        }


@dataclass
class State:
    """The whole of state.json."""

    deployment: DeploymentRecord = field(default_factory=DeploymentRecord)
    projects: dict[str, Project] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    models: dict[str, ImportedModel] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    migrations: dict[str, Migration] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, value: Any, where: str = "") -> State:
        """A state of this version (read_state upgrades older ones first)."""
        data = _Object(value, where)
        data.get("version", _WHOLE_NUMBER)
        return cls(
            data.get("deployment", DeploymentRecord.from_dict),
            data.get("projects", _mapping_of(Project.from_dict)),
            data.get("jobs", _mapping_of(Job.from_dict)),
            data.get("models", _mapping_of(ImportedModel.from_dict)),
            data.get("services", _mapping_of(Service.from_dict)),
            data.get("migrations", _mapping_of(Migration.from_dict)),
            data.extra(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "version": STATE_VERSION,
            "deployment": self.deployment.as_dict(),
            "projects": {name: p.as_dict() for name, p in self.projects.items()},
            "jobs": {job_id: j.as_dict() for job_id, j in self.jobs.items()},
            "models": {key: m.as_dict() for key, m in self.models.items()},
            "services": {name: s.as_dict() for name, s in self.services.items()},
            "migrations": {job_id: m.as_dict() for job_id, m in self.migrations.items()},
        }


def _from_version_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (and the files from before state.json had a version) held the same records, but a section could be
    missing (migrations until the first migrate; all but the deployment in the earliest files) and a record could
    leave out fields that version 2 writes as null (read as such by the records' defaults)."""
    return {**State().as_dict(), **data, "version": 2}


# version -> the step that brings a file of that version to the next one.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_version_1}


def read_state(data: Any) -> State:
    """The content of a state.json of this version or an older one (upgraded in memory), as a State."""
    if not isinstance(data, dict):
        raise ShapeError(f"the top level is {show(data)}, not an object")
    # Files written before the version field have version 1's layout.
    version = _WHOLE_NUMBER(data.get("version", 1), "version")
    if version > STATE_VERSION:
        raise NewerStateError(version)
    if version < 1:
        raise ShapeError(f"version is {version}, not a state version from 1 to {STATE_VERSION}")
    while version < STATE_VERSION:
        data = _UPGRADES[version](data)
        version += 1
    return State.from_dict(data)


# --- What the playbooks publish (set_stats) ---------------------------------------------------------------------


def _published(result: RunResult, playbook: str, key: str, read: Reader[T], missing: Any = _REQUIRED) -> T:
    """result.data[key] read by read; missing when the playbook published nothing under key (None: required)."""
    if result.data.get(key) is None:
        if missing is not _REQUIRED:
            return missing
        problem = f"no {key}"
    else:
        try:
            return read(result.data[key], key)
        except ShapeError as exc:
            problem = str(exc)
    log = f"; its run log is in {result.run_dir}" if result.run_dir else ""
    raise PublishedError(
        f"{playbook} did not publish what fateops reads ({problem}): run the playbooks that came with this fateops{log}"
    )


@dataclass(frozen=True)
class UploadedTables:
    """upload.yml's fate_tables: every host's uploads ({host: [fate_data result, ...]}), as tables."""

    tables: list[Table]

    @classmethod
    def from_run(cls, result: RunResult) -> UploadedTables:
        per_host = _published(result, "upload.yml", "fate_tables", _mapping_of(_list_of(Table.from_upload)), {})
        return cls([table for tables in per_host.values() for table in tables])


@dataclass(frozen=True)
class SubmittedJob:
    """submit.yml's fate_job: the job the guest's FATE-Flow accepted and the model it trains."""

    job_id: str
    model_id: str
    model_version: str

    @classmethod
    def from_run(cls, result: RunResult) -> SubmittedJob:
        return _published(result, "submit.yml", "fate_job", cls._read)

    @classmethod
    def _read(cls, value: Any, where: str) -> SubmittedJob:
        data = _Object(value, where)
        return cls(
            data.get("job_id", _MODEL_NAME), data.get("model_id", _MODEL_NAME), data.get("model_version", _MODEL_NAME)
        )


@dataclass(frozen=True)
class MigratedArchives:
    """migrate.yml's fate_migration: the archives every host wrote ({hosts: {host: [archive, ...]}})."""

    archives: list[MigratedArchive]

    @classmethod
    def from_run(cls, result: RunResult) -> MigratedArchives:
        return _published(result, "migrate.yml", "fate_migration", cls._read, cls([]))

    @classmethod
    def _read(cls, value: Any, where: str) -> MigratedArchives:
        per_host = _Object(value, where).get("hosts", _mapping_of(_list_of(MigratedArchive.from_dict)), {})
        return cls([archive for archives in per_host.values() for archive in archives])


@dataclass(frozen=True)
class ImportedPart:
    """import_model.yml's fate_imported: the part the party's FATE-Flow imported, and its copy kept for load_bind."""

    archive: str
    sha256: str
    tasks: list[str]

    @classmethod
    def from_run(cls, result: RunResult) -> ImportedPart | None:
        """None when the play imported nothing (no deployed FATE-Flow plays the party)."""
        parts = _published(result, "import_model.yml", "fate_imported", _list_of(cls._read), [])
        return parts[0] if parts else None

    @classmethod
    def _read(cls, value: Any, where: str) -> ImportedPart:
        data = _Object(value, where)
        return cls(data.get("archive", _TEXT), data.get("sha256", _TEXT), data.get("tasks", _list_of(_TEXT)))
