# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The attributes of a module that supports check mode fully and has no diff mode."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""
