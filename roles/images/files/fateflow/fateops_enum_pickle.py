"""Imported by every Python of the FATE-Flow image's venv (FATE-Flow and its task processes), from a .pth file.

Debian bookworm's Python 3.11.2 pickles an enum member as ``getattr(<class>, <name>)``; FATE's federation
unpickler allows no ``builtins.getattr`` and refuses such a message from another party ("Deserialization is
restricted for class builtins.getattr"), so hetero training fails. Later 3.11 releases pickle a member by value,
as FATE expects: do the same here.
"""

import enum
import pickle


def _by_value(member, protocol):
    return member.__class__, (member._value_,)


class _Probe(enum.Enum):
    A = 1


def _pickles_by_name() -> bool:
    return b"getattr" in pickle.dumps(_Probe.A, protocol=2)


if _pickles_by_name():
    enum.Enum.__reduce_ex__ = _by_value
