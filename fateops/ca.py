"""The federation's certificate authority, kept in the regulator's workspace.

The regulator reaches every party host, so it is the one that vouches for them: its CA key (`<workspace>/ca/ca.key`,
0600, never shipped) signs a certificate request made on each party host, whose private key never leaves that
host. What the CA signs is decided here, not by the request: a request is only the proof that its maker holds a
key, and its subject and extensions are ignored. A party's certificate names its party id (the subject's common
name `party-<id>`, and the DNS name `party-<id>.fate` that the exchange routes on by SNI) and its host's address
(an IP address name); the exchange and the controller get certificates of their own kind.

Pure file and crypto logic, no network. Keys are ECDSA P-256: small, fast for TLS handshakes, read by nginx,
RabbitMQ's Erlang and Python's ssl alike.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fateops.errors import FateopsError
from fateops.workspace import Workspace, atomic_write

CA_DIRECTORY = "ca"
CA_DAYS = 3650
CERT_DAYS = 365
# A deploy re-issues a certificate that expires within this many days (settings: fate_cert_renew_days).
RENEW_DAYS = 30
# The DNS names the certificates carry, which the exchange routes by (SNI) and nginx checks.
DNS_SUFFIX = ".fate"
_PARTY_NAME = re.compile(r"party-([0-9]{1,12})")
_BACKDATE = datetime.timedelta(minutes=5)


class Kind(Enum):
    """What a certificate is for: a party's nginx (server and client), the exchange, or the controller (client)."""

    PARTY = "party"
    EXCHANGE = "exchange"
    CONTROLLER = "controller"


@dataclass(frozen=True)
class Subject:
    """Who a certificate names."""

    kind: Kind
    # The party id, for Kind.PARTY only.
    party_id: int | None = None
    # The host's address, for the kinds that listen (party, exchange).
    address: str | None = None

    @property
    def common_name(self) -> str:
        return f"party-{self.party_id}" if self.kind is Kind.PARTY else f"fateops-{self.kind.value}"

    @property
    def dns_name(self) -> str:
        return f"{self.common_name}{DNS_SUFFIX}"


def party(party_id: int, address: str) -> Subject:
    return Subject(Kind.PARTY, party_id, address)


def exchange(address: str) -> Subject:
    return Subject(Kind.EXCHANGE, None, address)


CONTROLLER = Subject(Kind.CONTROLLER)


def party_id_of(certificate: x509.Certificate) -> int | None:
    """The party id a certificate names (its common name party-<id>), or None when it names no party."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    match = _PARTY_NAME.fullmatch(str(names[0].value)) if names else None
    return int(match.group(1)) if match else None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_request(key: ec.EllipticCurvePrivateKey, subject: Subject) -> bytes:
    """A certificate request for key, as a party host makes it (the CA ignores its subject)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FateopsError("not a P-256 private key")
    return key


def load_certificate(pem: bytes | str) -> x509.Certificate:
    raw = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(raw)
    except ValueError as exc:
        raise FateopsError(f"not a PEM certificate ({exc})") from None


def expires_within(certificate: x509.Certificate, days: int, now: datetime.datetime | None = None) -> bool:
    """True when the certificate is expired, or expires within days of now: a deploy then re-issues it."""
    return certificate.not_valid_after_utc - (now or _now()) <= datetime.timedelta(days=days)


