"""Turn what FATE-Flow 2.2 answers for a trained CoordinatedLR / CoordinatedLinR task into a ServingModel.

GET /v2/output/model/query?job_id&role&party_id&task_name answers {"code", "message", "data": {"output_model":
MODEL}}, where MODEL is what the component wrote: {"data": {"estimator": ESTIMATOR}, "meta": {...}}. ESTIMATOR
holds "param": {"coef_", "intercept_", "dtype"}, "header" and "fit_intercept". coef_ is a column, [[w0], [w1],
...], because FATE keeps the weights as an (n, 1) tensor; intercept_ is [b] on a guest that fitted one and null
otherwise (always null on a host). LR's meta has "ovr" (and the guest's "labels"); LinR's has neither.
A multi-class (one-vs-rest) LR has one ESTIMATOR per class, which this service does not serve.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import UnsupportedModelError
from .model import LINKS, ServingModel


def unwrap_output_model(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """The component's model from the whole response, its data member, or the model itself."""
    current: Any = response
    if isinstance(current, Mapping) and "code" in current and "data" in current:
        if current.get("code") not in (0, "0"):
            raise ValueError(f"FATE-Flow answered code {current.get('code')}: {current.get('message')}")
        current = current["data"]
    if isinstance(current, Mapping) and "output_model" in current:
        current = current["output_model"]
    if not (isinstance(current, Mapping) and isinstance(current.get("data"), Mapping)):
        raise UnsupportedModelError("no component model found (expected data.output_model.data.estimator)")
    return current


def model_from_fate_output(
    response: Mapping[str, Any],
    *,
    model_id: str,
    model_version: str,
    role: str,
    party_id: str | int,
    guest_party_id: str | int,
    host_party_ids: Iterable[str | int] = (),
    algorithm: str | None = None,
    host_addresses: Mapping[str | int, str] | None = None,
    match_id_name: str = "id",
    feature_store: str | None = None,
    timestamp: int | None = None,
) -> ServingModel:
    """Convert FATE-Flow's /output/model/query answer for one party's LR or LinR task.

    algorithm (hetero_lr or hetero_linr) is taken from the meta when not given. UnsupportedModelError means the
    output is not a single-estimator GLM (another component, or a multi-class LR); ValueError means it is one
    but malformed.
    """
    output = unwrap_output_model(response)
    meta = output.get("meta") if isinstance(output.get("meta"), Mapping) else {}
    if algorithm is None:
        algorithm = "hetero_lr" if "ovr" in meta else "hetero_linr"
    if algorithm not in LINKS:
        raise UnsupportedModelError(f"algorithm {algorithm!r} cannot be served: only {', '.join(sorted(LINKS))}")
    if meta.get("ovr"):
        raise UnsupportedModelError("a multi-class (one-vs-rest) LR cannot be served: only binary LR")
    estimator = output["data"].get("estimator")
    if not (isinstance(estimator, Mapping) and isinstance(estimator.get("param"), Mapping)):
        raise UnsupportedModelError("the output has no data.estimator.param: not a CoordinatedLR/LinR model")
    param = estimator["param"]
    header = estimator.get("header")
    if not isinstance(header, list):
        raise ValueError("data.estimator.header is missing: the feature names are needed to serve")
    coef = tuple(_flat_floats(param.get("coef_"), "coef_"))
    intercept = _intercept(param.get("intercept_"))
    if role == "host":
        intercept = None
    return ServingModel(
        model_id=str(model_id),
        model_version=str(model_version),
        role=role,
        party_id=str(party_id),
        algorithm=algorithm,
        header=tuple(str(name) for name in header),
        coef=coef,
        intercept=intercept,
        guest_party_id=str(guest_party_id),
        host_party_ids=tuple(str(p) for p in host_party_ids),
        host_addresses={str(k): str(v) for k, v in (host_addresses or {}).items()},
        match_id_name=match_id_name,
        feature_store=feature_store,
        timestamp=int(time.time() * 1000) if timestamp is None else timestamp,
    )


def _flat_floats(column: Any, name: str) -> list[float]:
    if not isinstance(column, list):
        raise ValueError(f"param.{name} is not a list")
    values = []
    for item in column:
        # A column vector [[w0], [w1], ...] from FATE's (n, 1) tensor, or already flat.
        if isinstance(item, list):
            if len(item) != 1:
                raise ValueError(f"param.{name} has a row of {len(item)} values: one weight per feature expected")
            item = item[0]
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ValueError(f"param.{name} holds a non-number")
        values.append(float(item))
    return values


def _intercept(raw: Any) -> float | None:
    if raw is None or raw == []:
        return None
    # [b] from FATE's (n, 1) tensor; a bare number is accepted too.
    values = _flat_floats(raw if isinstance(raw, list) else [raw], "intercept_")
    if len(values) != 1:
        raise ValueError(f"param.intercept_ has {len(values)} values: one expected")
    return values[0]
