"""Certificates from an ACME CA (Let's Encrypt) through certbot: issue, renew, check, install, status.

certbot does the ACME work (account, webroot HTTP-01 challenge through nginx's
``/.well-known/acme-challenge/`` location, renewal). Ours is the deploy hook certbot runs after every
issuance or renewal (saved in the lineage's renewal config, so Debian's certbot timer runs it too): it
checks the new certificate and only then installs it where nginx reads it and reloads nginx gracefully
(new workers take the new certificate, old ones finish their connections). A certificate that fails a
check is refused: the installed one stays and is served, and the hook exits non-zero so certbot reports
the failure.

The checks: the private key is the certificate's, the certificate names every domain of the lineage, it
is valid now, each certificate of the chain is signed by the next one, and the last one by a trusted
root (the system's store, or the CA bundle given).
"""

from __future__ import annotations

import itertools
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from neurmatic.adapters.commands import run
from neurmatic.errors import CertificateRefused, CommandError, ConfigurationError, MissingBinaryError

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
INSTALLED_FILES = ("fullchain.pem", "privkey.pem", "chain.pem")  # what nginx reads (render/nginx.py)
CERTBOT_TIMEOUT = 300.0


@dataclass(frozen=True)
class CertbotDirs:
    """certbot's directories (Debian's defaults in production; a test or a second site uses others)."""

    config: Path = Path("/etc/letsencrypt")
    work: Path = Path("/var/lib/letsencrypt")
    logs: Path = Path("/var/log/letsencrypt")

    @classmethod
    def under(cls, root: Path) -> CertbotDirs:
        return cls(root / "config", root / "work", root / "logs")

    def args(self) -> list[str]:
        return ["--config-dir", str(self.config), "--work-dir", str(self.work), "--logs-dir", str(self.logs)]


@dataclass(frozen=True)
class Installation:
    """Where nginx reads its certificate and how it is told to reload."""

    install_dir: Path
    reload_command: tuple[str, ...] = ("nginx", "-s", "reload")
    trusted_roots: Path | None = None  # None: the system's store
    # Where the reload command runs: certbot's timer runs the hook from /, so a command naming files
    # relative to the checkout (`docker compose -f docker-compose.production.yml …`) needs it.
    workdir: Path = Path("/")

    def hook_command(self) -> str:
        """The deploy hook certbot saves with the lineage and runs after each issuance or renewal."""
        argv = [
            sys.executable,
            "-m",
            "neurmatic",
            "tls",
            "deploy-hook",
            "--install-dir",
            str(self.install_dir),
        ]
        argv += ["--reload-command", shlex.join(self.reload_command), "--workdir", str(self.workdir)]
        if self.trusted_roots is not None:
            argv += ["--trusted-roots", str(self.trusted_roots)]
        return shlex.join(argv)


@dataclass(frozen=True)
class CertificateInfo:
    path: str
    subject: str
    names: list[str]
    issuer: str
    serial: str
    not_before: str
    not_after: str
    days_left: float


