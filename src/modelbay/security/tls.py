"""TLS material for the API's port: the operator's certificate, or one made for local use.

`--tls-self-signed` makes, in the data directory's `tls/` folder, a certificate authority of this server's own
(`ca.pem`, kept for ten years, so clients trust it once) and a certificate for the names the server answers to
(localhost, the loopback addresses, the machine's name, the address it listens on), signed by it and made again
when those names change or it nears its end. Clients trust it with AWS_CA_BUNDLE=<data dir>/tls/ca.pem (boto3,
the AWS CLI and the SageMaker SDK all read it). Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from modelbay.config import TLS_AUTHORITY_FILE
from modelbay.security.private_files import create_private
from modelbay.user_files import write_text

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a leaf certificate
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path  # the server's certificate (PEM)
    private_key: Path  # its key (PEM)
    ca_bundle: Path | None = None  # what clients trust: the self-signed authority (None: the operator's own)


class TlsMisconfigured(ValueError):
    """TLS settings a server cannot serve with; the message says which and why."""


def operator_files(certificate: Path, private_key: Path) -> TlsFiles:
    """The operator's certificate and key, checked before the server binds its port: both load, the key is the
    certificate's, and it has no passphrase (a server started unattended could not give one)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certificate, private_key, password=lambda: b"")
    except OSError as error:  # ssl.SSLError too
        raise TlsMisconfigured(f"cannot serve with the certificate {certificate} and the key {private_key}: "
                               f"{error.strerror or error}") from None
    return TlsFiles(certificate, private_key)


def self_signed(folder: Path, host: str) -> TlsFiles:
    """The server's certificate for `host` under `folder`, signed by the folder's own authority (made if absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _private_key(folder / "ca-key.pem")
    ca_file = folder / TLS_AUTHORITY_FILE
    if not ca_file.exists():
        write_text(ca_file, _pem(_authority(ca_key)))
    authority = x509.load_pem_x509_certificate(ca_file.read_bytes())
    names = _names(host)
    server_key = _private_key(folder / "server-key.pem")
    server_file = folder / "server.pem"
    if not server_file.exists() or _needs_renewal(x509.load_pem_x509_certificate(server_file.read_bytes()), names):
        write_text(server_file, _pem(_server_certificate(server_key, authority, ca_key, names)))
    return TlsFiles(server_file, folder / "server-key.pem", ca_file)


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key in `path`, made (P-256) if there is none."""
    made = ec.generate_private_key(ec.SECP256R1())
    create_private(path, made.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode())
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an elliptic-curve key")
    return key


def _authority(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"modelbay local CA ({socket.gethostname()})")])
    now = _now()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def _server_certificate(key: ec.EllipticCurvePrivateKey, authority: x509.Certificate,
                        authority_key: ec.EllipticCurvePrivateKey, names: list[x509.GeneralName]) -> x509.Certificate:
    now = _now()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelbay")])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(authority.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()),
                           critical=False)
            .sign(authority_key, hashes.SHA256()))


def _names(host: str) -> list[x509.GeneralName]:
    """Every name and address a client on this machine or beyond may reach the server by."""
    dns = {"localhost", socket.gethostname()}
    addresses = {"127.0.0.1", "::1"}
    try:
        ipaddress.ip_address(host)
        if host not in ("0.0.0.0", "::"):
            addresses.add(host)
    except ValueError:
        dns.add(host)
    return ([x509.DNSName(name) for name in sorted(dns) if name]
            + [x509.IPAddress(ipaddress.ip_address(address)) for address in sorted(addresses)])


def _needs_renewal(certificate: x509.Certificate, names: list[x509.GeneralName]) -> bool:
    current = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(current) != set(names) or certificate.not_valid_after_utc - _now() < _RENEW_BEFORE


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
