"""The on-disk layout of a party's served models and bindings, and the API load_bind calls to write it.

    <data_dir>/<party_id>/                      one directory per party (the party directory)
        bindings.json                           {"format", "services": {service_id: {model_id, model_version}}}
        models/<model_id>/<model_version>/
            guest.json | host.json              a ServingModel (model.py); both when one party plays both roles
            host_features.sqlite                the host's feature store (features.py)

Every file is replaced whole and atomically (temp file in the same directory, fsync, os.replace), so the
service never reads half a file and a rebinding swaps from one model to the next in one step. Writers of
bindings.json hold an flock on a lock file beside it so two concurrent load_binds never lose an update.
Standard library only: load_bind may import this module without the service's HTTP stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import ROLES, ServingModel, check_name

BINDINGS_FORMAT = "fateops-serving-bindings/1"
BINDINGS_FILE = "bindings.json"
FEATURE_STORE_FILE = "host_features.sqlite"


@dataclass(frozen=True)
class Binding:
    service_id: str
    model_id: str
    model_version: str


def party_dir(data_dir: str | os.PathLike[str], party_id: str | int) -> Path:
    return Path(data_dir) / check_name("party_id", party_id)


def model_dir(party_directory: str | os.PathLike[str], model_id: str, model_version: str) -> Path:
    return (
        Path(party_directory) / "models" / check_name("model_id", model_id) / check_name("model_version", model_version)
    )


def model_path(party_directory: str | os.PathLike[str], model_id: str, model_version: str, role: str) -> Path:
    if role not in ROLES:
        raise ValueError(f"role {role!r} must be one of {', '.join(ROLES)}")
    return model_dir(party_directory, model_id, model_version) / f"{role}.json"


def feature_store_path(party_directory: str | os.PathLike[str], model_id: str, model_version: str) -> Path:
    """Where load_bind builds a host's feature store for a model (the host model's feature_store names it)."""
    return model_dir(party_directory, model_id, model_version) / FEATURE_STORE_FILE


def bindings_path(party_directory: str | os.PathLike[str]) -> Path:
    return Path(party_directory) / BINDINGS_FILE


def atomic_write_bytes(path: Path, content: bytes) -> None:
    """Replace path with content so that readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    # The rename itself is durable only once the directory is synced.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def write_model(party_directory: str | os.PathLike[str], model: ServingModel) -> bool:
    """Store one party's part of a model; False when the same model is already there (the file is kept).

    "The same" ignores the timestamp, so re-running load_bind for a model changes nothing.
    """
    path = model_path(party_directory, model.model_id, model.model_version, model.role)
    new = model.to_dict()
    try:
        old = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        old = None
    if isinstance(old, dict) and {**old, "timestamp": 0} == {**new, "timestamp": 0}:
        return False
    atomic_write_bytes(path, _dump(new))
    return True


def read_model(party_directory: str | os.PathLike[str], model_id: str, model_version: str, role: str) -> ServingModel:
    """Load a stored model. FileNotFoundError if absent, ValueError if the file is not a valid model."""
    path = model_path(party_directory, model_id, model_version, role)
    try:
        data = json.loads(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"{path.name} of model {model_id}/{model_version} is not JSON: {error}") from None
    return ServingModel.from_dict(data)


def stored_roles(party_directory: str | os.PathLike[str], model_id: str, model_version: str) -> list[str]:
    return [role for role in ROLES if model_path(party_directory, model_id, model_version, role).is_file()]


def parse_bindings(data: Any) -> dict[str, Binding]:
    if not isinstance(data, dict) or data.get("format") != BINDINGS_FORMAT:
        raise ValueError(f"not a bindings file (expected format {BINDINGS_FORMAT!r})")
    services = data.get("services")
    if not isinstance(services, dict):
        raise ValueError("bindings file has no services object")
    bindings = {}
    for service_id, entry in services.items():
        if not isinstance(entry, dict):
            raise ValueError(f"binding of service {service_id!r} is not an object")
        bindings[service_id] = Binding(
            service_id=service_id,
            model_id=check_name("model_id", entry.get("model_id")),
            model_version=check_name("model_version", entry.get("model_version")),
        )
    return bindings


def read_bindings(party_directory: str | os.PathLike[str]) -> dict[str, Binding]:
    """service_id -> Binding; empty when nothing was ever bound. ValueError if the file is corrupt."""
    try:
        content = bindings_path(party_directory).read_bytes()
    except FileNotFoundError:
        return {}
    try:
        return parse_bindings(json.loads(content))
    except ValueError as error:
        raise ValueError(f"{BINDINGS_FILE}: {error}") from None


@contextlib.contextmanager
def _bindings_lock(party_directory: Path) -> Iterator[None]:
    party_directory.mkdir(parents=True, exist_ok=True)
    with open(party_directory / f".{BINDINGS_FILE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_bindings(party_directory: Path, bindings: dict[str, Binding]) -> None:
    services = {b.service_id: {"model_id": b.model_id, "model_version": b.model_version} for b in bindings.values()}
    document = {"format": BINDINGS_FORMAT, "updated": int(time.time() * 1000), "services": services}
    atomic_write_bytes(bindings_path(party_directory), _dump(document))


def bind_service(party_directory: str | os.PathLike[str], service_id: str, model_id: str, model_version: str) -> bool:
    """Point service_id at a stored model; False when it already pointed there (nothing is written).

    The model must be stored first (write_model) for at least one role of this party. The running service
    picks the new binding up on its next request, without a restart.
    """
    directory = Path(party_directory)
    if not isinstance(service_id, str) or not service_id or len(service_id) > 200:
        raise ValueError("service_id must be a non-empty string of at most 200 characters")
    if not stored_roles(directory, model_id, model_version):
        raise FileNotFoundError(
            f"model {model_id}/{model_version} is not stored for this party: write_model it before binding"
        )
    with _bindings_lock(directory):
        bindings = read_bindings(directory)
        current = bindings.get(service_id)
        if current is not None and (current.model_id, current.model_version) == (model_id, model_version):
            return False
        bindings[service_id] = Binding(service_id, model_id, model_version)
        _write_bindings(directory, bindings)
    return True


def unbind_service(party_directory: str | os.PathLike[str], service_id: str) -> bool:
    """Remove a service's binding (the model files stay); False when it was not bound."""
    directory = Path(party_directory)
    with _bindings_lock(directory):
        bindings = read_bindings(directory)
        if bindings.pop(service_id, None) is None:
            return False
        _write_bindings(directory, bindings)
    return True
