"""TLS certificate for the embedded default: self-signed RSA-2048 / SHA-256, made on first start.

Validity is 365 days, inside the Mozilla intermediate profile's 366-day limit; a generated
certificate within 30 days of expiry is replaced at start. A configured certificate is only
checked (readable, parseable, key matches, not expired), never replaced.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bindery.config import Config, ConfigError

VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    generated: bool


def generate_self_signed(cert_path: Path, key_path: Path, *, host_names: tuple[str, ...] = ("localhost",),
                         now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, host_names[0]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bindery (self-signed)"),
    ])
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in host_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        # An end-entity certificate, not a CA: clients that pin it (tests, the backup site) trust
        # it directly, and strict RFC 5280 validators reject a leaf that asserts cA.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                     content_commitment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        # Required on every end-entity certificate (RFC 5280 4.2.1.1), self-signed ones included.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write the key first with owner-only permissions, then swap files in atomically.
    tmp_key = key_path.with_name(key_path.name + ".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    tmp_cert = cert_path.with_name(cert_path.name + ".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)


def load_certificate(cert_path: Path, key_path: Path, *, cert_var: str, key_var: str) -> x509.Certificate:
    """Parse the pair and check the key matches; raise ConfigError naming the variable at fault."""
    try:
        cert_pem = cert_path.read_bytes()
    except OSError as exc:
        raise ConfigError(cert_var, f"cannot read {cert_path}: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(cert_var, f"{cert_path} is not a PEM certificate") from None
    try:
        key_pem = key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(key_var, f"cannot read {key_path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(key_var, f"{key_path} is not an unencrypted PEM private key") from None
    if b"BEGIN PRIVATE KEY" not in key_pem:
        raise ConfigError(key_var, f"{key_path} must be in PKCS#8 form (BEGIN PRIVATE KEY)")
    def spki(k: object) -> bytes:
        return k.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if spki(key.public_key()) != spki(cert.public_key()):
        raise ConfigError(key_var, f"{key_path} does not belong to the certificate {cert_path}")
    if cert.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise ConfigError(cert_var, f"{cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return cert


def ensure_certificate(config: Config, *, now: dt.datetime | None = None) -> TlsFiles:
    """Return the certificate to serve; generate (or renew) the self-signed one when none is configured."""
    if config.tls_cert_file and config.tls_key_file:
        load_certificate(config.tls_cert_file, config.tls_key_file,
                         cert_var="BINDERY_TLS_CERT_FILE", key_var="BINDERY_TLS_KEY_FILE")
        return TlsFiles(config.tls_cert_file, config.tls_key_file, generated=False)
    cert_path = config.tls_dir / "localhost.crt"
    key_path = config.tls_dir / "localhost.key"
    now = now or dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            cert = load_certificate(cert_path, key_path, cert_var="BINDERY_VAR_DIR", key_var="BINDERY_VAR_DIR")
        except ConfigError:
            cert = None  # a damaged generated pair is simply made again
        if cert is not None and cert.not_valid_after_utc - now > RENEW_BEFORE:
            return TlsFiles(cert_path, key_path, generated=False)
    generate_self_signed(cert_path, key_path, now=now)
    return TlsFiles(cert_path, key_path, generated=True)
