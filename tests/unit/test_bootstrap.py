"""Bootstrap's pure logic: known_hosts and authorized_keys in OpenSSH's formats, the key pair, error messages."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shlex
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from paramiko.hostkeys import HostKeyEntry, HostKeys, InvalidHostKey

from fateops import bootstrap
from fateops.bootstrap import SshLogin, bootstrap_host, connection_vars
from fateops.errors import FateopsError
from fateops.ssh_keys import (
    HASHED_PREFIX,
    HostKeyCheck,
    PublicKey,
    append_host_key,
    authorized_keys,
    authorized_keys_addition,
    check_host_key,
    ensure_key_pair,
    host_key_changed_message,
    host_pattern,
    known_hosts_addition,
    parse_known_hosts,
    parse_public_key,
    recorded_keys,
    ssh_paths,
)
from fateops.workspace import Workspace

ED_A = PublicKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIJ/Fne4UsA8uarEWuplcueHGComyrNtP816iO+6zpq6s")
ED_B = PublicKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIPkC/f9oqhUtqMN2U6EG0BKPnBFSRDCUEacTSu+5O60b")
ECDSA = PublicKey(
    "ecdsa-sha2-nistp256",
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMdNA5MjFXHI8pZ5wS7dS/OrXOxkKG11xDM9cxBXfFLNlFt2ZKsDGp"
    "jPTCprB5qlq7KKtwAAdaM+SfTdpiUv2Kk=",
)
# `ssh-keygen -H` of "10.77.0.2 <ED_A>" and "[10.77.0.2]:2222 <ED_B>" (OpenSSH 9.2).
HASHED = (
    f"|1|UpOKrfcLyyXCmgT92u1uh81WJQw=|+M5ehfUX4gscX0kLp7rAEhkyKrk= {ED_A.key_type} {ED_A.blob}\n"
    f"|1|vQYwGOt7n9GxaDcuJg0llrrdv+0=|KeIas2aSEAihq+GPByswGfvRhkk= {ED_B.key_type} {ED_B.blob}\n"
)


# public keys and authorized_keys ------------------------------------------------------------------------------


def test_public_key_parse_and_type_must_match_blob():
    key = parse_public_key(f"{ED_A.key_type} {ED_A.blob} regulator@example\n")
    assert key == PublicKey(ED_A.key_type, ED_A.blob, "regulator@example")
    with pytest.raises(ValueError):
        parse_public_key(f"ssh-rsa {ED_A.blob}")
    with pytest.raises(ValueError):
        parse_public_key("ssh-ed25519 not-base64!")


def test_authorized_keys_skips_comments_and_reads_options():
    text = (
        "# managed by hand\n"
        "\n"
        f'from="10.0.0.0/8",command="echo hi there",no-pty {ED_B.key_type} {ED_B.blob} ops@bastion\n'
        f"{ECDSA.key_type} {ECDSA.blob}\n"
        "garbage line\n"
    )
    assert [k.blob for k in authorized_keys(text)] == [ED_B.blob, ECDSA.blob]


def test_authorized_keys_addition_is_idempotent():
    mine = PublicKey(ED_A.key_type, ED_A.blob, "fateops@regulator")
    assert authorized_keys_addition("", mine) == f"{mine.line}\n"
    once = f"{ED_B.line}\n" + authorized_keys_addition(f"{ED_B.line}\n", mine)
    assert once.count(ED_A.blob) == 1
    assert authorized_keys_addition(once, mine) is None
    # Present with other options or another comment is still present.
    assert authorized_keys_addition(f"no-pty {ED_A.key_type} {ED_A.blob} someone-else\n", mine) is None


def test_authorized_keys_addition_never_glues_onto_a_last_line_without_newline():
    existing = ED_B.line  # no trailing newline
    added = authorized_keys_addition(existing, ED_A)
    assert added == f"\n{ED_A.line}\n"
    assert [k.blob for k in authorized_keys(existing + added)] == [ED_B.blob, ED_A.blob]


# known_hosts --------------------------------------------------------------------------------------------------


def test_host_pattern_follows_openssh():
    assert host_pattern("10.77.0.2") == "10.77.0.2"
    assert host_pattern("10.77.0.2", 22) == "10.77.0.2"
    assert host_pattern("10.77.0.2", 2222) == "[10.77.0.2]:2222"


def test_parse_known_hosts_lines_markers_and_junk():
    text = (
        "# comment\n"
        f"10.0.0.1,host-a {ED_A.key_type} {ED_A.blob} a comment\n"
        f"@revoked * {ED_B.key_type} {ED_B.blob}\n"
        f"@cert-authority *.example {ECDSA.key_type} {ECDSA.blob}\n"
        "broken-line-without-key\n"
        f"10.0.0.9 ssh-rsa {ED_A.blob}\n"  # type does not match the blob: skipped, as ssh does
    )
    entries = parse_known_hosts(text)
    assert [(e.line_number, e.marker, e.hosts) for e in entries] == [
        (2, "", "10.0.0.1,host-a"),
        (3, "@revoked", "*"),
        (4, "@cert-authority", "*.example"),
    ]


def test_hashed_names_from_ssh_keygen_match():
    assert recorded_keys(HASHED, "10.77.0.2") == [ED_A]
    assert recorded_keys(HASHED, "10.77.0.2", 2222) == [ED_B]
    assert recorded_keys(HASHED, "10.77.0.3") == []


def _names(hosts: str, name: str) -> bool:
    """Whether a known_hosts line with this host field names name."""
    [line] = parse_known_hosts(f"{hosts} {ED_A.key_type} {ED_A.blob}\n")
    return line.matches(name)


def test_wildcards_and_negation():
    assert _names("10.77.0.*,!10.77.0.9", "10.77.0.2")
    assert not _names("10.77.0.*,!10.77.0.9", "10.77.0.9")
    assert _names("HOST-?", "host-1")
    assert not _names("10.77.0.2", "10.77.0.20")
    assert not _names("10.77.0.2", "10x77.0.2")
    # A negation alone names nothing; `[` and `]` are literal, so a pattern can hold a port.
    assert not _names("!10.77.0.9", "10.77.0.2")
    assert _names("[10.77.0.*]:2222", "[10.77.0.5]:2222")
    assert not _names("[10.77.0.*]:2222", "10.77.0.5")
    # Plain names compare without case, as ssh compares them.
    assert _names("Regulator.Example,10.77.0.2", "regulator.example")
    assert _names("regulator.example", "REGULATOR.example")


def test_check_host_key_verdicts():
    text = f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n@revoked * {ECDSA.key_type} {ECDSA.blob}\n"
    assert check_host_key(text, "10.77.0.2", 22, ED_A) is HostKeyCheck.KNOWN
    assert check_host_key(text, "10.77.0.2", 22, ED_B) is HostKeyCheck.CHANGED
    assert check_host_key(text, "10.77.0.3", 22, ED_B) is HostKeyCheck.UNKNOWN
    # The same address on another port is another host for ssh.
    assert check_host_key(text, "10.77.0.2", 2222, ED_B) is HostKeyCheck.UNKNOWN
    assert check_host_key(text, "10.77.0.3", 22, ECDSA) is HostKeyCheck.REVOKED
    assert check_host_key(HASHED, "10.77.0.2", 22, ED_B) is HostKeyCheck.CHANGED


def test_known_hosts_addition_records_once_and_never_replaces():
    first = known_hosts_addition("", "10.77.0.2", 22, ED_A)
    assert first == f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"
    assert known_hosts_addition(first, "10.77.0.2", 22, ED_A) is None
    second = known_hosts_addition(first.rstrip("\n"), "10.77.0.3", 2222, ED_B)
    assert second == first + f"[10.77.0.3]:2222 {ED_B.key_type} {ED_B.blob}\n"
    with pytest.raises(ValueError, match="changed"):
        known_hosts_addition(second, "10.77.0.2", 22, ED_B)


def test_changed_host_key_message_is_one_line_with_the_fix():
    message = host_key_changed_message("10.77.0.2", 2222, Path("/ws/ssh/known_hosts"))
    assert "\n" not in message
    assert "[10.77.0.2]:2222" in message
    assert "ssh-keygen -R '[10.77.0.2]:2222' -f /ws/ssh/known_hosts" in message


def test_host_and_port_are_one_name():
    text = f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n[10.77.0.2]:2222 {ED_B.key_type} {ED_B.blob}\n"
    assert recorded_keys(text, "10.77.0.2") == [ED_A]
    assert recorded_keys(text, "10.77.0.2", 2222) == [ED_B]
    assert recorded_keys(text, "10.77.0.2", 2200) == []
    assert check_host_key(text, "10.77.0.2", 2222, ED_A) is HostKeyCheck.CHANGED


def test_hashed_entries_from_paramiko_and_malformed_ones():
    hashed = HostKeys.hash_host("[10.77.0.3]:2222")
    text = (
        f"{hashed} {ED_B.key_type} {ED_B.blob}\n"
        # A salt that is not base64, not 20 bytes, or missing: skipped, as ssh skips them (paramiko would raise).
        f"|1|abc|def {ED_A.key_type} {ED_A.blob}\n"
        f"|1|AAAA|+M5ehfUX4gscX0kLp7rAEhkyKrk= {ED_A.key_type} {ED_A.blob}\n"
        f"|1| {ED_A.key_type} {ED_A.blob}\n"
    )
    assert [line.line_number for line in parse_known_hosts(text)] == [1]
    assert recorded_keys(text, "10.77.0.3", 2222) == [ED_B]
    assert recorded_keys(text, "10.77.0.3") == []
    assert check_host_key(text, "10.77.0.3", 2222, ED_A) is HostKeyCheck.CHANGED


def test_revoked_key_is_refused_and_ca_lines_vouch_for_nothing():
    text = (
        f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"
        f"@revoked 10.77.0.5 {ED_A.key_type} {ED_A.blob}\n"
        f"@cert-authority 10.77.0.2 {ECDSA.key_type} {ECDSA.blob}\n"
    )
    # Revoked wins over a plain line of the same key, whatever host the @revoked line names.
    assert check_host_key(text, "10.77.0.2", 22, ED_A) is HostKeyCheck.REVOKED
    assert recorded_keys(text, "10.77.0.2") == [ED_A]
    with pytest.raises(ValueError, match="revoked"):
        known_hosts_addition(text, "10.77.0.7", 22, ED_A)
    only_ca = f"@cert-authority 10.77.0.2 {ECDSA.key_type} {ECDSA.blob}\n"
    assert recorded_keys(only_ca, "10.77.0.2") == []
    assert check_host_key(only_ca, "10.77.0.2", 22, ECDSA) is HostKeyCheck.UNKNOWN


def test_what_paramiko_does_not_read_is_why_ssh_keys_keeps_it():
    # When paramiko learns these, the marker split and the pattern matcher in ssh_keys can go.
    with pytest.raises(InvalidHostKey):
        HostKeyEntry.from_line(f"@revoked * {ED_A.key_type} {ED_A.blob}")
    table = HostKeys()
    table.add("10.77.0.*", ED_A.key_type, HostKeyEntry.from_line(f"x {ED_A.key_type} {ED_A.blob}").key)
    assert table.lookup("10.77.0.2") is None


def test_every_line_naming_the_host_counts():
    # paramiko's lookup answers one key per key type; ssh accepts any line that names the host.
    text = f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n10.77.0.2,10.77.0.3 {ED_B.key_type} {ED_B.blob}\n"
    assert recorded_keys(text, "10.77.0.2") == [ED_A, ED_B]
    assert check_host_key(text, "10.77.0.2", 22, ED_A) is HostKeyCheck.KNOWN
    assert check_host_key(text, "10.77.0.2", 22, ED_B) is HostKeyCheck.KNOWN


def test_fields_apart_by_any_blanks_and_lines_ssh_skips():
    text = (
        f"  10.77.0.2 \t {ED_A.key_type}   {ED_A.blob}  a  comment \n"
        f"@future 10.77.0.2 {ED_B.key_type} {ED_B.blob}\n"  # a marker ssh does not know
        f"@revoked\n"
        f"10.77.0.2 {ED_B.key_type} not-base64!!\n"
        f"10.77.0.2 ssh-rsa {ED_B.blob}\n"  # the type does not match the key
        f"10.77.0.2 {ECDSA.key_type} {ECDSA.blob.replace('MdNA5', 'AAAAA')}\n"  # no point of the curve
    )
    assert [line.line_number for line in parse_known_hosts(text)] == [1]
    assert recorded_keys(text, "10.77.0.2") == [ED_A]


# A known_hosts a user seeded by hand: comments, a blank line, markers, a hash, tabs, a CRLF line, a comment that is
# not UTF-8, no newline at the end. An addition must leave every byte of it in place.
SEEDED = (
    b"# seeded by hand \xe9t\xe9 2026 (latin-1)\n"
    b"\n"
    + f"10.77.0.2\t{ED_A.key_type} {ED_A.blob} ops@regulator\r\n".encode()
    + f"@revoked * {ECDSA.key_type} {ECDSA.blob}\n".encode()
    + HASHED.splitlines()[1].encode()
    + b"\n   # indented comment   \n"
    + f"@cert-authority *.example {ED_B.key_type} {ED_B.blob}".encode()
)


def test_addition_keeps_a_seeded_known_hosts_byte_for_byte(tmp_path: Path):
    path = tmp_path / "known_hosts"
    path.write_bytes(SEEDED)
    assert append_host_key(path, "10.77.0.3", 2222, ED_B)
    added = f"[10.77.0.3]:2222 {ED_B.key_type} {ED_B.blob}\n".encode()
    assert path.read_bytes() == SEEDED + b"\n" + added
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Known: nothing written. Changed or revoked: refused, nothing written.
    assert not append_host_key(path, "10.77.0.2", 22, ED_A)
    assert not append_host_key(path, "10.77.0.2", 2222, ED_B)  # the hashed line of the seed
    with pytest.raises(ValueError, match="changed"):
        append_host_key(path, "10.77.0.2", 22, ED_B)
    with pytest.raises(ValueError, match="revoked"):
        append_host_key(path, "10.77.0.9", 22, ECDSA)
    assert path.read_bytes() == SEEDED + b"\n" + added


def test_append_host_key_makes_the_file(tmp_path: Path):
    path = tmp_path / "known_hosts"
    assert append_host_key(path, "10.77.0.2", 22, ED_A)
    assert path.read_text() == f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"


needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")

# Lines for the cross-check with OpenSSH: every kind ssh_keys reads, and some it must skip as ssh does.
CROSS_CHECK = (
    "# comment\n"
    f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"
    f"[10.77.0.2]:2222 {ED_B.key_type} {ED_B.blob}\n"
    f"10.77.0.*,!10.77.0.9 {ED_B.key_type} {ED_B.blob}\n"
    f"HOST-?,regulator.EXAMPLE {ED_A.key_type} {ED_A.blob}\n"
    f"@revoked * {ECDSA.key_type} {ECDSA.blob}\n"
    f"@cert-authority *.example {ECDSA.key_type} {ECDSA.blob}\n"
    + HASHED
    + f"10.77.0.20  \t{ED_A.key_type}  {ED_A.blob}\n"
    f"[10.77.0.*]:2222 {ED_A.key_type} {ED_A.blob}\n"
    f"@future 10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"
    f"|1|abc|def {ED_A.key_type} {ED_A.blob}\n"
)
# ssh looks hosts up by lowercased names (ssh-keygen -F does not lowercase for hashes, so only such names here).
CROSS_CHECK_NAMES = (
    "10.77.0.2",
    "[10.77.0.2]:2222",
    "[10.77.0.5]:2222",
    "10.77.0.9",
    "10.77.0.20",
    "host-1",
    "host-12",
    "regulator.example",
    "ca.example",
    "elsewhere",
)


def _ssh_keygen_lines(path: Path, name: str) -> set[int]:
    """The line numbers `ssh-keygen -F name` reports (it reports marked lines too)."""
    found = subprocess.run(["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert found.returncode in (0, 1), found.stderr
    prefix = f"# Host {name} found: line "
    return {int(row[len(prefix) :].split()[0]) for row in found.stdout.splitlines() if row.startswith(prefix)}


@needs_ssh_keygen
@pytest.mark.parametrize("name", CROSS_CHECK_NAMES)
def test_lines_naming_a_host_agree_with_ssh_keygen(tmp_path: Path, name: str):
    path = tmp_path / "known_hosts"
    path.write_text(CROSS_CHECK)
    ours = {line.line_number for line in parse_known_hosts(CROSS_CHECK) if line.matches(name)}
    assert ours == _ssh_keygen_lines(path, name)


@needs_ssh_keygen
def test_hashes_from_ssh_keygen_and_added_lines_found_by_ssh_keygen(tmp_path: Path):
    path = tmp_path / "known_hosts"
    plain = ""
    for host, port, key in (("10.77.0.2", 22, ED_A), ("10.77.0.3", 2222, ED_B), ("regulator.example", 22, ECDSA)):
        plain = known_hosts_addition(plain, host, port, key) or plain
    path.write_text(plain)
    for name in ("10.77.0.2", "[10.77.0.3]:2222", "regulator.example"):
        ours = {line.line_number for line in parse_known_hosts(plain) if line.matches(name)}
        assert ours == _ssh_keygen_lines(path, name)
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], capture_output=True, check=True, timeout=30)
    hashed = path.read_text()
    assert "10.77.0" not in hashed and hashed.count(HASHED_PREFIX) == 3
    for host, port in (("10.77.0.2", 22), ("10.77.0.3", 2222), ("10.77.0.3", 22), ("regulator.example", 22)):
        assert recorded_keys(hashed, host, port) == recorded_keys(plain, host, port)


# the key pair -------------------------------------------------------------------------------------------------


def test_key_pair_made_once_private_0600_and_loadable(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    first = ensure_key_pair(workspace)
    paths = ssh_paths(workspace)
    assert first.private_key == paths.private_key == workspace.home / "ssh" / "id_ed25519"
    assert stat.S_IMODE(paths.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.directory.stat().st_mode) == 0o700
    assert paths.public_key.read_text() == first.public.line + "\n"
    loaded = paramiko.Ed25519Key.from_private_key_file(str(paths.private_key))
    assert loaded.get_base64() == first.public.blob
    assert ensure_key_pair(workspace) == first

    # A lost .pub is derived again from the private key; a loose mode is tightened.
    paths.public_key.unlink()
    os.chmod(paths.private_key, 0o644)
    again = ensure_key_pair(workspace)
    assert again.public.same_key(first.public)
    assert stat.S_IMODE(paths.private_key.stat().st_mode) == 0o600


def test_unreadable_private_key_is_a_clear_error(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    ssh_paths(workspace).directory.mkdir(parents=True)
    ssh_paths(workspace).private_key.write_text("not a key\n")
    with pytest.raises(FateopsError, match=r"ssh key .*id_ed25519 is unreadable"):
        ensure_key_pair(workspace)


# connection vars ----------------------------------------------------------------------------------------------


def test_connection_vars(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    found = connection_vars(workspace, "10.77.0.2", 2222, "fateops-test")
    known_hosts = workspace.home / "ssh" / "known_hosts"
    assert found == {
        "ansible_connection": "ssh",
        "ansible_host": "10.77.0.2",
        "ansible_port": 2222,
        "ansible_user": "fateops-test",
        "ansible_ssh_private_key_file": str(workspace.home / "ssh" / "id_ed25519"),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
        ),
        "ansible_control_path_dir": str(workspace.home / "ssh" / "cp"),
        "ansible_host_key_checking": True,
    }


def test_connection_vars_keep_a_path_with_spaces_as_one_file(tmp_path: Path):
    workspace = Workspace(tmp_path / "my ws")
    args = shlex.split(connection_vars(workspace, "10.77.0.2")["ansible_ssh_common_args"])
    assert args[1] == f'UserKnownHostsFile="{workspace.home / "ssh" / "known_hosts"}"'


# bootstrap's decisions, on a scripted transport (the real one is in tests/integration) -----------------------


@dataclass
class ScriptedTransport:
    """Stands in for paramiko.Transport after the handshake: answers auth as scripted, records every call."""

    key_works: bool = False
    password_error: Exception | None = None
    calls: list[str] = field(default_factory=list)
    authenticated: bool = False

    def auth_publickey(self, user: str, key: object) -> list[str]:
        self.calls.append(f"publickey {user}")
        if not self.key_works:
            raise paramiko.AuthenticationException("Authentication failed.")
        self.authenticated = True
        return []

    def auth_password(self, user: str, password: str, fallback: bool = True) -> list[str]:
        self.calls.append(f"password {user}")
        if self.password_error:
            raise self.password_error
        self.authenticated = True
        return []

    def is_authenticated(self) -> bool:
        return self.authenticated


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedTransport]:
    transport = ScriptedTransport()

    @contextlib.contextmanager
    def fake_session(host: str, port: int, known_hosts: Path, timeout: float):
        yield bootstrap._Session(transport, ED_A)  # type: ignore[arg-type]

    monkeypatch.setattr(bootstrap, "_session", fake_session)
    yield transport


def test_a_working_key_means_the_password_is_not_sent(tmp_path: Path, scripted: ScriptedTransport):
    scripted.key_works = True
    workspace = Workspace(tmp_path / "ws")
    result = bootstrap_host(workspace, "10.77.0.2", user="fateops-test", password="not-needed")
    assert scripted.calls == ["publickey fateops-test"]
    assert (result.used_password, result.key_installed, result.host_key_recorded) == (False, False, True)
    assert ssh_paths(workspace).known_hosts.read_text() == f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n"


def test_bootstrap_appends_to_a_seeded_known_hosts(tmp_path: Path, scripted: ScriptedTransport):
    scripted.key_works = True
    workspace = Workspace(tmp_path / "ws")
    known_hosts = ssh_paths(workspace).known_hosts
    known_hosts.parent.mkdir(parents=True)
    seeded = SEEDED.replace(ED_A.blob.encode(), ED_B.blob.encode())  # so that 10.77.0.2 is not yet known
    known_hosts.write_bytes(seeded.replace(b"@revoked", b"# @revoked"))
    before = known_hosts.read_bytes()
    result = bootstrap_host(workspace, "10.77.0.7", user="fateops-test")
    assert result.host_key_recorded
    assert known_hosts.read_bytes() == before + f"\n10.77.0.7 {ED_A.key_type} {ED_A.blob}\n".encode()


def test_wrong_password_message_names_user_and_host_not_the_password(tmp_path: Path, scripted: ScriptedTransport):
    scripted.password_error = paramiko.AuthenticationException("Authentication failed.")
    with pytest.raises(FateopsError) as caught:
        bootstrap_host(Workspace(tmp_path / "ws"), "10.77.0.2", user="fateops-test", password="s3cret-pw")
    assert str(caught.value) == "authentication failed for fateops-test@10.77.0.2; check the -pw value"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # Nothing recorded for a host nobody logged in to.
    assert not ssh_paths(Workspace(tmp_path / "ws")).known_hosts.exists()


def test_password_login_refused_by_the_server(tmp_path: Path, scripted: ScriptedTransport):
    scripted.password_error = paramiko.BadAuthenticationType("Bad authentication type", ["publickey"])
    with pytest.raises(FateopsError, match=r"root@10.77.0.2 does not accept password login \(it allows: publickey\)"):
        bootstrap_host(Workspace(tmp_path / "ws"), "10.77.0.2", password="pw")


def test_no_password_and_key_refused(tmp_path: Path, scripted: ScriptedTransport):
    with pytest.raises(FateopsError, match=r"not accepted by root@10.77.0.2 port 2222 and no password was given"):
        bootstrap_host(Workspace(tmp_path / "ws"), "10.77.0.2", port=2222)
    assert scripted.calls == ["publickey root"]


def test_ssh_login_repr_hides_the_password():
    assert "hunter2" not in repr(SshLogin("10.77.0.2", 22, "root", "hunter2"))


def test_paramiko_log_channel_is_silenced():
    logger = logging.getLogger(bootstrap._quiet_log_channel())
    assert logger.propagate is False
    assert not logger.isEnabledFor(logging.DEBUG)


def test_host_key_algorithms_follow_known_hosts():
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
    assert bootstrap._host_key_algorithms([], offered) == []
    assert bootstrap._host_key_algorithms([ECDSA], offered) == ["ecdsa-sha2-nistp256"]
    rsa = PublicKey("ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDc")
    assert bootstrap._host_key_algorithms([rsa, ED_A], offered) == ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]


# a pre-seeded known_hosts: the password goes only to a host that proves the recorded key ---------------------


@dataclass
class HandshakeTransport:
    """Stands in for paramiko.Transport from the handshake on: presents a host key, records every auth call."""

    presented: PublicKey
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.options = paramiko.Transport(_unconnected()).get_security_options()

    def set_log_channel(self, name: str) -> None: ...

    def set_hexdump(self, on: bool) -> None: ...

    def get_security_options(self):
        return self.options

    def start_client(self, timeout: float) -> None: ...

    def get_remote_server_key(self) -> paramiko.PKey:
        return paramiko.PKey.from_type_string(self.presented.key_type, base64.b64decode(self.presented.blob))

    def auth_publickey(self, user: str, key: object) -> list[str]:
        self.calls.append("publickey")
        raise paramiko.AuthenticationException("Authentication failed.")

    def auth_password(self, user: str, password: str, fallback: bool = True) -> list[str]:
        self.calls.append("password")
        raise paramiko.AuthenticationException("Authentication failed.")

    def close(self) -> None: ...


def _unconnected() -> socket.socket:
    return socket.socket()


@pytest.mark.parametrize("seeded", ["10.77.0.2 {key_type} {blob}\n", HASHED])
def test_a_pre_seeded_known_hosts_gets_no_password_sent_to_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded: str
):
    workspace = Workspace(tmp_path / "ws")
    known_hosts = ssh_paths(workspace).known_hosts
    known_hosts.parent.mkdir(parents=True)
    known_hosts.write_text(seeded.format(key_type=ED_A.key_type, blob=ED_A.blob))
    before = known_hosts.read_bytes()
    transport = HandshakeTransport(presented=ED_B)
    monkeypatch.setattr(bootstrap, "_connect_socket", lambda host, port, timeout: _unconnected())
    monkeypatch.setattr(bootstrap.paramiko, "Transport", lambda sock: transport)
    with pytest.raises(FateopsError) as caught:
        bootstrap_host(workspace, "10.77.0.2", user="fateops-test", password="seeded-secret")
    assert "host key of 10.77.0.2 has changed" in str(caught.value) and "ssh-keygen -R" in str(caught.value)
    # Refused during the handshake: no login of any kind was tried, the password never left this process.
    assert transport.calls == []
    assert known_hosts.read_bytes() == before


def test_a_pre_seeded_key_that_the_host_proves_gets_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    workspace = Workspace(tmp_path / "ws")
    known_hosts = ssh_paths(workspace).known_hosts
    known_hosts.parent.mkdir(parents=True)
    known_hosts.write_text(f"10.77.0.2 {ED_A.key_type} {ED_A.blob}\n")
    transport = HandshakeTransport(presented=ED_A)
    monkeypatch.setattr(bootstrap, "_connect_socket", lambda host, port, timeout: _unconnected())
    monkeypatch.setattr(bootstrap.paramiko, "Transport", lambda sock: transport)
    with pytest.raises(FateopsError, match=r"authentication failed for fateops-test@10\.77\.0\.2"):
        bootstrap_host(workspace, "10.77.0.2", user="fateops-test", password="seeded-secret")
    assert transport.calls == ["publickey", "password"]
