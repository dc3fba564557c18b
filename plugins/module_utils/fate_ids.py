# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""FATE's identifiers: party ids, and model ids, model versions and job ids, checked by one rule each.

The controller checks what a user gives before anything runs; modules on party hosts check again before they
build a path from an id. Standard library only: it runs on party hosts too.
"""

from __future__ import annotations

import re
from typing import Any

PARTY_ID_MAX_DIGITS = 10
# ASCII digits only (str.isdigit and int() also take other scripts' digits, '+', spaces and '_'); no leading zero,
# so one party has one spelling.
_PARTY_ID = re.compile(rf"[1-9][0-9]{{0,{PARTY_ID_MAX_DIGITS - 1}}}")

MODEL_ID_MAX_LENGTH = 128
# FATE 2.x job ids (model ids and versions) are digits; FATE 1.x model ids are
# "arbiter-10000#guest-9999#host-10000#model"; versions "0" or a job id. They become path components, so:
# no '/', no leading '-' or '.', no '..'.
_MODEL_ID = re.compile(rf"[A-Za-z0-9_#][A-Za-z0-9_#.\-]{{0,{MODEL_ID_MAX_LENGTH - 1}}}")


class IdError(ValueError):
    """An identifier that is not FATE's; the message names it and the rule."""


def party_id(value: Any, what: str = "party id") -> int:
    """A positive party id of at most ten ASCII digits, from an int or its decimal string."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = None
    if text is None or not _PARTY_ID.fullmatch(text):
        raise IdError(
            f"{what} {value!r} is not a party id; give a positive integer of 1 to {PARTY_ID_MAX_DIGITS} ASCII "
            "digits without sign, spaces or leading zeros, such as 9999"
        )
    return int(text)


def model_name(value: Any, what: str = "model_id") -> str:
    """A model id, model version or job id as FATE writes them; ints (a version 0) become their digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _MODEL_ID.fullmatch(value) or ".." in value:
        raise IdError(
            f"{what} {value!r} is not a FATE id; use letters, digits, '_', '-', '#' and '.' only "
            f"(no '/', no '..', not starting with '-' or '.'), at most {MODEL_ID_MAX_LENGTH} characters, "
            "such as the model_id and model_version that submit printed"
        )
    return value
