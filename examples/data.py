#!/usr/bin/env python3
"""Example data for two-party training, made from data sets that scikit-learn ships (nothing is downloaded).

- breast: FATE's hetero breast shape. Guest: id, y, x0..x9; host: id, x0..x19 (the other 20 features).
- diabetes: a regression set. Guest: id, y, x0..x4; host: id, x0..x4.
Features (and the regression target) are standardised,
as in FATE's example files. `--hosts N` splits the host features over N hosts.

Usage: python3 examples/data.py breast|diabetes OUT_DIR [--hosts N]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes

GUEST_FEATURES = {"breast": 10, "diabetes": 5}


def _standardise(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / values.std(axis=0)


def _write(path: Path, header: list[str], rows: np.ndarray, ids: np.ndarray, labels: np.ndarray | None) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for index, row in enumerate(rows):
            prefix = [int(ids[index])] + ([labels[index].item()] if labels is not None else [])
            writer.writerow(prefix + [f"{value:.6f}" for value in row])


def write(dataset: str, out_dir: Path, hosts: int = 1) -> dict[str, Path | list[Path]]:
    """Write guest.csv and host.csv (or host1.csv, host2.csv ...) and return their paths."""
    loader = {"breast": load_breast_cancer, "diabetes": load_diabetes}[dataset]
    bunch = loader()
    features = _standardise(np.asarray(bunch.data, dtype=float))
    labels = np.asarray(bunch.target)
    # The regression target is standardised too: FATE's LinR defaults (no target scaling) diverge on raw values.
    labels = labels.astype(int) if dataset == "breast" else np.round(_standardise(labels.astype(float)), 6)
    ids = np.arange(len(features))
    out_dir.mkdir(parents=True, exist_ok=True)
    split = GUEST_FEATURES[dataset]
    guest = out_dir / "guest.csv"
    _write(guest, ["id", "y"] + [f"x{i}" for i in range(split)], features[:, :split], ids, labels)
    host_columns = np.array_split(np.arange(split, features.shape[1]), hosts)
    host_paths = []
    for number, columns in enumerate(host_columns, start=1):
        path = out_dir / ("host.csv" if hosts == 1 else f"host{number}.csv")
        _write(path, ["id"] + [f"x{i}" for i in range(len(columns))], features[:, columns], ids, None)
        host_paths.append(path)
    return {"guest": guest, "hosts": host_paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(GUEST_FEATURES))
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--hosts", type=int, default=1)
    options = parser.parse_args()
    paths = write(options.dataset, options.out_dir, options.hosts)
    print(paths["guest"])
    for path in paths["hosts"]:
        print(path)


if __name__ == "__main__":
    main()
