# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""The offline bundle: what a party host without a package index is given to install from.

Two parts, each built once on the controller and kept under a key of what went into it:

- ``debian``: the Debian packages a party needs (the broker, nginx and its stream module, python3-venv) with their
  whole dependency closure, for one Debian release, as a flat apt repository (the .deb files and a Packages index
  written here from each file's own control fields). A host's apt then picks from it only what it lacks.
- ``wheels``: the wheels of the FATE runtime's pinned requirement files (FATE, its dependencies, the serving
  service's), built by pip on the controller for the release's Python, packed as one uncompressed tar.

Both are made in a ``.partial`` directory and renamed into place, so a cut-short build is never taken for a
complete one. Standard library only: the host side (``fate_host_packages``) imports the release table too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

# Debian releases a bundle can be built for: the python3 each ships (the wheels' interpreter) and its name for
# messages. A host of another release is refused with fate_offline true; false uses the host's own index.
RELEASES = {
    "bookworm": {"id": "debian", "version_id": "12", "python": "3.11", "name": "Debian 12 (bookworm)"},
}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ARCHITECTURE = "amd64"
# The keyring that signs Debian's archive, on a Debian controller (debian-archive-keyring).
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# A mirror is one URL: nothing that could read as another field or line of sources.list.
_MIRROR = re.compile(r"^(https?|file):/[^\s\[\]]+$")


class BundleError(RuntimeError):
    """A bundle part could not be built; the message names the step and the fix."""


def supported_names() -> str:
    return ", ".join(release["name"] for release in RELEASES.values())


def parse_os_release(text: str) -> dict[str, str]:
    """The fields of an /etc/os-release file (quotes removed)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            fields[key.strip()] = value
    return fields


def release_problem(os_release: dict[str, str], release: str) -> str | None:
    """Why a host of os_release cannot install the bundle built for release (None: it can)."""
    wanted = RELEASES[release]
    if os_release.get("ID") == wanted["id"] and os_release.get("VERSION_ID") == wanted["version_id"]:
        return None
    running = os_release.get("PRETTY_NAME") or os_release.get("ID") or "an unknown system (no /etc/os-release)"
    return f"the host runs {running}, and the offline bundle is built for {supported_names()} only"


def validate_packages(packages: list[str]) -> None:
    bad = [name for name in packages if not _PACKAGE_NAME.match(name)]
    if bad:
        raise BundleError(f"{', '.join(map(repr, bad))}: not Debian package names (lowercase letters, digits, +-.)")


def part_key(*texts: str) -> str:
    return hashlib.sha1("\n\x00".join(texts).encode()).hexdigest()[:12]


def _publish(partial: Path, final: Path, marker_text: str) -> None:
    (partial / ".complete").write_text(marker_text)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)


def _run(argv: list[str], step: str, timeout: float, env: dict | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        raise BundleError(f"{step}: {argv[0]} is not installed on the controller") from None
    except subprocess.TimeoutExpired:
        raise BundleError(f"{step}: no answer within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise BundleError(f"{step} failed: {' / '.join(tail)}")
    return done.stdout


def debian_packages_index(debs: list[Path]) -> str:
    """A Packages index for a flat repository of debs (each stanza the package's control fields, its file name,
    size and SHA256), as dpkg-scanpackages writes it."""
    stanzas = []
    for deb in sorted(debs):
        control = _run(["dpkg-deb", "--field", str(deb)], f"reading {deb.name}", 60).rstrip("\n")
        digest = hashlib.sha256()
        with deb.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        stanzas.append(f"{control}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {digest.hexdigest()}")
    return "\n\n".join(stanzas) + "\n"


def read_index(text: str) -> dict[str, dict[str, str]]:
    """Package name -> {version, file} of a Packages index."""
    packages = {}
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            packages[fields["Package"]] = {"version": fields["Version"], "file": fields["Filename"].removeprefix("./")}
    return packages


def debian_part(root: Path, release: str, mirror: str, packages: list[str]) -> dict:
    """The flat apt repository of packages and their dependencies for release, built when it is not there."""
    validate_packages(packages)
    if not _MIRROR.match(mirror):
        raise BundleError(f"mirror {mirror!r} is not one http(s):// or file:/ URL: set fate_offline_mirror to one")
    if release not in RELEASES:
        raise BundleError(f"no offline bundle for Debian {release!r}: supported are {supported_names()}")
    key = part_key(release, mirror, ARCHITECTURE, *sorted(packages))
    final = root / f"debian-{release}-{key}"
    built = False
    if not (final / ".complete").exists():
        _build_debian(final, release, mirror, sorted(packages))
        built = True
    index = (final / "Packages").read_text()
    return {"dir": str(final), "key": key, "release": release, "packages": read_index(index), "built": built}


def _build_debian(final: Path, release: str, mirror: str, packages: list[str]) -> None:
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    apt_dir = partial / ".apt"
    for sub in ("state/lists/partial", "cache/archives/partial", "etc"):
        (apt_dir / sub).mkdir(parents=True)
    (apt_dir / "state/status").write_text("")
    signed = f" [signed-by={ARCHIVE_KEYRING}]" if os.path.exists(ARCHIVE_KEYRING) else ""
    (apt_dir / "etc/sources.list").write_text(f"deb{signed} {mirror} {release} main\n")
    # apt of the controller with its own configuration (a proxy, say) but a state of its own: an empty status, so
    # the whole dependency closure is fetched (a host takes from it what it lacks), and uncompressed lists.
    options = [
        f"Dir::State={apt_dir}/state",
        f"Dir::State::status={apt_dir}/state/status",
        f"Dir::Cache={apt_dir}/cache",
        f"Dir::Etc::SourceList={apt_dir}/etc/sources.list",
        "Dir::Etc::SourceParts=/nonexistent",
        f"APT::Architecture={ARCHITECTURE}",
        f"APT::Architectures={ARCHITECTURE}",
        "APT::Install-Recommends=false",
        "Acquire::Languages=none",
        "Debug::NoLocking=true",
    ]
    apt = ["apt-get", "-q", *[arg for option in options for arg in ("-o", option)]]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    _run([*apt, "update"], f"reading Debian {release}'s package lists from {mirror}", 600, env)
    _run([*apt, "install", "--yes", "--download-only", *packages], f"downloading {' '.join(packages)}", 1800, env)
    debs = []
    for deb in (apt_dir / "cache/archives").glob("*.deb"):
        # apt escapes an epoch's colon as %3a; the repository's file names need no escaping.
        target = partial / deb.name.replace("%3a", "_")
        os.replace(deb, target)
        debs.append(target)
    shutil.rmtree(apt_dir)
    (partial / "Packages").write_text(debian_packages_index(debs))
    _publish(partial, final, f"debian {release} {' '.join(packages)}\n")


def wheels_part(root: Path, python: str, requirements: list[dict], extra_args: list[str], release: str) -> dict:
    """The tar of the wheels of requirements ({file, no_deps} each), built by python's pip for release's Python."""
    if release not in RELEASES:
        raise BundleError(f"no offline bundle for Debian {release!r}: supported are {supported_names()}")
    texts = [f"{Path(item['file']).read_text()}\n{bool(item.get('no_deps'))}" for item in requirements]
    key = part_key(release, *texts, *extra_args)
    final = root / f"wheels-{release}-{key}"
    built = False
    if not (final / ".complete").exists():
        _build_wheels(final, python, requirements, extra_args, release)
        built = True
    return {"dir": str(final), "archive": str(final / "wheels.tar"), "key": key, "built": built}


def _build_wheels(final: Path, python: str, requirements: list[dict], extra_args: list[str], release: str) -> None:
    wanted = RELEASES[release]["python"]
    version = _run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], f"asking {python}", 60)
    if version.strip() != wanted:
        raise BundleError(
            f"{python} on the controller is Python {version.strip()}, but {RELEASES[release]['name']} hosts run "
            f"Python {wanted}: set fate_offline_python to a Python {wanted} with pip"
        )
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    wheels = partial / "wheels"
    wheels.mkdir(parents=True)
    pip = [python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-input"]
    for item in requirements:
        argv = [*pip, *(["--no-deps"] if item.get("no_deps") else []), "--wheel-dir", str(wheels)]
        _run([*argv, "-r", item["file"], *extra_args], f"building the wheels of {Path(item['file']).name}", 3600)
    # One file to ship: wheels are compressed already, so the tar is not.
    with (
        tempfile.NamedTemporaryFile(dir=partial, suffix=".tar", delete=False) as stream,
        tarfile.open(fileobj=stream, mode="w") as archive,
    ):
        for wheel in sorted(wheels.iterdir()):
            archive.add(wheel, arcname=wheel.name)
    os.replace(stream.name, partial / "wheels.tar")
    shutil.rmtree(wheels)
    _publish(partial, final, f"wheels {release}\n")
