"""One way to build an S3 client from the settings: media storage and backups share it."""

from __future__ import annotations

from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from neurmatic.settings import AwsSettings

# Everything S3 (or the way to it) can fail with: botocore's errors, the service's refusals, and boto3's
# own transfer errors (an upload_file/download_file that failed part-way raises S3UploadFailedError or
# S3TransferFailedError, which derive from neither of the others).
S3_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError, Boto3Error)


def s3_client(settings: AwsSettings, *, read_timeout: float) -> Any:
    """A client for AWS or any server speaking its protocol (``AWS_ENDPOINT_URL``), retrying 3 times."""
    secret = settings.secret_access_key
    return boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=read_timeout,
        ),
    )
