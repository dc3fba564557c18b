"""The service's configuration file (YAML, or JSON, which YAML reads too).

    host: 0.0.0.0                 # listen address
    port: 8059                    # FATE-Serving's port
    data_dir: /data/serving       # holds one directory per party id (store.py); relative to this file if relative
    party_ids: [9999]             # the party ids this host plays; one service answers for all of them
    peers:                        # other parties' serving addresses, for the guest's calls to hosts
      10000: 10.77.0.3:8059
    remote_timeout_seconds: 3.0   # bound on a whole call to a host; past it the guest answers 105
    connect_timeout_seconds: 1.0  # bound on opening a connection to a host
    max_batch_size: 1000          # rows accepted in one batchInference
    log_level: INFO

Unknown keys are errors, so that a misspelt knob is not silently ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .model import check_name

DEFAULT_PORT = 8059


@dataclass(frozen=True)
class ServingConfig:
    data_dir: Path
    party_ids: tuple[str, ...]
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    peers: Mapping[str, str] = field(default_factory=dict)
    remote_timeout_seconds: float = 3.0
    connect_timeout_seconds: float = 1.0
    max_batch_size: int = 1000
    log_level: str = "INFO"


class ConfigError(ValueError):
    pass


def split_address(address: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"."""
    host, sep, port = str(address).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"address {address!r} is not host:port")
    return host, int(port)


def _positive(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key} must be a positive number, not {value!r}")
    return float(value)


def parse_config(data: Any, base_dir: Path) -> ServingConfig:
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping")
    known = {f.name for f in fields(ServingConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(map(str, unknown))} (known: {', '.join(sorted(known))})")
    if "data_dir" not in data:
        raise ConfigError("data_dir is required")
    party_ids = data.get("party_ids")
    if not isinstance(party_ids, list) or not party_ids:
        raise ConfigError("party_ids must be a non-empty list of this host's party ids")
    peers = data.get("peers") or {}
    if not isinstance(peers, Mapping):
        raise ConfigError("peers must map party id -> host:port")
    port = data.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"port must be 0..65535 (0 picks a free port), not {port!r}")
    batch = data.get("max_batch_size", 1000)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"max_batch_size must be a positive integer, not {batch!r}")
    try:
        checked_parties = tuple(check_name("party id", p) for p in party_ids)
        checked_peers = {check_name("peer party id", k): str(v) for k, v in peers.items()}
    except ValueError as error:
        raise ConfigError(str(error)) from None
    for address in checked_peers.values():
        split_address(address)
    data_dir = Path(str(data["data_dir"]))
    return ServingConfig(
        data_dir=data_dir if data_dir.is_absolute() else base_dir / data_dir,
        party_ids=checked_parties,
        host=str(data.get("host", "0.0.0.0")),
        port=port,
        peers=checked_peers,
        remote_timeout_seconds=_positive(data, "remote_timeout_seconds", 3.0),
        connect_timeout_seconds=_positive(data, "connect_timeout_seconds", 1.0),
        max_batch_size=batch,
        log_level=str(data.get("log_level", "INFO")).upper(),
    )


def _parse_text(text: str) -> Any:
    try:
        import yaml
    except ImportError:
        # FATE's venv has PyYAML; without it a JSON configuration still works.
        return json.loads(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(str(error)) from None


def load_config(path: str | Path) -> ServingConfig:
    config_path = Path(path)
    try:
        text = config_path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {config_path}: {error.strerror}") from None
    try:
        data = _parse_text(text)
    except ValueError as error:
        raise ConfigError(f"{config_path} is not valid YAML/JSON: {error}") from None
    return parse_config(data, config_path.resolve().parent)
