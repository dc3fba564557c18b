"""The workspace's ssh identity and known_hosts, in OpenSSH's own file formats.

Pure file logic, no network: the key pair Ansible logs in with (`<workspace>/ssh/id_ed25519`), the host keys it
trusts (`<workspace>/ssh/known_hosts`, read by ssh through `-o UserKnownHostsFile=`), and the authorized_keys
merge that bootstrap performs on a host. Nothing here ever holds a password.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fateops.errors import FateopsError
from fateops.workspace import Workspace, atomic_write

SSH_PORT = 22
KEY_NAME = "id_ed25519"
# Markers OpenSSH allows before a known_hosts line.
REVOKED = "@revoked"
CERT_AUTHORITY = "@cert-authority"
# Prefix of a hashed host name (HashKnownHosts yes): |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
HASHED_PREFIX = "|1|"


@dataclass(frozen=True)
class SshPaths:
    directory: Path
    private_key: Path
    public_key: Path
    known_hosts: Path


def ssh_paths(workspace: Workspace) -> SshPaths:
    directory = workspace.home / "ssh"
    return SshPaths(directory, directory / KEY_NAME, directory / f"{KEY_NAME}.pub", directory / "known_hosts")


@dataclass(frozen=True)
class PublicKey:
    """A public key as OpenSSH writes it: type, base64 blob, optional comment."""

    key_type: str
    blob: str
    comment: str = ""

    @property
    def line(self) -> str:
        return " ".join(part for part in (self.key_type, self.blob, self.comment) if part)

    def same_key(self, other: PublicKey) -> bool:
        return (self.key_type, self.blob) == (other.key_type, other.blob)


def _is_blob(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) > 0
    except (binascii.Error, ValueError):
        return False


def _blob_type(blob: str) -> str | None:
    """The key type encoded inside an ssh public key blob (a length-prefixed string)."""
    raw = base64.b64decode(blob)
    if len(raw) < 4:
        return None
    size = int.from_bytes(raw[:4], "big")
    if size == 0 or len(raw) < 4 + size:
        return None
    return raw[4 : 4 + size].decode("ascii", errors="replace")


def parse_public_key(text: str) -> PublicKey:
    """Parse `type base64 [comment]`; the type must agree with the type encoded in the blob."""
    parts = text.strip().split(None, 2)
    if len(parts) < 2 or not _is_blob(parts[1]) or _blob_type(parts[1]) != parts[0]:
        raise ValueError(f"not an OpenSSH public key: {text.strip()[:40]!r}")
    return PublicKey(parts[0], parts[1], parts[2] if len(parts) > 2 else "")


def _find_key(tokens: list[str]) -> tuple[int, PublicKey] | None:
    """Locate `type blob` inside a line that may carry options or host names before it."""
    for index in range(len(tokens) - 1):
        key_type, blob = tokens[index], tokens[index + 1]
        if _is_blob(blob) and _blob_type(blob) == key_type:
            comment = " ".join(tokens[index + 2 :])
            return index, PublicKey(key_type, blob, comment)
    return None


# authorized_keys ---------------------------------------------------------------------------------------------


def authorized_keys(text: str) -> list[PublicKey]:
    """The keys of an authorized_keys file; options (from=..., command=...) and comments are skipped."""
    found: list[PublicKey] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # Options may hold quoted spaces (command="a b"), so split outside quotes only.
        located = _find_key(_split_outside_quotes(line))
        if located:
            found.append(located[1])
    return found


def _split_outside_quotes(line: str) -> list[str]:
    return [token for token in re.findall(r'(?:"[^"]*"|[^\s"])+', line) if token]


def authorized_keys_addition(existing: str, key: PublicKey) -> str | None:
    """What to append to an authorized_keys file so that it holds key; None when it already does."""
    if any(key.same_key(present) for present in authorized_keys(existing)):
        return None
    # Appending to a file whose last line lacks its newline would glue two keys together.
    separator = "\n" if existing and not existing.endswith("\n") else ""
    return f"{separator}{key.line}\n"


# known_hosts -------------------------------------------------------------------------------------------------


def host_pattern(host: str, port: int = SSH_PORT) -> str:
    """The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHostsLine:
    line_number: int
    marker: str
    hosts: str
    key: PublicKey

    def matches(self, name: str) -> bool:
        return host_field_matches(self.hosts, name)