def _names(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    san = extension.value
    assert isinstance(san, x509.SubjectAlternativeName)
    return [
        *san.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
    ]


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def describe(path: Path, cert: x509.Certificate, now: datetime | None = None) -> CertificateInfo:
    now = now or datetime.now(UTC)
    return CertificateInfo(
        path=str(path),
        subject=_common_name(cert.subject),
        names=_names(cert),
        issuer=_common_name(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        days_left=round((cert.not_valid_after_utc - now).total_seconds() / 86400, 2),
    )


def _load_chain(path: Path) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateRefused(f"{path} is not a PEM certificate chain: {exc}") from exc
    return chain


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_lineage(
    lineage: Path, domains: Sequence[str], trusted_roots: Path | None = None, now: datetime | None = None
) -> CertificateInfo:
    """The new certificate in certbot's ``lineage`` (live/<name>/), checked; CertificateRefused says why."""
    now = now or datetime.now(UTC)
    chain = _load_chain(lineage / "fullchain.pem")
    if not chain:
        raise CertificateRefused(f"{lineage / 'fullchain.pem'} holds no certificate")
    leaf = chain[0]
    try:
        key = serialization.load_pem_private_key((lineage / "privkey.pem").read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateRefused(f"{lineage / 'privkey.pem'} is not a readable private key: {exc}") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise CertificateRefused("the private key does not belong to the certificate")
    missing = [domain for domain in domains if domain not in _names(leaf)]
    if missing:
        raise CertificateRefused(f"the certificate does not name {', '.join(missing)} ({_names(leaf)})")
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        raise CertificateRefused(
            f"the certificate is not valid now ({leaf.not_valid_before_utc} to {leaf.not_valid_after_utc})"
        )
    for cert, issuer in itertools.pairwise(chain):
        if not _signed_by(cert, issuer):
            raise CertificateRefused(f"{_common_name(cert.subject)} is not signed by the next certificate")
    roots_file = trusted_roots or SYSTEM_CA_BUNDLE
    roots = _load_chain(roots_file) if roots_file.is_file() else []
    if not any(_signed_by(chain[-1], root) or chain[-1] == root for root in roots):
        raise CertificateRefused(
            f"the chain does not end at a root trusted by {roots_file}",
            hint="give the CA's roots with --trusted-roots when it is not a public CA",
        )
    return describe(lineage / "fullchain.pem", leaf, now)


CERT_SETS = ".certs"  # in the install dir: one directory per installed certificate
CURRENT = "current"  # the symlink to the set nginx serves
KEPT_SETS = 3  # the one served and the two before it (a manual rollback is a symlink away)


def _symlink_over(path: Path, target: str) -> None:
    """Point ``path`` at ``target`` (relative), replacing what is there in one rename."""
    staged = path.with_name(f".{path.name}.new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target)
    staged.replace(path)


def _write_set(lineage: Path, sets: Path, name: str) -> Path:
    """The lineage's three files in a new directory of ``sets``, complete before it gets its name."""
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=sets))
    try:
        for file in INSTALLED_FILES:
            (staging / file).write_bytes((lineage / file).read_bytes())
            (staging / file).chmod(0o600 if file == "privkey.pem" else 0o644)
        staging.chmod(0o755)
        final = sets / name
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _adopt_files(target: Path) -> None:
    """Before the first swap: regular files (a placeholder, a hand-copied certificate) move into a set of
    their own, and each name becomes a link through ``current`` to that same content, so nginx reads a
    matching pair at every step."""
    if all((target / file).is_symlink() for file in INSTALLED_FILES):
        return
    sets = target / CERT_SETS
    if not (target / CURRENT).is_symlink():
        present = [file for file in INSTALLED_FILES if (target / file).is_file()]
        if present:
            previous = sets / f"adopted-{int(time.time())}"
            previous.mkdir()
            for file in present:
                shutil.copy2(target / file, previous / file)
            _symlink_over(target / CURRENT, f"{CERT_SETS}/{previous.name}")
    for file in INSTALLED_FILES:
        if not (target / file).is_symlink():
            _symlink_over(target / file, f"{CURRENT}/{file}")


def install(lineage: Path, installation: Installation) -> None:
    """Put the lineage's files where nginx reads them, all three switched by one rename, then reload nginx.

    ``fullchain.pem``, ``privkey.pem`` and ``chain.pem`` are links through ``current``, a link to one set
    under ``.certs/``: replacing ``current`` changes the three at once, so no crash leaves a key that does
    not match its certificate (nginx would then refuse to start).
    """
    target = installation.install_dir
    sets = target / CERT_SETS
    sets.mkdir(parents=True, exist_ok=True)
    name = f"{int(time.time() * 1000)}"
    installed = _write_set(lineage, sets, name)
    _adopt_files(target)
    _symlink_over(target / CURRENT, f"{CERT_SETS}/{installed.name}")
    for old in sorted(
        (p for p in sets.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime
    )[:-KEPT_SETS]:
        shutil.rmtree(old, ignore_errors=True)
    try:
        run(list(installation.reload_command), timeout=60, cwd=installation.workdir)
    except CommandError as exc:
        exc.hint = (
            f"the new certificate is installed in {target} but nginx was not reloaded, so it still serves "
            f"the old one: run `{shlex.join(installation.reload_command)}` in {installation.workdir}"
        )
        raise


def deploy(lineage: Path, domains: Sequence[str], installation: Installation) -> CertificateInfo:
    """The deploy hook: check, then install and reload; a refused certificate changes nothing."""
    info = check_lineage(lineage, domains, installation.trusted_roots)
    install(lineage, installation)
    return info


def _certbot() -> str:
    found = shutil.which("certbot")
    if found is None:
        raise MissingBinaryError("certbot is not installed", hint="apt-get install -y certbot")
    return found


def _certbot_env(acme_ca_bundle: Path | None) -> dict[str, str]:
    # certbot talks to the ACME server with requests, which reads its trust store from this variable: a
    # private ACME server (Pebble in the tests, an internal CA) needs its own.
    return {"REQUESTS_CA_BUNDLE": str(acme_ca_bundle)} if acme_ca_bundle is not None else {}


def issue(
    *,
    domains: Sequence[str],
    email: str,
    webroot: Path,
    installation: Installation,
    dirs: CertbotDirs,
    server: str | None = None,
    acme_ca_bundle: Path | None = None,
    staging: bool = False,
) -> str:
    """``certbot certonly --webroot`` for ``domains``; certbot runs the deploy hook on success."""
    if not domains:
        raise ConfigurationError("no domain to issue a certificate for", hint="pass --domain (repeatable)")
    webroot.mkdir(parents=True, exist_ok=True)
    argv = [_certbot(), "certonly", "--webroot", "-w", str(webroot), "--non-interactive", "--agree-tos"]
    argv += ["-m", email, "--cert-name", domains[0], "--keep-until-expiring", *dirs.args()]
    for domain in domains:
        argv += ["-d", domain]
    if server:
        argv += ["--server", server]
    if staging:
        argv.append("--staging")
    argv += ["--deploy-hook", installation.hook_command()]
    return run(argv, timeout=CERTBOT_TIMEOUT, env=_certbot_env(acme_ca_bundle)).stdout


def renew(*, dirs: CertbotDirs, force: bool = False, acme_ca_bundle: Path | None = None) -> str:
    """``certbot renew``: every lineage due (or all with ``force``), each through its saved deploy hook."""
    # Without a terminal, certbot first sleeps up to 8 minutes to spread Let's Encrypt's load: right for
    # the twice-daily timer (renewal_cron keeps it), not for an operator who asked for a renewal now.
    argv = [_certbot(), "renew", "--non-interactive", "--no-random-sleep-on-renew", *dirs.args()]
    if force:
        argv.append("--force-renewal")
    return run(argv, timeout=CERTBOT_TIMEOUT, env=_certbot_env(acme_ca_bundle)).stdout


def installed(install_dir: Path, now: datetime | None = None) -> CertificateInfo | None:
    """The certificate nginx serves from ``install_dir`` (None when there is none yet)."""
    path = install_dir / "fullchain.pem"
    if not path.is_file():
        return None
    chain = _load_chain(path)
    return describe(path, chain[0], now) if chain else None


def renewal_cron(dirs: CertbotDirs, acme_ca_bundle: Path | None = None) -> str:
    """A cron file renewing twice a day at a fixed odd minute (Let's Encrypt asks clients to spread out);
    certbot renews only what expires within 30 days, so most runs do nothing."""
    env = f"REQUESTS_CA_BUNDLE={shlex.quote(str(acme_ca_bundle))} " if acme_ca_bundle else ""
    command = shlex.join([shutil.which("certbot") or "certbot", "renew", "--quiet", *dirs.args()])
    return (
        "# Installed by `neurmatic tls schedule`: certbot renews what expires within 30 days and runs the\n"
        "# deploy hook saved with each certificate (checks it, installs it, reloads nginx).\n"
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"17 3,15 * * * root {env}{command}\n"
    )


def install_cron(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it is already there; True when something changed."""
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    temporary.chmod(0o644)
    temporary.replace(path)
    return True
