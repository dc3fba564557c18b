"""One party's part of a trained model, as the service keeps it on disk, and the scoring math.

Plain Python on purpose: a model is a weight per feature, so a dot product over a few dozen floats costs
microseconds, and the service stays free of numpy (whose version FATE's venv pins).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import RetCode, ServingError

MODEL_FORMAT = "fateops-serving-model/1"
ROLES = ("guest", "host")
# The algorithms that can be served and the link each applies to the summed linear score.
LINKS = {"hetero_lr": "sigmoid", "hetero_linr": "identity"}

# Model ids, versions and party ids become path components and arrive from other parties: no separators,
# no leading dot, bounded length.
_NAME = re.compile(r"^[A-Za-z0-9_@#=+\-][A-Za-z0-9_.@#=+\-]{0,199}$")


def check_name(kind: str, value: object) -> str:
    """The value as a string if it is safe as a path component, else ValueError naming the kind."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _NAME.match(text):
        raise ValueError(f"{kind} {value!r} is not a valid name (letters, digits, _ . @ # = + -; no '/')")
    return text


@dataclass(frozen=True)
class ServingModel:
    """A party's part of a hetero GLM: its own header and weights and who the other parties are.

    Guest: intercept (None when FATE fitted none) and the host party ids it must ask for partial scores, with
    optional serving addresses recorded at load_bind time (the service's own config wins over them).
    Host: no intercept; match_id_name is the key of sendToRemoteFeatureData that holds the id to look up, and
    feature_store the file name, inside the model's directory, of its indexed feature store.
    """

    model_id: str
    model_version: str
    role: str
    party_id: str
    algorithm: str
    header: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float | None
    guest_party_id: str
    host_party_ids: tuple[str, ...] = ()
    host_addresses: Mapping[str, str] = field(default_factory=dict)
    match_id_name: str = "id"
    feature_store: str | None = None
    timestamp: int = 0

    def __post_init__(self) -> None:
        check_name("model_id", self.model_id)
        check_name("model_version", self.model_version)
        check_name("party_id", self.party_id)
        check_name("guest_party_id", self.guest_party_id)
        for host in self.host_party_ids:
            check_name("host party_id", host)
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} must be one of {', '.join(ROLES)}")
        if len(self.header) != len(self.coef):
            raise ValueError(f"header has {len(self.header)} names but coef has {len(self.coef)} weights")
        if len(set(self.header)) != len(self.header):
            raise ValueError("header names repeat")
        if not all(isinstance(w, float) and math.isfinite(w) for w in self.coef):
            raise ValueError("coef must be finite floats")
        if self.intercept is not None and not math.isfinite(self.intercept):
            raise ValueError("intercept must be a finite float or null")
        if self.role == "host" and self.intercept is not None:
            raise ValueError("a host part of a hetero GLM has no intercept")
        if self.feature_store is not None and ("/" in self.feature_store or self.feature_store.startswith(".")):
            raise ValueError("feature_store is a file name inside the model's directory")

    @property
    def link(self) -> str | None:
        return LINKS.get(self.algorithm)

    @property
    def servable(self) -> bool:
        return self.link is not None

    @cached_property
    def header_names(self) -> frozenset[str]:
        return frozenset(self.header)

    def check_servable(self) -> None:
        if not self.servable:
            raise ServingError(
                RetCode.MODEL_INIT_ERROR,
                f"model {self.model_id}/{self.model_version} is a {self.algorithm!r} model, which cannot be "
                f"served: only {', '.join(sorted(LINKS))} can",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "role": self.role,
            "party_id": self.party_id,
            "algorithm": self.algorithm,
            "link": self.link,
            "header": list(self.header),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "guest_party_id": self.guest_party_id,
            "host_party_ids": list(self.host_party_ids),
            "host_addresses": dict(self.host_addresses),
            "match_id_name": self.match_id_name,
            "feature_store": self.feature_store,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServingModel:
        """Parse a model file's content. ValueError says which field is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("a model file holds one JSON object")
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {MODEL_FORMAT!r}")
        try:
            intercept = data.get("intercept")
            return cls(
                model_id=str(data["model_id"]),
                model_version=str(data["model_version"]),
                role=str(data["role"]),
                party_id=str(data["party_id"]),
                algorithm=str(data["algorithm"]),
                header=tuple(str(name) for name in data["header"]),
                coef=tuple(_float(w) for w in data["coef"]),
                intercept=None if intercept is None else _float(intercept),
                guest_party_id=str(data["guest_party_id"]),
                host_party_ids=tuple(str(p) for p in data.get("host_party_ids") or ()),
                host_addresses={str(k): str(v) for k, v in (data.get("host_addresses") or {}).items()},
                match_id_name=str(data.get("match_id_name") or "id"),
                feature_store=data.get("feature_store"),
                timestamp=int(data.get("timestamp") or 0),
            )
        except KeyError as missing:
            raise ValueError(f"field {missing} is missing") from None
        except TypeError as wrong:
            raise ValueError(f"a field has the wrong type: {wrong}") from None


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def linear_score(coef: Sequence[float], values: Sequence[float]) -> float:
    """w . x in plain Python (map over two sequences is the fastest pure-Python dot product)."""
    return sum(map(operator.mul, coef, values))


def sigmoid(score: float) -> float:
    # Two branches so that exp never overflows for large |score|.
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    z = math.exp(score)
    return z / (1.0 + z)


def guest_output(model: ServingModel, total_score: float) -> dict[str, float]:
    """The prediction fields of a response for the summed score of all parties.

    LR answers prob and, as FATE-Serving does for LR, the same probability as score; LinR answers score.
    """
    if model.link == "sigmoid":
        prob = sigmoid(total_score)
        return {"prob": prob, "score": prob}
    return {"score": total_score}


def to_number(value: object) -> float | None:
    """A feature value as a finite float, or None. Numeric strings count (FATE-Serving accepts them)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def features_in_header_order(model: ServingModel, feature_data: object) -> list[float]:
    """The request's featureData as floats in the model's header order, or ServingError.

    featureData is FATE-Serving's object of name -> value; a JSON list of values in header order is accepted
    too, so a caller that knows only the order (the facade's positional -params) need not know the names.
    """
    header = model.header
    if isinstance(feature_data, list):
        if len(feature_data) != len(header):
            raise ServingError(
                RetCode.FEATURE_ERROR,
                f"featureData has {len(feature_data)} values, the model expects {len(header)} ({_names(header)})",
            )
        pairs = zip(header, feature_data, strict=True)
    elif isinstance(feature_data, dict):
        if len(feature_data) != len(header) or not model.header_names.issuperset(feature_data):
            missing = [name for name in header if name not in feature_data]
            unexpected = [str(name) for name in feature_data if name not in model.header_names]
            parts = [f"the model expects {len(header)} features ({_names(header)})"]
            if missing:
                parts.append(f"missing: {_names(missing)}")
            if unexpected:
                parts.append(f"unexpected: {_names(unexpected)}")
            raise ServingError(RetCode.FEATURE_ERROR, "featureData does not match the model: " + "; ".join(parts))
        pairs = ((name, feature_data[name]) for name in header)
    else:
        raise ServingError(RetCode.PARAM_ERROR, "body.featureData must be an object of feature name -> number")
    values = []
    for name, raw in pairs:
        number = to_number(raw)
        if number is None:
            raise ServingError(RetCode.FEATURE_VALUE_ERROR, f"feature {name!r} is not a finite number")
        values.append(number)
    return values


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
