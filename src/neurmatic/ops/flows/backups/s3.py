"""Backups in S3 (``s3://<bucket>/database/…``): uploaded only after local verification, checked after
upload, kept by a retention the tool applies itself, and the guide's lifecycle rule on the bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from neurmatic.adapters.s3 import S3_ERRORS, s3_client
from neurmatic.ops.flows.backups.errors import NotABackupAddress, S3Unavailable
from neurmatic.ops.flows.backups.files import (
    PREFIX,
    Manifest,
    backup_suffix,
    manifest_name,
    manifest_path,
    partial_path,
    private_file,
)
from neurmatic.settings import AwsSettings

KEY_PREFIX = "database/"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
LIFECYCLE_RULE_ID = "neurmatic-database-backups"


@dataclass(frozen=True)
class RemoteBackup:
    key: str
    size: int
    created: datetime


def client_for(settings: AwsSettings) -> Any:
    return s3_client(settings, read_timeout=60)


def created_from_name(name: str) -> datetime | None:
    """The backup's time from its name (``neurmatic_YYYYMMDD_HHMMSS``), which retention trusts over the
    object's upload time (a re-upload must not make an old backup look new)."""
    stem = name.rsplit("/", 1)[-1].removeprefix(PREFIX).split(".", 1)[0]
    try:
        return datetime.strptime(stem, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def upload(
    client: Any, bucket: str, backup: Path, manifest: Manifest, storage_class: str = "STANDARD_IA"
) -> str:
    """Upload the verified backup and its manifest; check size and checksum after the upload."""
    key = f"{KEY_PREFIX}{backup.name}"
    try:
        client.upload_file(
            str(backup),
            bucket,
            key,
            Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD),
            ExtraArgs={
                "StorageClass": storage_class,
                "Metadata": {"sha256": manifest.sha256},
                "ContentType": "application/octet-stream",
            },
        )
        head = client.head_object(Bucket=bucket, Key=key)
        if (
            head["ContentLength"] != manifest.size
            or head.get("Metadata", {}).get("sha256") != manifest.sha256
        ):
            client.delete_object(Bucket=bucket, Key=key)
            raise S3Unavailable(
                f"s3://{bucket}/{key} does not match the local backup after upload; removed it"
            )
        client.upload_file(str(manifest_path(backup)), bucket, f"{KEY_PREFIX}{manifest_path(backup).name}")
    except S3_ERRORS as exc:
        raise S3Unavailable(
            f"cannot upload to s3://{bucket}: {type(exc).__name__}",
            hint="the local backup is kept; check AWS_* settings and try `neurmatic backup` again",
        ) from exc
    return f"s3://{bucket}/{key}"


def backup_address(url: str) -> tuple[str, str]:
    """``s3://bucket/…/neurmatic_….sql.gz`` → (bucket, key); anything else is refused before S3 is asked."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not backup_suffix(key):
        raise NotABackupAddress(
            f"{url} is not an s3://bucket/database/{PREFIX}….sql.gz (or .dir.tar…) backup",
            hint="`neurmatic backup list` shows the backups in S3",
        )
    return bucket, key


def download(client: Any, url: str, directory: Path) -> Path:
    """Fetch ``s3://bucket/key`` and its manifest into ``directory``, private (0600, as every backup) and
    under temporary names until complete; the checksum is checked by the restore's own verification
    (against the manifest) before anything is touched."""
    bucket, key = backup_address(url)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / key.rsplit("/", 1)[-1]
    try:
        _fetch(client, bucket, key, target)
        _fetch(client, bucket, manifest_name(key), manifest_path(target))
    except S3_ERRORS as exc:
        target.unlink(missing_ok=True)  # a backup without its manifest would pass for an unverified one
        raise S3Unavailable(
            f"cannot download {url}: {type(exc).__name__}",
            hint="check the address with `neurmatic backup list` and the AWS_* settings",
        ) from exc
    return target


def _fetch(client: Any, bucket: str, key: str, target: Path) -> None:
    partial = partial_path(target)
    try:
        with private_file(partial) as handle:
            client.download_fileobj(bucket, key, handle)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def remote_backups(client: Any, bucket: str) -> list[RemoteBackup]:
    found = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=KEY_PREFIX):
            for item in page.get("Contents", []):
                created = created_from_name(item["Key"])
                if backup_suffix(item["Key"]) and created is not None:
                    found.append(RemoteBackup(item["Key"], int(item["Size"]), created))
    except S3_ERRORS as exc:
        raise S3Unavailable(f"cannot list s3://{bucket}/{KEY_PREFIX}: {type(exc).__name__}") from exc
    return sorted(found, key=lambda b: b.created, reverse=True)


def prune_remote(client: Any, bucket: str, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete backups older than ``keep_days`` (and their manifests), never the newest one."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    deleted = []
    for backup in remote_backups(client, bucket)[1:]:
        if backup.created < cutoff:
            manifest_key = manifest_name(backup.key)
            try:
                client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": backup.key}, {"Key": manifest_key}]}
                )
            except S3_ERRORS as exc:
                failure = type(exc).__name__
                raise S3Unavailable(f"cannot delete s3://{bucket}/{backup.key}: {failure}") from exc
            deleted.append(backup.key)
    return deleted


def prune_local(backups: list[Path], keep_days: int, now: datetime | None = None) -> list[Path]:
    """Delete local backups older than ``keep_days`` (by their names), never the newest one."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    deleted = []
    for path in sorted(backups, reverse=True)[1:]:
        created = created_from_name(path.name)
        if created is not None and created < cutoff:
            path.unlink(missing_ok=True)
            manifest_path(path).unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def apply_lifecycle(
    client: Any, bucket: str, glacier_after_days: int = 90, expire_after_days: int = 365
) -> dict[str, Any]:
    """The guide's rule: Glacier after 90 days, expiry after 365, abort incomplete multipart uploads."""
    rule = {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": KEY_PREFIX},
        "Transitions": [{"Days": glacier_after_days, "StorageClass": "GLACIER"}],
        "Expiration": {"Days": expire_after_days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    try:
        client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    except S3_ERRORS as exc:
        raise S3Unavailable(f"cannot set the lifecycle of s3://{bucket}: {type(exc).__name__}") from exc
    return rule
