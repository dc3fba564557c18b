"""The workspace's ssh identity and known_hosts, in OpenSSH's own file formats.

Pure file logic, no network: the key pair Ansible logs in with (`<workspace>/ssh/id_ed25519`), the host keys it
trusts (`<workspace>/ssh/known_hosts`, read by ssh through `-o UserKnownHostsFile=`), and the authorized_keys
merge that bootstrap performs on a host. Nothing here ever holds a password.
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.hostkeys import HostKeyEntry, HostKeys

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
# paramiko reads each line (HostKeyEntry: host list, key type and key, checked against each other) and looks names
# up (HostKeys: exact names, `[host]:port` as written, `|1|` hashes with their own salt). Kept here is only what
# OpenSSH reads and paramiko does not: the @revoked / @cert-authority markers (paramiko fails on such a line), host
# patterns with `*`, `?` and `!negation` (paramiko compares names exactly), names without regard to case, and any
# run of blanks between fields (paramiko splits on single ones). paramiko 5.1 reads no DSA keys: an ssh-dss line
# is skipped, as OpenSSH 10 skips it.

_MARKERS = (REVOKED, CERT_AUTHORITY)


def host_pattern(host: str, port: int = SSH_PORT) -> str:
    """The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHostsLine:
    """A key line of known_hosts as paramiko reads it, with the marker that paramiko does not read."""

    line_number: int
    marker: str
    entry: HostKeyEntry

    @property
    def hosts(self) -> str:
        return ",".join(self.entry.hostnames)

    @property
    def key(self) -> PublicKey:
        return PublicKey(self.entry.key.get_name(), self.entry.key.get_base64())

    def matches(self, name: str) -> bool:
        """Whether this line names the host that ssh looks up as name (see host_pattern)."""
        # ssh lowercases the host it connects to, and compares plain names and patterns without case.
        name = name.lower()
        hostnames = self.entry.hostnames
        if any(_is_pattern(hostname) for hostname in hostnames):
            return _patterns_match(hostnames, name)
        # A table of this line alone: HostKeys answers one key per host and key type, while ssh trusts every line
        # that names the host.
        table = HostKeys()
        for hostname in hostnames:
            plain = hostname if hostname.startswith(HASHED_PREFIX) else hostname.lower()
            table.add(plain, self.entry.key.get_name(), self.entry.key)
        return table.lookup(name) is not None


def parse_known_hosts(text: str) -> list[KnownHostsLine]:
    """The key lines of a known_hosts file; comments, blank and unreadable lines are skipped, as ssh does."""
    lines: list[KnownHostsLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if marker and marker not in _MARKERS:
            # ssh skips a line whose marker it does not know.
            continue
        entry = _read_entry(fields, number)
        if entry is not None:
            lines.append(KnownHostsLine(number, marker, entry))
    return lines


def _read_entry(fields: list[str], line_number: int) -> HostKeyEntry | None:
    try:
        entry = HostKeyEntry.from_line(" ".join(fields[:3]), line_number)
    except Exception:
        # A corrupt key makes paramiko raise SSHException, InvalidHostKey, ValueError or OverflowError depending on
        # the key type; ssh skips such a line, and so does this.
        return None
    if entry is None or not all(_salt_usable(name) for name in entry.hostnames if name.startswith(HASHED_PREFIX)):
        return None
    return entry


def _salt_usable(hashed: str) -> bool:
    """HostKeys.lookup raises on a `|1|` name whose salt is not 20 bytes of base64; ssh skips such a line."""
    try:
        HostKeys.hash_host("", hashed)
    except (ValueError, IndexError, AssertionError):
        return False
    return True


def _is_pattern(hostname: str) -> bool:
    return hostname.startswith("!") or "*" in hostname or "?" in hostname


def _wildcard(pattern: str) -> re.Pattern[str]:
    # OpenSSH patterns know only `*` and `?`; fnmatch would also read `[...]`, which is literal here ([host]:port).
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE)


def _patterns_match(patterns: list[str], name: str) -> bool:
    """OpenSSH's match_hostname: some pattern matches and no `!pattern` does."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _wildcard(pattern.removeprefix("!")).match(name):
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
    return [line.key for line in parse_known_hosts(text) if not line.marker and line.matches(name)]


def check_host_key(text: str, host: str, port: int, key: PublicKey) -> HostKeyCheck:
    """Compare the key a host presents with what known_hosts records for it.

    A key on a @revoked line is refused whatever hosts that line names: stricter than ssh, which applies the line
    to the hosts it names, since a key revoked anywhere is no key to record. @cert-authority lines vouch for
    nothing here: bootstrap verifies plain host keys, never host certificates.
    """
    name = host_pattern(host, port)
    lines = parse_known_hosts(text)
    if any(line.marker == REVOKED and line.key.same_key(key) for line in lines):
        return HostKeyCheck.REVOKED
    mine = [line.key for line in lines if not line.marker and line.matches(name)]
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


def read_known_hosts(path: Path) -> str:
    """known_hosts as stored ("" when missing): no newline translation, and bytes that are not UTF-8 kept."""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return ""


def append_host_key(path: Path, host: str, port: int, key: PublicKey) -> bool:
    """Record key for host:port after the lines of known_hosts; True when a line was added.

    The existing lines stay byte for byte (a user's comments, markers, hashes, line ends): paramiko's HostKeys.save
    would rewrite them without comments and markers. Raises ValueError as known_hosts_addition does.
    """
    updated = known_hosts_addition(read_known_hosts(path), host, port, key)
    if updated is None:
        return False
    atomic_write(path, updated.encode("utf-8", "surrogateescape"), mode=0o600)
    return True


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
