"""The edge's findings: the certificate it serves (expiry, chain) and its OCSP stapling."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from neurmatic.health import Status
from neurmatic.ops.flows.doctor.model import Audit, Finding, run_tool
from neurmatic.ops.flows.monitoring.health import fetch_served_certificate, served_certificate


def _chain_problem(url: str, ca_file: Path | None) -> str | None:
    """Why the served chain does not verify for the URL's host (against ``ca_file`` or the system's
    store), or None when it does."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)


def _no_edge(name: str, url: str, exc: OSError) -> Finding:
    return Finding(
        name,
        Status.DOWN,
        f"no TLS answer at {url}: {exc.strerror or type(exc).__name__}",
        "start nginx (neurmatic up, or docker compose up -d nginx), or point --url at the edge",
    )


def tls_certificate(audit: Audit) -> Finding:
    try:
        status, detail = served_certificate(audit.public_url)
    except OSError as exc:
        return _no_edge("tls certificate", audit.public_url, exc)
    problem = _chain_problem(audit.public_url, audit.ca_file)
    if problem is not None:
        return Finding(
            "tls certificate",
            Status.DOWN,
            f"{detail}; the chain does not verify: {problem}",
            "neurmatic tls issue --domain <name> --email <address> (docs/operations.md, Certificates)",
        )
    fix = "neurmatic tls renew (and neurmatic tls schedule)" if status != Status.UP else None
    return Finding("tls certificate", status, f"{detail}, chain verified", fix)


def _ocsp_url(cert: x509.Certificate) -> str | None:
    try:
        access = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(access, x509.AuthorityInformationAccess)
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return str(description.access_location.value)
    return None


def ocsp_stapling(audit: Audit) -> Finding:
    parts = urlsplit(audit.public_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    try:
        served = fetch_served_certificate(audit.public_url)  # only its responder is read
    except OSError as exc:
        return _no_edge("ocsp stapling", audit.public_url, exc)
    if served is not None and _ocsp_url(served) is None:
        return Finding("ocsp stapling", Status.NOT_CONFIGURED, "the certificate names no OCSP responder")
    result = run_tool(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", host, "-status"])
    if result is None:
        return Finding(
            "ocsp stapling", Status.DEGRADED, "openssl is not installed", "apt-get install -y openssl"
        )
    if "OCSP Response Status: successful" in result.stdout:
        return Finding("ocsp stapling", Status.UP, "nginx staples a good OCSP response")
    return Finding(
        "ocsp stapling",
        Status.DEGRADED,
        "no OCSP response stapled",
        "ssl_stapling on, ssl_trusted_certificate (chain.pem) and a resolver: the production nginx config",
    )
