# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The model registry: model archives stored in and restored from a file tree, MySQL/MariaDB, Redis or S3.

An archive (export/migrate zip) is kept under a key ``<model_id>/<model_version>/<role>/<party_id>`` together with
its sha256. Store writes the archive, reads it back and compares the sha256 before it reports success; the source
file is only ever read. Restore checks the sha256 before it writes the file (atomically).

Runs on party hosts, where the archives are. Redis speaks its plain protocol over a socket (standard library);
MySQL uses PyMySQL and S3 uses boto3, both part of the FATE 2.2 runtime (FATE's own model store uses them), so
store/restore runs with the party's FATE runtime interpreter.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENGINES = ("file", "mysql", "redis", "s3")


class StoreError(Exception):
    """The store cannot be used or holds no good copy; the message names the problem and the fix."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_key(model_id: str, model_version: str, role: str, party_id: str | int) -> str:
    return f"{model_id}/{model_version}/{role}/{party_id}"


@dataclass(frozen=True)
class Stored:
    data: bytes
    sha256: str


class FileStore:
    """A directory tree (a mounted disk or network share): <root>/<key>.zip and <key>.zip.sha256."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if not options.get("path"):
            raise StoreError("the file store needs path: the directory that keeps the archives")
        self.root = Path(options["path"])

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.zip"

    def put(self, key: str, data: bytes, digest: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            path.with_name(path.name + ".sha256").write_text(digest + "\n")
            partial.replace(path)
        except OSError as exc:
            raise StoreError(f"cannot write to the file store at {self.root}: {exc}") from None

    def get(self, key: str) -> Stored | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            digest = path.with_name(path.name + ".sha256").read_text().strip()
            return Stored(path.read_bytes(), digest)
        except OSError as exc:
            raise StoreError(f"cannot read {path} from the file store: {exc}") from None


class MysqlStore:
    """A table (created when missing) in a MySQL or MariaDB database: key, sha256, archive bytes."""

    TABLE = "fateops_model_store"

    def __init__(self, options: Mapping[str, Any]) -> None:
        try:
            import pymysql
        except ImportError:
            raise StoreError(
                "the mysql engine needs PyMySQL; run the store with the party's FATE runtime interpreter"
            ) from None
        self._pymysql = pymysql
        for name in ("host", "user", "database"):
            if not options.get(name):
                raise StoreError(f"the mysql store needs {name}")
        self.options = options

    def _connect(self) -> Any:
        try:
            return self._pymysql.connect(
                host=self.options["host"],
                port=int(self.options.get("port") or 3306),
                user=self.options["user"],
                password=self.options.get("password") or "",
                database=self.options["database"],
                connect_timeout=10,
                autocommit=False,
            )
        except self._pymysql.MySQLError as exc:
            raise StoreError(
                f"cannot connect to MySQL at {self.options['host']}:{self.options.get('port') or 3306} "
                f"({exc.args[-1] if exc.args else exc}); check host, port, user and password"
            ) from None

    def put(self, key: str, data: bytes, digest: str) -> None:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.TABLE} (storage_key VARCHAR(255) PRIMARY KEY, "
                    "sha256 CHAR(64) NOT NULL, archive LONGBLOB NOT NULL, stored_at TIMESTAMP "
                    "DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)"
                )
                cursor.execute(
                    f"REPLACE INTO {self.TABLE} (storage_key, sha256, archive) VALUES (%s, %s, %s)",
                    (key, digest, data),
                )
            connection.commit()
        except self._pymysql.MySQLError as exc:
            connection.rollback()
            raise StoreError(f"MySQL refused the archive ({exc.args[-1] if exc.args else exc})") from None
        finally:
            connection.close()

    def get(self, key: str) -> Stored | None:
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT archive, sha256 FROM {self.TABLE} WHERE storage_key = %s", (key,))
                row = cursor.fetchone()
        except self._pymysql.MySQLError as exc:
            if exc.args and exc.args[0] == 1146:  # no such table: nothing was ever stored
                return None
            raise StoreError(f"MySQL cannot read the archive ({exc.args[-1] if exc.args else exc})") from None
        finally:
            connection.close()
        return Stored(bytes(row[0]), str(row[1])) if row else None


class RedisStore:
    """Two Redis keys per archive, written with MULTI/EXEC so they change together."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if not options.get("host"):
            raise StoreError("the redis store needs host")
        self.host = str(options["host"])
        self.port = int(options.get("port") or 6379)
        self.password = options.get("password")
        self.db = int(options.get("db") or 0)
        self.prefix = str(options.get("key_prefix") or "fateops:model:")

    def _command(self, connection: socket.socket, reader: Any, *parts: bytes | str) -> Any:
        encoded = [part.encode() if isinstance(part, str) else part for part in parts]
        message = b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)
        connection.sendall(message)
        return self._reply(reader)

    def _reply(self, reader: Any) -> Any:
        line = reader.readline()
        if not line:
            raise StoreError(f"Redis at {self.host}:{self.port} closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise StoreError(f"Redis at {self.host}:{self.port} answered: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = reader.read(length + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply(reader) for _ in range(count)]
        raise StoreError(f"Redis at {self.host}:{self.port} sent an unknown reply: {line[:40]!r}")

    def _session(self, *commands: tuple[bytes | str, ...]) -> list[Any]:
        try:
            with socket.create_connection((self.host, self.port), timeout=10) as connection:
                reader = connection.makefile("rb")
                if self.password:
                    self._command(connection, reader, "AUTH", str(self.password))
                if self.db:
                    self._command(connection, reader, "SELECT", str(self.db))
                return [self._command(connection, reader, *command) for command in commands]
        except OSError as exc:
            raise StoreError(f"cannot reach Redis at {self.host}:{self.port} ({exc}); check host and port") from None

    def put(self, key: str, data: bytes, digest: str) -> None:
        replies = self._session(
            ("MULTI",),
            ("SET", self.prefix + key, data),
            ("SET", self.prefix + key + ":sha256", digest),
            ("EXEC",),
        )
        if replies[-1] is None:
            raise StoreError("Redis did not apply the write; try again")

    def get(self, key: str) -> Stored | None:
        data, digest = self._session(("GET", self.prefix + key), ("GET", self.prefix + key + ":sha256"))
        if data is None:
            return None
        return Stored(data, (digest or b"").decode())


class S3Store:
    """An S3-compatible bucket (AWS, Tencent COS, MinIO...): object <key_prefix><key>.zip, sha256 in its metadata."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StoreError(
                "the s3 engine needs boto3; run the store with the party's FATE runtime interpreter"
            ) from None
        if not options.get("bucket"):
            raise StoreError("the s3 store needs bucket")
        self.bucket = str(options["bucket"])
        self.prefix = str(options.get("key_prefix") or "fateops/models/")
        self._client = boto3.client(
            "s3",
            endpoint_url=options.get("endpoint_url"),
            region_name=options.get("region") or "us-east-1",
            aws_access_key_id=options.get("access_key"),
            aws_secret_access_key=options.get("secret_key"),
            config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 2}),
        )
        from botocore.exceptions import BotoCoreError, ClientError

        self._errors = (BotoCoreError, ClientError)

    def _object(self, key: str) -> str:
        return f"{self.prefix}{key}.zip"

    def put(self, key: str, data: bytes, digest: str) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data, Metadata={"sha256": digest})
        except self._errors as exc:
            raise StoreError(f"the S3 store refused the archive ({exc}); check endpoint, bucket and keys") from None

    def get(self, key: str) -> Stored | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._object(key))
        except self._errors as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise StoreError(f"the S3 store cannot be read ({exc}); check endpoint, bucket and keys") from None
        return Stored(answer["Body"].read(), answer.get("Metadata", {}).get("sha256", ""))


