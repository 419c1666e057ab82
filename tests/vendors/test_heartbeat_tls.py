"""TLS to a vendor: verified by default, against ``ca_file`` when given; unchecked if ``tls_insecure``."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vendor_helpers import TOKEN, telecomx_table

from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made once: an RSA key costs ~0.2 s
    and every test only reads them."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("vendor-tls")
    cert, key = folder / "vendor.pem", folder / "vendor.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_telecomx(certificate: tuple[Path, Path]) -> Iterator[tuple[TelecomXSimulator, str, Path]]:
    """The simulator behind a self-signed certificate for 127.0.0.1; yields (app, url, cert file)."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    app = TelecomXSimulator()
    app.add_device(TOKEN)
    server = SimulatorServer(app)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield app, f"https://127.0.0.1:{server.port}", cert


def test_an_unknown_certificate_is_refused_by_default(
    https_telecomx: tuple[TelecomXSimulator, str, Path], harness_factory: Any
) -> None:
    app, url, _cert = https_telecomx
    outcome = harness_factory(telecomx_table(url)).beat("tx")
    assert outcome["ok"] is False and "CERTIFICATE_VERIFY_FAILED" in outcome["error"]
    assert app.heartbeats(TOKEN) == []


def test_the_ca_file_makes_a_private_certificate_trusted(
    https_telecomx: tuple[TelecomXSimulator, str, Path], harness_factory: Any
) -> None:
    app, url, cert = https_telecomx
    outcome = harness_factory(telecomx_table(url, ca_file=f'"{cert}"')).beat("tx")
    assert outcome["ok"] is True
    assert len(app.heartbeats(TOKEN)) == 1


def test_tls_insecure_skips_verification(
    https_telecomx: tuple[TelecomXSimulator, str, Path], harness_factory: Any
) -> None:
    app, url, _cert = https_telecomx
    assert harness_factory(telecomx_table(url, tls_insecure="true")).beat("tx")["ok"] is True
    assert len(app.heartbeats(TOKEN)) == 1


def test_an_unreadable_ca_file_stops_the_endpoint_with_a_clear_reason(
    https_telecomx: tuple[TelecomXSimulator, str, Path], harness_factory: Any, tmp_path: Path
) -> None:
    _app, url, _cert = https_telecomx
    missing = tmp_path / "nope.pem"
    outcome = harness_factory(telecomx_table(url, ca_file=f'"{missing}"')).beat("tx")
    assert outcome["ok"] is False and "ca_file" in outcome["error"]


def test_the_ca_bundle_is_loaded_only_for_an_https_request(
    https_telecomx: tuple[TelecomXSimulator, str, Path],
    harness_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain http:// vendor never costs the 1.8 MB of the system roots; an https:// one still
    verifies against them (and refuses the self-signed certificate)."""
    from edge_agent.heartbeat import transport

    loaded: list[ssl.SSLContext] = []

    def default_roots() -> ssl.SSLContext:
        loaded.append(ssl.create_default_context())
        return loaded[-1]

    monkeypatch.setattr(transport, "_default_roots", default_roots)
    plain = TelecomXSimulator()
    plain.add_device(TOKEN)
    with SimulatorServer(plain) as server:
        assert harness_factory(telecomx_table(server.url)).beat("tx")["ok"] is True
    assert loaded == []
    app, url, _cert = https_telecomx
    outcome = harness_factory(telecomx_table(url)).beat("tx")
    assert outcome["ok"] is False and "CERTIFICATE_VERIFY_FAILED" in outcome["error"]
    assert len(loaded) == 1 and app.heartbeats(TOKEN) == []
