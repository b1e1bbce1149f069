"""``neurmatic tls``: the edge's certificate from an ACME CA (Let's Encrypt) through certbot.

``issue`` gets one with the webroot challenge (nginx serves ``/.well-known/acme-challenge/`` from the
webroot), ``renew`` renews what is due, ``status`` shows what nginx serves and how long it has left,
``schedule`` installs the twice-daily renewal, and ``deploy-hook`` is what certbot runs after each issuance
or renewal: check, install, reload nginx (see ops/flows/certificates.py).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from neurmatic.errors import ConfigurationError
from neurmatic.ops.commands.options import json_option, stdout_console
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows import certificates
from neurmatic.ops.flows.certificates import CertbotDirs, Installation

console = stdout_console()
DEFAULT_INSTALL_DIR = Path("infrastructure/nginx/ssl/production")  # compose mounts it into nginx
DEFAULT_WEBROOT = Path("/var/www/certbot")  # compose mounts it; nginx serves the challenges from it
DEFAULT_CRON_FILE = Path("/etc/cron.d/neurmatic-certbot")
EXPIRY_WARNING_DAYS = 14  # the monitoring's TLS alert fires at the same age


def _dirs(root: Path | None) -> CertbotDirs:
    return CertbotDirs() if root is None else CertbotDirs.under(root)


def _installation(
    install_dir: Path, reload_command: str, trusted_roots: Path | None, workdir: Path | None = None
) -> Installation:
    """Every path absolute: certbot saves the hook and runs it later from / (its timer) or root's home."""
    argv = tuple(shlex.split(reload_command))
    if not argv:
        raise ConfigurationError("--reload-command is empty", hint="e.g. 'nginx -s reload'")
    return Installation(
        install_dir.absolute(),
        argv,
        trusted_roots.absolute() if trusted_roots else None,
        (workdir or Path.cwd()).absolute(),
    )


certbot_dir_option = click.option(
    "--certbot-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="certbot's config/, work/ and logs/ under this directory [default: Debian's /etc/letsencrypt, …].",
)
acme_ca_option = click.option(
    "--acme-ca-bundle",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Trust this CA bundle for the ACME server's own TLS (a private ACME server).",
)
install_dir_option = click.option(
    "--install-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_INSTALL_DIR,
    show_default=True,
    help="Where nginx reads fullchain.pem, privkey.pem and chain.pem.",
)
reload_option = click.option(
    "--reload-command",
    default="nginx -s reload",
    show_default=True,
    help="How nginx is told to reload (compose: 'docker compose -f … exec -T nginx nginx -s reload').",
)
roots_option = click.option(
    "--trusted-roots",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The roots a new chain must end at [default: the system's store].",
)


@click.group()
def tls() -> None:
    """The edge's certificate: issue, renew, status, schedule (certbot, webroot challenge)."""


@tls.command()
@click.option("--domain", "domains", multiple=True, required=True, help="A name to certify (repeatable).")
@click.option("--email", required=True, help="The account's contact (expiry notices).")
@click.option(
    "--webroot",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_WEBROOT,
    show_default=True,
    help="The directory nginx serves /.well-known/acme-challenge/ from.",
)
@click.option("--server", default=None, help="The ACME directory URL [default: Let's Encrypt].")
@click.option(
    "--staging", is_flag=True, help="Let's Encrypt's staging CA (untrusted certificates, no limits)."
)
@install_dir_option
@reload_option
@roots_option
@certbot_dir_option
@acme_ca_option
@json_option
def issue(
    domains: tuple[str, ...],
    email: str,
    webroot: Path,
    server: str | None,
    staging: bool,
    install_dir: Path,
    reload_command: str,
    trusted_roots: Path | None,
    certbot_dir: Path | None,
    acme_ca_bundle: Path | None,
    as_json: bool,
) -> None:
    """Get a certificate for the domains; it is checked, installed and nginx reloaded (the deploy hook)."""
    installation = _installation(install_dir, reload_command, trusted_roots)
    certificates.issue(
        domains=list(domains),
        email=email,
        webroot=webroot,
        installation=installation,
        dirs=_dirs(certbot_dir),
        server=server,
        acme_ca_bundle=acme_ca_bundle,
        staging=staging,
    )
    _show(certificates.installed(installation.install_dir), as_json)


@tls.command()
@click.option("--force", is_flag=True, help="Renew every certificate now, due or not.")
@certbot_dir_option
@acme_ca_option
def renew(force: bool, certbot_dir: Path | None, acme_ca_bundle: Path | None) -> None:
    """Renew what expires within 30 days (each through its deploy hook)."""
    output = certificates.renew(dirs=_dirs(certbot_dir), force=force, acme_ca_bundle=acme_ca_bundle)
    console.print(output.strip() or "nothing to renew", highlight=False)


@tls.command()
@install_dir_option
@json_option
def status(install_dir: Path, as_json: bool) -> None:
    """The certificate nginx serves: names, issuer, expiry. Exit 14 within 14 days of expiry, 9 when
    expired or missing."""
    info = certificates.installed(install_dir)
    _show(info, as_json)
    if info is None or info.days_left <= 0:
        sys.exit(ExitCode.UNHEALTHY)
    if info.days_left < EXPIRY_WARNING_DAYS:
        sys.exit(ExitCode.DEGRADED)


@tls.command("deploy-hook")
@install_dir_option
@reload_option
@roots_option
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Run the reload command here (`tls issue` saves the directory it was run from).",
)
def deploy_hook(
    install_dir: Path, reload_command: str, trusted_roots: Path | None, workdir: Path | None
) -> None:
    """Run by certbot after an issuance or renewal (RENEWED_LINEAGE, RENEWED_DOMAINS): check the new
    certificate, install it, reload nginx. A refused certificate changes nothing (exit 23)."""
    lineage, domains = os.environ.get("RENEWED_LINEAGE"), os.environ.get("RENEWED_DOMAINS", "").split()
    if not lineage:
        raise ConfigurationError("RENEWED_LINEAGE is not set", hint="certbot runs this hook; see `tls issue`")
    info = certificates.deploy(
        Path(lineage), domains, _installation(install_dir, reload_command, trusted_roots, workdir)
    )
    console.print(f"installed {info.subject} (serial {info.serial}, until {info.not_after}); nginx reloaded")


@tls.command()
@click.option(
    "--cron-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CRON_FILE,
    show_default=True,
    help="The cron file to write (idempotent: unchanged when it already says the same).",
)
@certbot_dir_option
@acme_ca_option
def schedule(cron_file: Path, certbot_dir: Path | None, acme_ca_bundle: Path | None) -> None:
    """Install the twice-daily renewal as a cron file."""
    changed = certificates.install_cron(
        cron_file, certificates.renewal_cron(_dirs(certbot_dir), acme_ca_bundle)
    )
    console.print(f"{'installed' if changed else 'unchanged'}: {cron_file}")


def _show(info: certificates.CertificateInfo | None, as_json: bool) -> None:
    payload: dict[str, Any] | None = asdict(info) if info is not None else None
    if as_json:
        click.echo(json.dumps({"certificate": payload}, indent=2))
    elif info is None:
        console.print("no certificate installed", highlight=False)
    else:
        console.print(
            f"{info.subject}: {', '.join(info.names)}\n  issuer {info.issuer}, serial {info.serial}\n"
            f"  valid until {info.not_after} ({info.days_left:.1f} days left)",
            highlight=False,
        )
