"""Debian's Chromium driven by Playwright (never a downloaded browser), for the web client's end-to-end
tests and its bench.

The topology's certificate comes from its own CA, which Chromium cannot be given as a file: the server
certificate's public key is pinned instead (``--ignore-certificate-errors-spki-list``), so only that
certificate is accepted, not any. The background-networking flags keep Chromium from calling Google's
hosts, which this machine's closed network refuses, many at a time.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--no-sandbox",  # as root (CI); the page is our own
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def find_chromium() -> Path | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def spki_pin(certificate: Path) -> str:
    """The base64 SHA-256 of the certificate's public key, as Chromium's SPKI list wants it."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def launch_chromium(playwright: Playwright, chromium: Path, server_certificate: Path) -> Browser:
    """Chromium that trusts exactly the topology's server certificate."""
    return playwright.chromium.launch(
        executable_path=str(chromium),
        args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={spki_pin(server_certificate)}"],
    )
