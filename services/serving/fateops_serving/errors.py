"""Return codes of the serving API and the one exception that carries them.

The numbers are FATE-Serving's own (its StatusCode table) wherever it has one for the same failure, so callers
written for FATE-Serving keep working. Like FATE-Serving, a failure that happened on a host party reaches the
caller of the guest prefixed with a 2: a host's 113 becomes 2113.
"""

from __future__ import annotations

from enum import IntEnum


class RetCode(IntEnum):
    SUCCESS = 0
    PARAM_ERROR = 100  # the request is not the JSON shape the endpoint expects
    FEATURE_ERROR = 102  # features do not match the model's header (missing, unexpected, wrong count)
    MODEL_NULL = 104  # no model bound to the service id (or, on a host, no model for the model key)
    NET_ERROR = 105  # "remote rpc exception": a host party did not answer in time or refused
    ROUTER_ERROR = 106  # no serving address is known for a host party of the model
    LOAD_MODEL_ERROR = 107  # a bound model's file is missing or unreadable
    SYSTEM_ERROR = 110  # a bug: anything not foreseen
    HOST_FEATURE_NOT_EXIST = 113  # the host's feature store has no row for the id it was sent
    FEATURE_VALUE_ERROR = 116  # a feature value is not a finite number
    INVALID_ROLE = 121  # this party does not play the role the request needs
    SERVICE_NOT_FOUND = 122  # no such HTTP endpoint
    MODEL_INIT_ERROR = 123  # the model's type cannot be served (only hetero LR and LinR can)
    INVALID_RESPONSE = 135  # a host answered, but not with a partial score


HOST_PREFIX = 2000


def remote_retcode(host_retcode: int) -> int:
    """The code a guest reports for a failure a host reported (FATE-Serving's "2" + code convention)."""
    if 0 < host_retcode < 1000:
        return HOST_PREFIX + host_retcode
    return host_retcode


class ServingError(Exception):
    """A failure that is answered with its retcode and message, in the API's JSON shape.

    Messages name features, keys and parties, never feature values or ids, so they are safe to log.
    """

    def __init__(self, retcode: int, message: str) -> None:
        super().__init__(message)
        self.retcode = int(retcode)
        self.message = message


class UnsupportedModelError(ValueError):
    """A FATE model output (or model file) of a kind this service cannot score."""
