"""The real HTTPS server (``bindery web``): TLS profile, certificate, headers and the HTTP redirect.

One platform is started for the whole module and scanned once with sslyze; every test reads
from that shared server or scan.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from tests.support.server import Platform, platform

pytestmark = [
    pytest.mark.server,
    # sslyze's bundled root stores hold a few legacy roots that cryptography warns about.
    pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive"),
]

ONE_YEAR = 31536000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One migrated platform with ``bindery web`` running, shared by the whole module."""
    with platform(tmp_path_factory.mktemp("server_tls")) as plat:
        migrated = plat.bindery("migrate", "--quiet")
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        plat.start("web")
        plat.wait_until_up()
        yield plat


@pytest.fixture(scope="module")
def scan(server: Platform) -> ServerScanResult:
    """Scan the server once with everything sslyze's Mozilla checker needs."""
    location = ServerNetworkLocation("localhost", server.https_port, ip_address="127.0.0.1")
    request = ServerScanRequest(
        server_location=location,
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=server.cert),
        ),
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
    return result


def _handshake(server: Platform, context: ssl.SSLContext) -> str:
    """Complete a TLS handshake with the server and return the negotiated protocol version."""
    with socket.create_connection(("127.0.0.1", server.https_port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        version = tls.version()
        assert version is not None
        return version


def _client_context(cert: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(cert))
    # OpenSSL's default security level forbids TLS < 1.2 on the client; lower it so the only
    # party that can refuse an old version is the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    return context


def test_mozilla_intermediate_profile(scan: ServerScanResult) -> None:
    """sslyze finds the server compliant with Mozilla's intermediate TLS configuration."""
    check_server_against_tls_configuration(
        scan, MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    )


def test_sslyze_sees_no_tls_1_0_or_1_1(scan: ServerScanResult) -> None:
    """sslyze gets no cipher suite accepted over TLS 1.0 or 1.1, but some over 1.2 and 1.3."""
    results = scan.scan_result
    assert results is not None
    for name in ("tls_1_0_cipher_suites", "tls_1_1_cipher_suites"):
        attempt = getattr(results, name)
        assert attempt.result is not None, attempt.error_trace
        assert attempt.result.accepted_cipher_suites == [], name
        assert not attempt.result.is_tls_version_supported, name
    for name in ("tls_1_2_cipher_suites", "tls_1_3_cipher_suites"):
        attempt = getattr(results, name)
        assert attempt.result is not None, attempt.error_trace
        assert attempt.result.accepted_cipher_suites, name


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLSv1.0", "TLSv1.1"])
def test_old_tls_versions_are_refused(server: Platform, version: ssl.TLSVersion) -> None:
    """A client limited to TLS 1.0 or 1.1 sends its hello and the server answers with a refusal."""
    context = _client_context(server.cert, version)
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(server, context)
    # The refusal must come from the server (an alert it sent, or a newer version it insisted
    # on), not from a client that could not offer the old version in the first place.
    reason = refused.value.reason or ""
    assert "ALERT" in reason or reason in ("UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER"), refused.value


@pytest.mark.parametrize(("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                                (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_tls_1_2_and_1_3_are_accepted(server: Platform, version: ssl.TLSVersion, name: str) -> None:
    """A client limited to TLS 1.2, or to 1.3, completes a verified handshake."""
    assert _handshake(server, _client_context(server.cert, version)) == name


def test_security_headers_over_https(server: Platform) -> None:
    """HTTPS responses carry HSTS (at least a year), nosniff, DENY framing, a referrer policy and the CSP."""
    with server.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    headers = response.headers
    hsts = dict(part.strip().partition("=")[::2] for part in headers["Strict-Transport-Security"].split(";"))
    assert int(hsts["max-age"]) >= ONE_YEAR
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"]
    csp = [directive.strip() for directive in headers["Content-Security-Policy"].split(";")]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_http_get_redirects_permanently_to_https(server: Platform) -> None:
    """A plain-HTTP GET answers 301 to the same path on the HTTPS port."""
    response = httpx.get(f"http://localhost:{server.http_port}/x", follow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://localhost:{server.https_port}/x"


def test_http_post_redirect_keeps_the_method(server: Platform) -> None:
    """A plain-HTTP POST answers 308 so the client repeats the POST over HTTPS."""
    response = httpx.post(f"http://localhost:{server.http_port}/x", content=b"a=1", follow_redirects=False,
                          timeout=10)
    assert response.status_code == 308
    assert response.headers["Location"] == f"https://localhost:{server.https_port}/x"


def test_http_redirect_ignores_a_hostile_host(server: Platform) -> None:
    """A Host header naming another site is not reflected; the redirect goes to the public URL's host."""
    response = httpx.get(f"http://127.0.0.1:{server.http_port}/x", headers={"Host": "evil.example"},
                         follow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert "evil.example" not in response.headers["Location"]
    assert response.headers["Location"] == f"https://localhost:{server.https_port}/x"


def test_healthz_over_https(server: Platform) -> None:
    """/healthz over HTTPS answers 200 JSON with both databases ok and a queue section."""
    with server.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["databases"]["control"]["status"] == "ok"
    assert body["databases"]["host"]["status"] == "ok"
    assert body["queue"]["status"] == "ok"


def test_self_signed_certificate_properties(server: Platform) -> None:
    """The generated certificate is an RSA-2048, SHA-256 signed leaf naming localhost, valid <= 366 days."""
    cert = x509.load_pem_x509_certificate(server.cert.read_bytes())
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=366)
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) < cert.not_valid_after_utc


def test_certificate_is_reused_on_the_next_start(server: Platform) -> None:
    """Ensuring the certificate again (as every start does) keeps the existing pair byte for byte."""
    key = server.cert.with_suffix(".key")
    cert_before, key_before = server.cert.read_bytes(), key.read_bytes()
    checked = server.bindery("check")
    assert "ok    tls: self-signed certificate" in checked.stdout, checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert server.cert.read_bytes() == cert_before
    assert key.read_bytes() == key_before
