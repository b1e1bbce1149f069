"""moto's S3 server over HTTPS on a free loopback port, for clients that speak only TLS to S3 (pgBackRest).

moto's own ``ThreadedMotoServer`` serves plain HTTP and takes no SSL context, so this runs the same pieces
it does (moto's WSGI app and request handler in werkzeug's threaded server) with an ``ssl.SSLContext``:
TLS is terminated in-process, with no proxy hop. The certificate comes from the topology's own local CA
helper (``neurmatic.supervisor.tls``): a throwaway CA and a server certificate for ``localhost`` and
``127.0.0.1``, the address both as an iPAddress entry (what Python and curl match) and as a dNSName
entry (pgBackRest 2.45 matches a host only against dNSName entries and the common name). Clients verify
it against ``ca_file`` instead of switching verification off.

One fix over werkzeug's server: it answers every request with ``Connection: close`` and then drops the
TCP connection without a TLS close_notify. Clients built on OpenSSL 3 that read on (pgBackRest) take that
as "unexpected eof while reading" and retry until they give up; this server says close_notify first.

moto keeps its buckets in this process (shared with any other in-process moto server): give each test
its own bucket name.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer

from neurmatic.supervisor.state import ServiceAccount
from neurmatic.supervisor.tls import ensure_certificates

HOST = "127.0.0.1"
REGION = "eu-west-1"
ACCESS_KEY = "test"
SECRET_KEY = "test"  # moto accepts any credentials


class _QuietRequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _TlsMotoServer(ThreadedWSGIServer):
    """werkzeug's threaded server that ends each TLS connection with a close_notify."""

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.setblocking(False)  # send close_notify, do not wait for the client's reply
                request = request.unwrap()
            except ssl.SSLWantReadError:
                pass  # sent; the client's own close_notify would come next
            except (OSError, ValueError):
                pass  # the client already went away: nothing left to tell it
        if isinstance(request, socket.socket):
            super().shutdown_request(request)


@dataclass(frozen=True)
class TlsS3:
    """A running moto S3 server behind TLS: where it listens and what a client needs to trust and sign."""

    host: str
    port: int
    ca_file: Path
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    @property
    def endpoint(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://{self.host}:{self.port}"

    def client(self) -> Any:  # boto3 is untyped
        """A boto3 S3 client that verifies the server against ``ca_file``."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            verify=str(self.ca_file),
        )

    def environment(self, bucket: str) -> dict[str, str]:
        """What ``neurmatic up`` (and a drill, a backup) read to archive into ``bucket`` on this server."""
        return {
            "AWS_BACKUP_BUCKET": bucket,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_CA_BUNDLE": str(self.ca_file),
        }

    def create_bucket(self, name: str) -> None:
        """Create ``name`` in ``region`` (pgBackRest never creates its bucket itself)."""
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region}
        )


@contextmanager
def tls_moto(directory: Path) -> Iterator[TlsS3]:
    """Serve moto's S3 over HTTPS on a free port of 127.0.0.1 until the block ends.

    ``directory`` receives ``ca.pem`` (made readable by every account, so a client running as another
    user, e.g. pgBackRest under the service account, can trust it), ``server.pem`` and ``server.key``.
    The kernel picks the port (bind to port 0), so no other process can take it between choice and bind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = ensure_certificates(
        directory, ServiceAccount(None, os.getuid(), os.getgid()), extra_dns_names=(HOST,)
    )
    ca_file.chmod(0o644)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = _TlsMotoServer(
        HOST, 0, DomainDispatcherApplication(create_backend_app), _QuietRequestHandler, ssl_context=context
    )
    thread = threading.Thread(target=server.serve_forever, name="tls-moto", daemon=True)
    thread.start()
    try:
        yield TlsS3(host=HOST, port=server.server_port, ca_file=ca_file)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
