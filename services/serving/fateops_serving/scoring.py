"""A host's side of an inference: its partial score w.x for the ids a guest sends, and nothing else.

The same function answers a guest over HTTP and a guest in the same process (one party id playing guest and
host, or several parties on one host), so both paths score, check and fail identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import RetCode, ServingError
from .model import check_name, linear_score
from .repository import ModelRepository

# The key a host also finds the match id under when its own match column has another name.
FALLBACK_MATCH_KEY = "id"


@dataclass(frozen=True)
class PartialRequest:
    """Which host model a guest asks: the model key is the same on every party of a FATE 2.x job."""

    model_id: str
    model_version: str
    guest_party_id: str
    host_party_id: str

    def head(self) -> dict[str, str]:
        return {
            "modelId": self.model_id,
            "modelVersion": self.model_version,
            "guestPartyId": self.guest_party_id,
            "hostPartyId": self.host_party_id,
        }

    @classmethod
    def from_head(cls, head: Any) -> PartialRequest:
        if not isinstance(head, Mapping):
            raise ServingError(
                RetCode.PARAM_ERROR, "head must be an object with modelId, modelVersion, guestPartyId and hostPartyId"
            )
        try:
            return cls(
                model_id=check_name("modelId", head.get("modelId")),
                model_version=check_name("modelVersion", head.get("modelVersion")),
                guest_party_id=check_name("guestPartyId", head.get("guestPartyId")),
                host_party_id=check_name("hostPartyId", head.get("hostPartyId")),
            )
        except ValueError as error:
            raise ServingError(RetCode.PARAM_ERROR, f"head: {error}") from None


@dataclass(frozen=True)
class RowResult:
    index: int
    retcode: int
    retmsg: str
    score: float | None = None


def host_partial_scores(
    repository: ModelRepository, request: PartialRequest, rows: Sequence[tuple[int, Any]]
) -> list[RowResult]:
    """w.x of the host's own features for each (index, sendToRemoteFeatureData) row.

    A problem with the whole request (no such model, a guest it does not serve) raises ServingError; a problem
    with one row (no id, an id not in the store) is that row's result.
    """
    model = repository.host_model(
        request.host_party_id, request.model_id, request.model_version, request.guest_party_id
    )
    store = repository.feature_store(model)
    key = model.match_id_name
    results = []
    for index, send in rows:
        if not isinstance(send, Mapping):
            results.append(RowResult(index, RetCode.PARAM_ERROR, "sendToRemoteFeatureData must be an object"))
            continue
        # The id under the host's own match column name, or under "id" (what FATE-Serving callers, and the
        # facade, send whatever each host calls its column).
        raw = send.get(key, send.get(FALLBACK_MATCH_KEY))
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            results.append(
                RowResult(
                    index,
                    RetCode.PARAM_ERROR,
                    f"sendToRemoteFeatureData.{key} (or .{FALLBACK_MATCH_KEY}): the id host party {model.party_id} "
                    "matches on is missing or is not a string or integer",
                )
            )
            continue
        values = store.lookup(str(raw).strip())
        if values is None:
            results.append(
                RowResult(
                    index,
                    RetCode.HOST_FEATURE_NOT_EXIST,
                    f"the id is not in the feature store of model {model.model_id}/{model.model_version}",
                )
            )
            continue
        results.append(RowResult(index, RetCode.SUCCESS, "success", linear_score(model.coef, values)))
    return results