class CertificateAuthority:
    """The CA's key and certificate in the workspace: made on first use, the same CA on every later load."""

    def __init__(self, workspace: Workspace) -> None:
        self.directory = workspace.home / CA_DIRECTORY
        self.key_path = self.directory / "ca.key"
        self.certificate_path = self.directory / "ca.crt"
        self._workspace = workspace
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._certificate: x509.Certificate | None = None

    def ensure(self) -> CertificateAuthority:
        self._workspace.ensure()
        self.directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if self.key_path.exists() or self.certificate_path.exists():
            self._load()
        else:
            self._create()
        return self

    def _load(self) -> None:
        try:
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise FateopsError(
                f"the federation CA in {self.directory} is unreadable ({exc}); restore ca.key and ca.crt from a "
                "backup (a new CA would have to re-issue every party's certificate)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
            raise FateopsError(
                f"{self.key_path} is not the key of {self.certificate_path}; restore the pair from a backup"
            )
        # Nobody but the regulator reads the CA key.
        os.chmod(self.key_path, 0o600)
        self._key, self._certificate = key, certificate

    def _create(self) -> None:
        key = generate_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fateops federation"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"fateops federation CA {self._workspace.home.name}"),
            ]
        )
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        # The key first: a certificate without its key is a broken CA, a key without a certificate is made again.
        atomic_write(self.key_path, key_pem(key), mode=0o600)
        atomic_write(self.certificate_path, certificate_pem(certificate), mode=0o644)
        self._key, self._certificate = key, certificate

    @property
    def certificate(self) -> x509.Certificate:
        if self._certificate is None:
            self.ensure()
        assert self._certificate is not None
        return self._certificate

    def sign(self, request_pem: bytes | str, subject: Subject, days: int = CERT_DAYS) -> x509.Certificate:
        """A certificate for the key of the request, naming subject. The request must be well formed and signed
        by its own key; anything it asks for beyond that is ignored."""
        if self._key is None:
            self.ensure()
        assert self._key is not None
        _check_subject(subject)
        raw = request_pem.encode() if isinstance(request_pem, str) else request_pem
        try:
            request = x509.load_pem_x509_csr(raw)
        except ValueError as exc:
            raise FateopsError(
                f"the certificate request for {subject.common_name} is not a PEM request ({exc})"
            ) from None
        if not request.is_signature_valid:
            raise FateopsError(f"the certificate request for {subject.common_name} is not signed by its own key")
        public = request.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise FateopsError(f"the certificate request for {subject.common_name} is not for a P-256 key")
        now = _now()
        names: list[x509.GeneralName] = [x509.DNSName(subject.dns_name)]
        if subject.address:
            names.append(x509.IPAddress(ipaddress.ip_address(subject.address)))
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if subject.kind is not Kind.CONTROLLER:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(min(now + datetime.timedelta(days=days), self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True, key_agreement=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()), critical=False
            )
        )
        return builder.sign(self._key, hashes.SHA256())

    def issued(self, certificate: x509.Certificate) -> bool:
        """True when this CA signed certificate (whatever its dates)."""
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    usages = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{usage: allowed.get(usage, False) for usage in usages})


def _check_subject(subject: Subject) -> None:
    if subject.kind is Kind.PARTY and (subject.party_id is None or not 0 <= subject.party_id < 10**12):
        raise FateopsError(f"a party certificate needs a party id, not {subject.party_id!r}")
    if subject.kind is not Kind.CONTROLLER:
        try:
            ipaddress.ip_address(subject.address or "")
        except ValueError:
            raise FateopsError(
                f"{subject.common_name}'s certificate needs its host's IP address, not {subject.address!r}"
            ) from None


def issue_local(ca: CertificateAuthority, directory: Path, subject: Subject, days: int = CERT_DAYS) -> Path:
    """A key and certificate for subject made here, in directory (key 0600): the controller's own, for its calls
    through the parties' doors. Kept while valid for more than RENEW_DAYS; the key stays across re-issues."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path, certificate_path = directory / f"{subject.common_name}.key", directory / f"{subject.common_name}.crt"
    if key_path.exists():
        try:
            key = load_key(key_path.read_bytes())
        except (ValueError, TypeError, FateopsError):
            raise FateopsError(
                f"{key_path} is not a P-256 key; remove it and its certificate to make new ones"
            ) from None
        os.chmod(key_path, 0o600)
    else:
        key = generate_key()
        atomic_write(key_path, key_pem(key), mode=0o600)
    if certificate_path.exists():
        current = load_certificate(certificate_path.read_bytes())
        if ca.issued(current) and current.public_key() == key.public_key() and not expires_within(current, RENEW_DAYS):
            return certificate_path
    certificate = ca.sign(make_request(key, subject), subject, days)
    atomic_write(certificate_path, certificate_pem(certificate), mode=0o644)
    return certificate_path
