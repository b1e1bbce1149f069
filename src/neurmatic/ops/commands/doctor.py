"""``neurmatic doctor [--json]``: this host against the guide's security checklist, with the fix for each
finding (ops/flows/doctor/). Exit 0 when all is well, 14 when something warns, 9 when something fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.markup import escape

from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.errors import NeurmaticError
from neurmatic.health import Status, Verdict
from neurmatic.ops.commands.health import MARKS
from neurmatic.ops.commands.options import DeploymentChoice, deployment_option, json_option, stdout_console
from neurmatic.ops.exit_codes import ExitCode
from neurmatic.ops.flows.doctor import Audit, audit, overall, report

console = stdout_console()
PRODUCTION_SECRETS = (Path(".env.production"), Path("infrastructure/nginx/ssl/production/privkey.pem"))


def _audit_for(target: DeploymentChoice, url: str | None, backup_dir: Path | None, lynis: bool) -> Audit:
    """The deployment's edge, CA, backups and secret files when one is described here; the production
    defaults otherwise (a host being prepared has no deployment yet)."""
    secrets = [path.absolute() for path in PRODUCTION_SECRETS]
    try:
        deployment = target.load()
    except NeurmaticError:
        return Audit(
            public_url=url or Audit.public_url,
            backup_dir=backup_dir,
            secret_files=tuple(secrets),
            lynis=lynis,
        )
    if deployment.env_file is not None:
        secrets.append(deployment.env_file.absolute())
    else:  # the local topology's state directory: its secrets, the app's environment, the pgpass
        state = resolve_state_dir(target.state_dir)
        secrets += [state / "secrets.env", state / "app.env", state / "pgpass"]
    if deployment.ca_file is not None:  # private keys kept beside the CA (the local topology's)
        secrets += sorted(deployment.ca_file.parent.glob("*.key"))
    return Audit(
        public_url=url or deployment.public_url,
        ca_file=deployment.ca_file,
        backup_dir=backup_dir or deployment.backup_dir,
        secret_files=tuple(dict.fromkeys(secrets)),
        lynis=lynis,
    )


def _https_url(value: str | None) -> str | None:
    """``--url`` as https://HOST[:PORT], or a usage error that says what was wrong."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not https://HOST[:PORT] (the edge's TLS is what is checked)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from exc
    return value


@click.command()
@deployment_option
@json_option
@click.option(
    "--url",
    default=None,
    callback=lambda _ctx, _param, value: _https_url(value),
    help="The edge to check (TLS, OCSP), https://HOST[:PORT] [default: the deployment's public URL].",
)
@click.option(
    "--backup-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where backups are [default: the deployment's backup directory].",
)
@click.option("--lynis", is_flag=True, help="Also run Lynis (minutes) and report its hardening index.")
def doctor(
    target: DeploymentChoice, as_json: bool, url: str | None, backup_dir: Path | None, lynis: bool
) -> None:
    """Audit this host: open ports, firewall, fail2ban, secret files, TLS and OCSP stapling, SSH, kernel
    settings, disk and memory, backups. Exit 0 all well, 14 warnings, 9 failures."""
    findings = audit(_audit_for(target, url, backup_dir, lynis))
    verdict = overall(findings)
    if as_json:
        click.echo(json.dumps(report(findings), indent=2))
    else:
        for finding in findings:
            console.print(
                f"{MARKS[finding.status]} {finding.name}: {escape(finding.detail)}", highlight=False
            )
            if finding.fix and finding.status in (Status.DOWN, Status.DEGRADED):
                console.print(f"    [dim]fix:[/] {escape(finding.fix)}", highlight=False)
        console.print(f"verdict: [bold]{verdict}[/]")
    sys.exit(
        {Verdict.HEALTHY: ExitCode.OK, Verdict.DEGRADED: ExitCode.DEGRADED}.get(verdict, ExitCode.UNHEALTHY)
    )
