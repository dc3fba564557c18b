"""What the running service knows of the files under data_dir: bindings, models and feature stores, cached.

Each lookup stats the file it depends on (a few microseconds) and re-reads it only when its identity
(inode, mtime, size) changed. load_bind replaces files by rename, which always gives a new inode, so a new
binding or model is seen by the very next request without a restart, and an unchanged file is never re-parsed.
SIGHUP drops every cache (reload()).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import RetCode, ServingError
from .features import FeatureStore
from .model import ServingModel
from .store import (
    FEATURE_STORE_FILE,
    Binding,
    bindings_path,
    model_dir,
    model_path,
    party_dir,
    read_bindings,
    read_model,
)

logger = logging.getLogger("fateops_serving")

Signature = tuple[int, int, int]


def _signature(path: Path) -> Signature | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)


class ModelRepository:
    def __init__(self, data_dir: Path, party_ids: Iterable[str]) -> None:
        self.party_ids = tuple(party_ids)
        self._party_dirs = {party_id: party_dir(data_dir, party_id) for party_id in self.party_ids}
        self._bindings: dict[str, tuple[Signature | None, dict[str, Binding]]] = {}
        self._models: dict[Path, tuple[Signature, ServingModel]] = {}
        self._stores: dict[Path, tuple[Signature, FeatureStore]] = {}
        # Building a Path per request showed up in profiles; the few distinct ones are kept.
        self._bindings_paths = {party_id: bindings_path(d) for party_id, d in self._party_dirs.items()}
        self._model_paths: dict[tuple[str, str, str, str], Path] = {}

    def reload(self) -> None:
        for _, store in self._stores.values():
            store.close()
        self._bindings.clear()
        self._models.clear()
        self._stores.clear()

    def bindings(self, party_id: str) -> dict[str, Binding]:
        path = self._bindings_paths[party_id]
        signature = _signature(path)
        cached = self._bindings.get(party_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            bindings = read_bindings(self._party_dirs[party_id])
        except ValueError as error:
            # Keep answering with the last good bindings; the file is written atomically, so this is a hand edit.
            logger.error("party %s: ignoring unreadable %s: %s", party_id, path.name, error)
            bindings = cached[1] if cached is not None else {}
        self._bindings[party_id] = (signature, bindings)
        return bindings

    def model(self, party_id: str, model_id: str, model_version: str, role: str) -> ServingModel:
        """The stored model; FileNotFoundError when absent, ValueError when unreadable."""
        key = (party_id, model_id, model_version, role)
        path = self._model_paths.get(key)
        if path is None:
            path = self._model_paths[key] = model_path(self._party_dirs[party_id], model_id, model_version, role)
        signature = _signature(path)
        if signature is None:
            # Not kept: model keys come from other parties, and unknown ones must not grow the caches.
            self._model_paths.pop(key, None)
            self._models.pop(path, None)
            raise FileNotFoundError(path.name)
        cached = self._models.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        model = read_model(self._party_dirs[party_id], model_id, model_version, role)
        if (model.model_id, model.model_version, model.role, model.party_id) != (
            model_id,
            model_version,
            role,
            party_id,
        ):
            raise ValueError(f"{path.name} describes another model, role or party than its path")
        self._models[path] = (signature, model)
        return model

    def guest_model(self, service_id: str, party_hint: str | None = None) -> ServingModel:
        """The guest model bound to service_id by one of this host's parties, ready to score."""
        parties = self.party_ids
        if party_hint is not None:
            if party_hint not in self._party_dirs:
                raise ServingError(
                    RetCode.INVALID_ROLE,
                    f"party {party_hint} is not served here (this service plays {', '.join(self.party_ids)})",
                )
            parties = (party_hint,)
        bound: list[str] = []
        guests: list[ServingModel] = []
        for party_id in parties:
            binding = self.bindings(party_id).get(service_id)
            if binding is None:
                continue
            bound.append(party_id)
            try:
                guests.append(self.model(party_id, binding.model_id, binding.model_version, "guest"))
            except FileNotFoundError:
                if "host" not in self._stored_roles(party_id, binding):
                    raise ServingError(
                        RetCode.LOAD_MODEL_ERROR,
                        f"service {service_id!r} is bound to model {binding.model_id}/{binding.model_version}, "
                        f"whose files are gone from party {party_id}: run load_bind again",
                    ) from None
            except ValueError as error:
                raise ServingError(
                    RetCode.LOAD_MODEL_ERROR,
                    f"model {binding.model_id}/{binding.model_version} bound to service {service_id!r} cannot "
                    f"be loaded: {error}",
                ) from None
        if not bound:
            raise ServingError(
                RetCode.MODEL_NULL, f"no model is bound to service id {service_id!r} here: run load_bind first"
            )
        if not guests:
            raise ServingError(
                RetCode.INVALID_ROLE,
                f"service {service_id!r} is bound here only as host (party {', '.join(bound)}): send inference "
                "requests to the guest party's serving",
            )
        if len(guests) > 1:
            raise ServingError(
                RetCode.PARAM_ERROR,
                f"service {service_id!r} has a guest model on several parties here "
                f"({', '.join(g.party_id for g in guests)}): set head.partyId",
            )
        guests[0].check_servable()
        return guests[0]

    def _stored_roles(self, party_id: str, binding: Binding) -> list[str]:
        directory = model_dir(self._party_dirs[party_id], binding.model_id, binding.model_version)
        return [role for role in ("guest", "host") if (directory / f"{role}.json").is_file()]

    def host_model(self, party_id: str, model_id: str, model_version: str, guest_party_id: str) -> ServingModel:
        """The host model a guest asks a partial score of, checked against the asking guest."""
        if party_id not in self._party_dirs:
            raise ServingError(
                RetCode.ROUTER_ERROR,
                f"host party {party_id} is not served at this address (it serves {', '.join(self.party_ids)})",
            )
        try:
            model = self.model(party_id, model_id, model_version, "host")
        except FileNotFoundError:
            raise ServingError(
                RetCode.MODEL_NULL, f"party {party_id} has no host model {model_id}/{model_version}: run load_bind"
            ) from None
        except ValueError as error:
            raise ServingError(
                RetCode.LOAD_MODEL_ERROR, f"host model {model_id}/{model_version} cannot be loaded: {error}"
            ) from None
        model.check_servable()
        if model.guest_party_id != guest_party_id:
            raise ServingError(
                RetCode.INVALID_ROLE,
                f"host model {model_id}/{model_version} of party {party_id} serves guest {model.guest_party_id}, "
                f"not {guest_party_id}",
            )
        return model

    def feature_store(self, model: ServingModel) -> FeatureStore:
        name = model.feature_store or FEATURE_STORE_FILE
        key = (model.party_id, model.model_id, model.model_version, name)
        path = self._model_paths.get(key)
        if path is None:
            path = model_dir(self._party_dirs[model.party_id], model.model_id, model.model_version) / name
            self._model_paths[key] = path
        signature = _signature(path)
        cached = self._stores.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if cached is not None:
            cached[1].close()
            del self._stores[path]
        try:
            store = FeatureStore(path)
        except (FileNotFoundError, ValueError) as error:
            raise ServingError(
                RetCode.LOAD_MODEL_ERROR,
                f"host party {model.party_id} has no usable feature store for model "
                f"{model.model_id}/{model.model_version} ({error}): run load_bind",
            ) from None
        if store.header != model.header:
            store.close()
            raise ServingError(
                RetCode.FEATURE_ERROR,
                f"the feature store of host party {model.party_id} holds other features than model "
                f"{model.model_id}/{model.model_version} uses: rebuild it with load_bind",
            )
        self._stores[path] = (signature, store)
        return store

    def summary(self) -> dict[str, list[str]]:
        return {party_id: sorted(self.bindings(party_id)) for party_id in self.party_ids}