def open_store(engine: str, options: Mapping[str, Any]) -> FileStore | MysqlStore | RedisStore | S3Store:
    stores = {"file": FileStore, "mysql": MysqlStore, "redis": RedisStore, "s3": S3Store}
    if engine not in stores:
        raise StoreError(f"unknown store engine {engine!r}; use one of {', '.join(ENGINES)}")
    return stores[engine](options)


def store_archive(store: Any, key: str, source: Path) -> str:
    """Put the archive in the store and read it back; returns its sha256. The source file is only read."""
    data = source.read_bytes()
    digest = sha256_bytes(data)
    store.put(key, data, digest)
    copy = store.get(key)
    if copy is None or copy.sha256 != digest or sha256_bytes(copy.data) != digest:
        raise StoreError(f"the store did not keep {key} intact (read-back sha256 differs); check the store")
    return digest


def restore_archive(store: Any, key: str, target: Path) -> str:
    """Fetch the archive, check its sha256, write it atomically; returns the sha256."""
    copy = store.get(key)
    if copy is None:
        raise StoreError(f"the store holds no archive {key}; store it first or check model id, version and party")
    actual = sha256_bytes(copy.data)
    if actual != copy.sha256:
        raise StoreError(
            f"the stored archive {key} does not match its sha256 ({actual[:12]}... != {copy.sha256[:12]}...): "
            "it was damaged in the store; store it again from a good copy"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(copy.data)
    partial.replace(target)
    return actual
