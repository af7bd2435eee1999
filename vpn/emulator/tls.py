"""A self-signed certificate like Outline's (CN only, no SAN) and its pinned fingerprint."""

import datetime
import functools
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def self_signed_pem(common_name: str = "127.0.0.1") -> tuple[bytes, bytes, str]:
    """``(cert PEM, key PEM, SHA-256 of the DER cert as upper-case hex)``; cached per name."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    return cert_pem, key_pem, fingerprint


def server_tls(common_name: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server ``SSLContext`` with a self-signed certificate, and its ``certSha256``."""
    cert_pem, key_pem, fingerprint = self_signed_pem(common_name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context, fingerprint
