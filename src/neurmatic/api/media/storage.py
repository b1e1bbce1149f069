"""Where the bytes go: the local filesystem (default) or S3 (boto3, any S3-protocol endpoint)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from neurmatic.adapters.s3 import s3_client
from neurmatic.errors import ConfigurationError, ServiceUnavailable
from neurmatic.settings import AwsSettings

PRESIGN_SECONDS = 900


class MediaStorage(Protocol):
    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def download_url(self, key: str, filename: str) -> str | None: ...


class LocalStorage:
    """Files under one directory, written atomically; served by the API itself."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("key escapes the media directory")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        def write() -> None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def download_url(self, key: str, filename: str) -> str | None:
        return None  # the API serves local files at /api/v1/media/{id}/content


class S3Storage:
    """A bucket on S3 or any server speaking its protocol (``AWS_ENDPOINT_URL``)."""

    name = "s3"

    def __init__(self, settings: AwsSettings) -> None:
        if not settings.s3_bucket:
            raise ConfigurationError("MEDIA_STORAGE=s3 needs AWS_S3_BUCKET")
        self.bucket = settings.s3_bucket
        self.client: Any = s3_client(settings, read_timeout=30)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.client, method), **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailable("the media store is unavailable; try again shortly") from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call("put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        response = await self._call("get_object", Bucket=self.bucket, Key=key)
        return bytes(await asyncio.to_thread(response["Body"].read))

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=key)

    async def download_url(self, key: str, filename: str) -> str | None:
        return str(
            await asyncio.to_thread(
                self.client.generate_presigned_url,
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=PRESIGN_SECONDS,
            )
        )

    async def upload_form(self, key: str, content_type: str, max_bytes: int) -> dict[str, Any]:
        """A presigned POST for a direct upload, bound to this key, this type and the size limit."""
        return dict(
            await asyncio.to_thread(
                self.client.generate_presigned_post,
                self.bucket,
                key,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=PRESIGN_SECONDS,
            )
        )
