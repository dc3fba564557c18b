"""A host's feature store: its own training rows, indexed by id, in one sqlite file.

load_bind builds it from the CSV the host uploaded for training; the service answers a partial score with one
primary-key lookup (a B-tree search, microseconds) instead of scanning a table per request. A row's values are
stored as one packed little-endian float64 blob in the model's header order, so a lookup decodes with a single
struct.unpack. The file is built under a temporary name and renamed into place, so a rebuild never disturbs a
running service (which keeps reading the old file until it notices the new one).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sqlite3
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import to_number

STORE_FORMAT = "fateops-serving-features/1"


@dataclass(frozen=True)
class FeatureStoreSummary:
    rows: int
    changed: bool


def _fingerprint(csv_path: Path, id_column: str, header: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([STORE_FORMAT, id_column, list(header)]).encode())
    with csv_path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored_meta(store_path: Path) -> dict[str, str]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)) as connection:
            return dict(connection.execute("SELECT key, value FROM meta"))
    except sqlite3.Error:
        return {}


def _rows(csv_path: Path, id_column: str, header: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    packer = struct.Struct(f"<{len(header)}d")
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        columns = [name.strip() for name in next(reader, [])]
        if id_column not in columns:
            raise ValueError(f"{csv_path.name}: no id column {id_column!r} (columns: {', '.join(columns)})")
        missing = [name for name in header if name not in columns]
        if missing:
            raise ValueError(f"{csv_path.name}: the model's features {', '.join(missing)} are not columns")
        id_index = columns.index(id_column)
        indexes = [columns.index(name) for name in header]
        for line_number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(columns):
                raise ValueError(f"{csv_path.name} line {line_number}: {len(row)} fields, header has {len(columns)}")
            values = [to_number(row[i]) for i in indexes]
            if None in values:
                name = header[values.index(None)]
                raise ValueError(f"{csv_path.name} line {line_number}: feature {name!r} is not a finite number")
            yield row[id_index].strip(), packer.pack(*values)


def build_feature_store(
    csv_path: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    id_column: str,
    header: Sequence[str],
) -> FeatureStoreSummary:
    """Index a host's training CSV (id column + features) by id, keeping the features of header in its order.

    Returns the row count and whether the file was (re)built: a store already built from the same CSV bytes,
    id column and header is left alone. ValueError names the line of a malformed row or a repeated id.
    """
    source = Path(csv_path)
    target = Path(store_path)
    fingerprint = _fingerprint(source, id_column, header)
    meta = _stored_meta(target)
    if meta.get("fingerprint") == fingerprint:
        return FeatureStoreSummary(rows=int(meta["rows"]), changed=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(temp)) as connection:
            # A private file being built: no journal needed, the rename below publishes it.
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            connection.execute("CREATE TABLE features (id TEXT PRIMARY KEY, x BLOB NOT NULL) WITHOUT ROWID")
            try:
                connection.executemany("INSERT INTO features VALUES (?, ?)", _rows(source, id_column, header))
            except sqlite3.IntegrityError:
                raise ValueError(f"{source.name}: ids in column {id_column!r} repeat; they must be unique") from None
            rows = connection.execute("SELECT count(*) FROM features").fetchone()[0]
            connection.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("format", STORE_FORMAT),
                    ("id_column", id_column),
                    ("header", json.dumps(list(header))),
                    ("rows", str(rows)),
                    ("fingerprint", fingerprint),
                ],
            )
            connection.commit()
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return FeatureStoreSummary(rows=rows, changed=True)


class FeatureStore:
    """Read-only lookups in a built store. One connection, used from the service's event-loop thread only."""

    def __init__(self, store_path: str | os.PathLike[str]) -> None:
        self.path = Path(store_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"feature store {self.path.name} does not exist")
        self._connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            meta = dict(self._connection.execute("SELECT key, value FROM meta"))
            if meta.get("format") != STORE_FORMAT:
                raise ValueError(f"feature store {self.path.name} has format {meta.get('format')!r}")
            self.header: tuple[str, ...] = tuple(json.loads(meta["header"]))
            self.id_column = meta["id_column"]
            self.rows = int(meta["rows"])
        except (sqlite3.Error, KeyError, ValueError) as error:
            self._connection.close()
            raise ValueError(f"feature store {self.path.name} is unreadable: {error}") from None
        self._unpack = struct.Struct(f"<{len(self.header)}d").unpack

    def lookup(self, row_id: str) -> tuple[float, ...] | None:
        found = self._connection.execute("SELECT x FROM features WHERE id = ?", (row_id,)).fetchone()
        return None if found is None else self._unpack(found[0])

    def close(self) -> None:
        self._connection.close()
