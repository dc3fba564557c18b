"""Read one party's part of a model from a FATE-Flow 2.x model archive (the zip of export, import and migrate).

An imported model has no training job on its FATE-Flow, so /output/model/query cannot find it; the archive kept at
import time holds the same component model. Its entries are ``<model_id>/<model_version>/<role>/<party_id>/
<task_name>/<output_key>``, each a tar with the model (``model_key`` in the metadata YAML beside it).
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from .errors import UnsupportedModelError


def _task_model(raw: bytes) -> Any:
    with tarfile.open(fileobj=io.BytesIO(raw)) as bundle:
        metas = [m for m in bundle.getmembers() if m.isfile() and m.name.endswith(".yaml")]
        if len(metas) != 1:
            raise UnsupportedModelError(f"a task model holds {len(metas)} metadata files; one expected")
        meta = yaml.safe_load(bundle.extractfile(metas[0]).read())  # type: ignore[union-attr]
        key = meta.get("model_key") if isinstance(meta, dict) else None
        if not key:
            raise ValueError("the task model's metadata names no model_key")
        member = bundle.extractfile(str(key))
        if member is None:
            raise ValueError(f"the task model lacks its model file {key}")
        return json.loads(member.read())


def output_from_archive(path: Path, role: str, party_id: str, task_name: str) -> dict[str, Any]:
    """The task's models keyed by output name: what /output/model/query answers as ``data`` for a trained job."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"model archive {path} is not readable: {exc}") from None
    outputs: dict[str, Any] = {}
    with archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or len(parts) != 6:
                continue
            if (parts[2], parts[3], parts[4]) == (role, str(party_id), task_name):
                outputs[parts[5]] = _task_model(archive.read(info))
    if not outputs:
        raise UnsupportedModelError(f"model archive {path} holds no {task_name} model of {role} {party_id}")
    return outputs
