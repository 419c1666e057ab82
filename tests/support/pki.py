"""Test certificates made with the ``openssl`` command: CAs and the certificates they sign.

Only options OpenSSL 1.1.1 (Debian Bullseye) also knows are used. RSA keys cost about
0.2 s each, so callers make them once per module.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

EXTENSIONS = """
[req]
distinguished_name = dn
[dn]
[proper_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[bare_ca]
# what a bare `openssl req -x509` gives many home-made CAs: no keyUsage
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
"""Sections: ``proper_ca`` (keyUsage, as Python 3.13's strict checks want), ``bare_ca``
(none), ``server`` (for 127.0.0.1), ``client``."""


def make_pki(
    folder: Path, cas: Iterable[tuple[str, str]], signed: Iterable[tuple[str, str, str, str]]
) -> dict[str, Path]:
    """Make each CA ``(name, section)`` and each ``(name, subject, ca, section)`` it signs, in ``folder``.

    Returns ``name.pem`` and ``name.key`` of every one by file name. Skips the test where
    ``openssl`` is not installed.
    """
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    (folder / "ext.cnf").write_text(EXTENSIONS)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    names = []
    for ca, section in cas:
        openssl("req", "-x509", "-config", "ext.cnf", "-extensions", section, "-newkey", "rsa:2048",
                "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem")  # fmt: skip
        names.append(ca)
    for name, subject, ca, section in signed:
        openssl("req", "-config", "ext.cnf", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-extensions", section,
                "-out", f"{name}.pem")  # fmt: skip
        names.append(name)
    return {f"{name}.{kind}": folder / f"{name}.{kind}" for name in names for kind in ("pem", "key")}
