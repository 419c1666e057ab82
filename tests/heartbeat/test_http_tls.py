"""TLS to a vendor through the transport: verified against ``ca_file`` or the roots, or not at all
with ``tls_insecure``; the roots themselves loaded only by an ``https://`` request."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from scripted_server import ScriptedServer, keep_answering
from support.pki import make_pki
from transport_client import endpoint, exchange, get, one

from edge_agent.errors import VendorRejectedError, VendorTransportError
from edge_agent.heartbeat import transport


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA, a certificate it signed for 127.0.0.1, and an unrelated CA (made once: RSA keys
    cost ~0.2 s each; options OpenSSL 1.1.1 knows too)."""
    return make_pki(
        tmp_path_factory.mktemp("vendor-pki"),
        [("ca", "proper_ca"), ("other-ca", "proper_ca")],
        [("server", "/CN=127.0.0.1", "ca", "server")],
    )


def tls_server(pki: dict[str, Path]) -> ScriptedServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server.pem"], pki["server.key"])
    return ScriptedServer(keep_answering(), tls=context)


def test_the_ca_file_makes_the_test_cas_certificate_trusted_and_the_connection_is_kept(
    pki: dict[str, Path],
) -> None:
    with tls_server(pki) as server:
        results = exchange([get(server.url), get(server.url)], endpoint(ca_file=pki["ca.pem"]))
    assert [r.status for r in results] == [200, 200]
    assert server.connections == 1  # one handshake for both beats


@pytest.mark.parametrize("ca", ["other-ca.pem", None])
def test_a_certificate_the_roots_do_not_vouch_for_is_refused(pki: dict[str, Path], ca: str) -> None:
    with tls_server(pki) as server:
        result = one(get(server.url), endpoint(ca_file=pki[ca] if ca else None))
    assert isinstance(result, VendorTransportError)
    assert str(result).startswith(f"cannot reach 127.0.0.1:{server.port}: ConnectError: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(result)
    assert server.requests == []


def test_tls_insecure_accepts_any_certificate(pki: dict[str, Path]) -> None:
    with tls_server(pki) as server:
        result = one(get(server.url), endpoint(tls_insecure=True))
    assert result.status == 200


def test_an_unusable_ca_file_is_a_rejected_request(pki: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with tls_server(pki) as server:
        for ca_file in (broken, tmp_path / "missing.pem"):
            result = one(get(server.url), endpoint(ca_file=ca_file))
            assert isinstance(result, VendorRejectedError) and f"ca_file {ca_file} cannot be used" in str(
                result
            )
    assert server.connections == 0


def test_plain_http_never_loads_the_roots_and_https_loads_them_once(
    pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ssl.SSLContext] = []

    def default_roots() -> ssl.SSLContext:
        made.append(ssl.create_default_context())
        return made[-1]

    monkeypatch.setattr(transport, "_default_roots", default_roots)
    with ScriptedServer(keep_answering()) as plain:
        assert [r.status for r in exchange([get(plain.url)] * 2)] == [200, 200]
    assert made == []
    with tls_server(pki) as server:
        results = exchange([get(server.url)] * 2)
    assert all(isinstance(r, VendorTransportError) for r in results)
    assert len(made) == 1  # made at the first https:// request, then kept by the endpoint