def parse_known_hosts(text: str) -> list[KnownHostsLine]:
    """The key lines of a known_hosts file; comments, blank and malformed lines are skipped, as ssh does."""
    entries: list[KnownHostsLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        marker = ""
        if tokens[0].startswith("@"):
            marker, tokens = tokens[0], tokens[1:]
        if len(tokens) < 3:
            continue
        located = _find_key(tokens[1:])
        if located is None or located[0] != 0:
            continue
        entries.append(KnownHostsLine(number, marker, tokens[0], located[1]))
    return entries


def _hashed_matches(entry: str, name: str) -> bool:
    parts = entry[len(HASHED_PREFIX) :].split("|")
    if len(parts) != 2:
        return False
    try:
        salt, digest = base64.b64decode(parts[0]), base64.b64decode(parts[1])
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def _wildcard(pattern: str) -> re.Pattern[str]:
    # OpenSSH patterns know only `*` and `?`; everything else is literal.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE)


def host_field_matches(field: str, name: str) -> bool:
    """Whether a known_hosts host field (comma-separated patterns, `!negations`, or one hash) names name."""
    if field.startswith(HASHED_PREFIX):
        return _hashed_matches(field, name)
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        if _wildcard(pattern[1:] if negated else pattern).match(name):
            if negated:
                return False
            matched = True
    return matched


class HostKeyCheck(enum.Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    REVOKED = "revoked"


def recorded_keys(text: str, host: str, port: int = SSH_PORT) -> list[PublicKey]:
    """The keys known_hosts trusts for host:port (revoked and CA lines excluded)."""
    name = host_pattern(host, port)
    return [entry.key for entry in parse_known_hosts(text) if not entry.marker and entry.matches(name)]


def check_host_key(text: str, host: str, port: int, key: PublicKey) -> HostKeyCheck:
    """Compare the key a host presents with what known_hosts records for it."""
    name = host_pattern(host, port)
    entries = parse_known_hosts(text)
    if any(e.marker == REVOKED and e.key.same_key(key) for e in entries):
        return HostKeyCheck.REVOKED
    mine = [e.key for e in entries if not e.marker and e.matches(name)]
    if any(key.same_key(recorded) for recorded in mine):
        return HostKeyCheck.KNOWN
    return HostKeyCheck.CHANGED if mine else HostKeyCheck.UNKNOWN


def known_hosts_line(host: str, port: int, key: PublicKey) -> str:
    # Plain names: the workspace's inventory names these hosts anyway, and plain lines are easy to audit.
    return f"{host_pattern(host, port)} {key.key_type} {key.blob}\n"


def known_hosts_addition(existing: str, host: str, port: int, key: PublicKey) -> str | None:
    """The known_hosts text with key recorded for host:port; None when nothing is to add.

    Refuses (ValueError) when the host is recorded with another key: a changed key is never replaced here.
    """
    verdict = check_host_key(existing, host, port, key)
    if verdict is HostKeyCheck.KNOWN:
        return None
    if verdict is not HostKeyCheck.UNKNOWN:
        raise ValueError(f"host key of {host_pattern(host, port)} is {verdict.value}")
    separator = "\n" if existing and not existing.endswith("\n") else ""
    return existing + separator + known_hosts_line(host, port, key)


def host_key_changed_message(host: str, port: int, known_hosts: Path) -> str:
    pattern = host_pattern(host, port)
    return (
        f"the ssh host key of {pattern} has changed since it was recorded in {known_hosts}; refusing to connect. "
        f"If the host was reinstalled on purpose, remove the old key with "
        f"`ssh-keygen -R '{pattern}' -f {known_hosts}` and run again"
    )


def host_key_unknown_message(host: str, port: int, known_hosts: Path) -> str:
    pattern = host_pattern(host, port)
    return (
        f"the ssh host key of {pattern} is not recorded in {known_hosts}; refusing to connect (an unknown host is "
        f"never added silently). Run -f deploy for this host, which checks and records its key, or add its key to "
        f"that file"
    )


# the key pair ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    private_key: Path
    public_key: Path
    public: PublicKey


def ensure_key_pair(workspace: Workspace) -> KeyPair:
    """The workspace's ed25519 key pair, made on first use; private key 0600 so that ssh accepts it."""
    paths = ssh_paths(workspace)
    workspace.ensure()
    paths.directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(paths.directory, 0o700)
    if paths.private_key.exists():
        try:
            private = serialization.load_ssh_private_key(paths.private_key.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise FateopsError(
                f"the workspace ssh key {paths.private_key} is unreadable ({exc}); restore it, or remove it and "
                "its .pub to make a new one (hosts then need -pw again)"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise FateopsError(f"the workspace ssh key {paths.private_key} is not an ed25519 key; remove it and retry")
        # ssh refuses a private key others can read.
        os.chmod(paths.private_key, 0o600)
    else:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        atomic_write(paths.private_key, pem, mode=0o600)
    blob_line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    public = PublicKey(*blob_line.decode().split()[:2], comment=f"fateops@{socket.gethostname()}")
    try:
        recorded = parse_public_key(paths.public_key.read_text())
    except (OSError, ValueError):
        recorded = None
    # The .pub file is derived from the private key: rewrite it when missing or not matching, keep its comment if it is.
    if recorded is not None and public.same_key(recorded):
        public = recorded
    else:
        atomic_write(paths.public_key, public.line + "\n", mode=0o644)
    return KeyPair(paths.private_key, paths.public_key, public)
