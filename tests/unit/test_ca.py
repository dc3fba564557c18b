"""The federation's CA (fateops/ca.py): made once in the workspace with its key 0600, signs what it decides (not
what a request asks for), and its certificates work for mutual TLS: a real handshake on loopback with Python's ssl
accepts the federation's client and refuses a client without a certificate or with another CA's."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fateops import ca
from fateops.errors import FateopsError
from fateops.workspace import Workspace


@pytest.fixture
def authority(tmp_path: Path) -> ca.CertificateAuthority:
    return ca.CertificateAuthority(Workspace(tmp_path / "ws")).ensure()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ca_is_made_once_and_its_key_is_the_regulators_alone(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    first = ca.CertificateAuthority(workspace).ensure()
    assert _mode(first.key_path) == 0o600 and _mode(first.directory) == 0o700
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    first.key_path.chmod(0o644)
    again = ca.CertificateAuthority(workspace).ensure()
    assert again.certificate == first.certificate
    assert _mode(again.key_path) == 0o600


def test_a_broken_ca_is_named_not_replaced(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    authority = ca.CertificateAuthority(workspace).ensure()
    authority.key_path.write_bytes(ca.key_pem(ca.generate_key()))
    with pytest.raises(FateopsError, match=r"is not the key of .*ca\.crt; restore the pair"):
        ca.CertificateAuthority(workspace).ensure()
    authority.certificate_path.write_text("garbage")
    with pytest.raises(FateopsError, match=r"unreadable .*restore ca\.key and ca\.crt"):
        ca.CertificateAuthority(workspace).ensure()


def test_a_party_certificate_names_what_the_ca_decides(authority: ca.CertificateAuthority) -> None:
    key = ca.generate_key()
    # The request asks to be party 1 and the CA: ignored.
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "party-1")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(ca.serialization.Encoding.PEM)
    )
    certificate = authority.sign(request, ca.party(9999, "192.0.2.7"))
    assert ca.party_id_of(certificate) == 9999
    assert certificate.public_key() == key.public_key()
    assert authority.issued(certificate)
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["party-9999.fate"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]
    usages = list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not ca.expires_within(certificate, ca.RENEW_DAYS)
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=ca.CERT_DAYS - 10)
    assert ca.expires_within(certificate, ca.RENEW_DAYS, now=later)


def test_the_controller_and_the_exchange_have_certificates_of_their_kind(authority: ca.CertificateAuthority) -> None:
    controller = authority.sign(ca.make_request(ca.generate_key(), ca.CONTROLLER), ca.CONTROLLER)
    assert ca.party_id_of(controller) is None
    usages = list(controller.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == [ExtendedKeyUsageOID.CLIENT_AUTH]
    hub = authority.sign(ca.make_request(ca.generate_key(), ca.exchange("192.0.2.9")), ca.exchange("192.0.2.9"))
    assert hub.subject.rfc4514_string() == "CN=fateops-exchange"


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        (ca.Subject(ca.Kind.PARTY, None, "192.0.2.1"), "needs a party id"),
        (ca.party(10**12, "192.0.2.1"), "needs a party id"),
        (ca.party(9999, "host.example"), "needs its host's IP address, not 'host.example'"),
        (ca.exchange(""), "fateops-exchange's certificate needs its host's IP address"),
    ],
)
def test_bad_subjects_are_refused(authority: ca.CertificateAuthority, subject: ca.Subject, problem: str) -> None:
    with pytest.raises(FateopsError, match=problem):
        authority.sign(ca.make_request(ca.generate_key(), ca.CONTROLLER), subject)


def test_bad_requests_are_refused(authority: ca.CertificateAuthority) -> None:
    with pytest.raises(FateopsError, match="party-7 is not a PEM request"):
        authority.sign(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", ca.party(7, "192.0.2.1")
        )
    # A request whose signature does not match its key: the signature's last bytes flipped.
    good = x509.load_pem_x509_csr(ca.make_request(ca.generate_key(), ca.party(7, "192.0.2.1")))
    der = bytearray(good.public_bytes(ca.serialization.Encoding.DER))
    der[-1] ^= 0x01
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(ca.serialization.Encoding.PEM)
    with pytest.raises(FateopsError, match="not signed by its own key"):
        authority.sign(tampered, ca.party(7, "192.0.2.1"))


def test_issue_local_keeps_a_valid_certificate_and_its_key(authority: ca.CertificateAuthority, tmp_path: Path) -> None:
    directory = tmp_path / "ws" / "tls"
    path = ca.issue_local(authority, directory, ca.CONTROLLER)
    key_path = directory / "fateops-controller.key"
    assert _mode(key_path) == 0o600
    first, key = path.read_bytes(), key_path.read_bytes()
    assert ca.issue_local(authority, directory, ca.CONTROLLER).read_bytes() == first
    # One about to expire is re-issued, for the same key.
    short = authority.sign(ca.make_request(ca.load_key(key), ca.CONTROLLER), ca.CONTROLLER, days=5)
    path.write_bytes(ca.certificate_pem(short))
    renewed = ca.load_certificate(ca.issue_local(authority, directory, ca.CONTROLLER).read_bytes())
    assert renewed != short and not ca.expires_within(renewed, ca.RENEW_DAYS)
    assert key_path.read_bytes() == key


def _write_pair(directory: Path, name: str, authority: ca.CertificateAuthority, subject: ca.Subject) -> tuple[str, str]:
    key = ca.generate_key()
    (directory / f"{name}.key").write_bytes(ca.key_pem(key))
    (directory / f"{name}.crt").write_bytes(ca.certificate_pem(authority.sign(ca.make_request(key, subject), subject)))
    return str(directory / f"{name}.crt"), str(directory / f"{name}.key")


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[int | None, str | None]:
    """The party id the server read from the client's certificate, and the client's error, if any."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[int | None] = []

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server.wrap_socket(connection, server_side=True) as tls:
                peer = tls.getpeercert(binary_form=True)
                seen.append(ca.party_id_of(x509.load_der_x509_certificate(peer)) if peer else None)
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            seen.append(None)

    thread = threading.Thread(target=serve)
    thread.start()
    error = None
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="party-9999.fate") as tls,
        ):
            if tls.recv(2) != b"ok":
                error = "no answer"
    except (ssl.SSLError, OSError) as exc:
        error = type(exc).__name__
    thread.join(5)
    listener.close()
    return (seen[0] if seen else None), error


def test_mutual_tls_with_the_federations_certificates(authority: ca.CertificateAuthority, tmp_path: Path) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1_2
    server.load_cert_chain(*_write_pair(tmp_path, "server", authority, ca.party(9999, "127.0.0.1")))
    server.load_verify_locations(str(authority.certificate_path))
    server.verify_mode = ssl.CERT_REQUIRED

    def client(pair: tuple[str, str] | None, trust: Path = authority.certificate_path) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(trust))
        if pair:
            context.load_cert_chain(*pair)
        return context

    peer = _write_pair(tmp_path, "peer", authority, ca.party(10000, "127.0.0.2"))
    assert _handshake(server, client(peer)) == (10000, None)
    # No certificate, or one of another CA: the server ends the handshake.
    seen, error = _handshake(server, client(None))
    assert seen is None and error is not None
    stranger = ca.CertificateAuthority(Workspace(tmp_path / "other")).ensure()
    seen, error = _handshake(server, client(_write_pair(tmp_path, "stranger", stranger, ca.party(10000, "127.0.0.2"))))
    assert seen is None and error is not None
    # The client checks the server too: a server of another CA is refused by the federation's client.
    assert _handshake(server, client(peer, trust=stranger.certificate_path))[1] == "SSLCertVerificationError"
