"""Media: type decided by the bytes, size limits, image dimensions, local storage, and an S3 round trip
(upload, presigned download, presigned direct upload) against moto's S3 server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import SecretStr

from neurmatic.settings import Settings
from tests.api.accounts import account_client, bearer, fast_settings, signed_in
from tests.conftest import RunningTopology
from tests.support import port_is_free


def png(width: int = 7, height: int = 5) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def local_settings(topology: RunningTopology, tmp_path: Path) -> Settings:
    base = fast_settings(topology.app_settings())
    return base.model_copy(
        update={
            "media": base.media.model_copy(
                update={"storage": "local", "local_dir": tmp_path / "media", "max_bytes": 64 * 1024}
            )
        }
    )


async def test_upload_sniffs_the_type_records_dimensions_and_serves_it(local_settings: Settings) -> None:
    async with account_client(local_settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        image = await client.post(
            "/api/v1/media",
            headers=auth,
            files={"file": ("../../etc/passwd.exe", png(), "application/x-msdownload")},
        )
        pdf = await client.post(
            "/api/v1/media", headers=auth, files={"file": ("paper.pdf", PDF, "image/png")}
        )
        data = image.json()["data"]
        served = await client.get(data["url"])
        meta = await client.get(f"/api/v1/media/{data['id']}")
    assert image.status_code == 201 and data["contentType"] == "image/png"
    assert (data["width"], data["height"]) == (7, 5) and data["filename"] == "passwd.png"
    assert pdf.status_code == 201 and pdf.json()["data"]["contentType"] == "application/pdf"
    assert served.status_code == 200 and served.content == png()
    assert (
        served.headers["content-type"] == "image/png"
        and served.headers["x-content-type-options"] == "nosniff"
    )
    assert meta.json()["data"]["sha256"] == data["sha256"]


@pytest.mark.parametrize(
    ("content", "claimed", "message"),
    [
        (b"<html><script>alert(1)</script></html>", "image/png", "unsupported file type"),
        (b"MZ\x90\x00" + b"\x00" * 100, "application/pdf", "unsupported file type"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "image/png", "damaged"),
        (b"", "image/png", "empty"),
    ],
)
async def test_fakes_and_unknown_types_are_refused(
    local_settings: Settings, content: bytes, claimed: str, message: str
) -> None:
    async with account_client(local_settings) as client:
        _, tokens = await signed_in(client)
        response = await client.post(
            "/api/v1/media",
            headers=bearer(tokens["accessToken"]),
            files={"file": ("x.png", content, claimed)},
        )
    assert response.status_code == 422 and message in response.json()["error"]["message"]


async def test_size_limit_and_authentication(local_settings: Settings) -> None:
    async with account_client(local_settings) as client:
        anonymous = await client.post("/api/v1/media", files={"file": ("a.png", png(), "image/png")})
        _, tokens = await signed_in(client)
        big = await client.post(
            "/api/v1/media",
            headers=bearer(tokens["accessToken"]),
            files={"file": ("big.pdf", PDF + b"0" * 70_000, "application/pdf")},
        )
    assert anonymous.status_code == 401
    assert big.status_code == 413 and big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = next(p for p in range(45000, 45100) if port_is_free(p))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(
        Bucket="neurmatic-test-media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3_settings(topology: RunningTopology, s3_endpoint: str) -> Settings:
    base = fast_settings(topology.app_settings())
    return base.model_copy(
        update={
            "media": base.media.model_copy(update={"storage": "s3"}),
            "aws": base.aws.model_copy(
                update={
                    "endpoint_url": s3_endpoint,
                    "s3_bucket": "neurmatic-test-media",
                    "access_key_id": "test",
                    "secret_access_key": SecretStr("test"),
                    "region": "eu-west-1",
                }
            ),
        }
    )


async def test_s3_round_trip_with_a_presigned_download(s3_settings: Settings, s3_endpoint: str) -> None:
    image = png(16, 9)
    async with account_client(s3_settings) as client:
        _, tokens = await signed_in(client)
        uploaded = await client.post(
            "/api/v1/media",
            headers=bearer(tokens["accessToken"]),
            files={"file": ("chart.png", image, "image/png")},
        )
    data = uploaded.json()["data"]
    assert (
        uploaded.status_code == 201 and data["storage"] == "s3" and (data["width"], data["height"]) == (16, 9)
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="neurmatic-test-media")["Contents"]]
    assert any(key.endswith(".png") for key in keys)
    downloaded = httpx.get(data["url"])
    assert data["url"].startswith(s3_endpoint) and "X-Amz-Signature" in data["url"]
    assert downloaded.status_code == 200 and downloaded.content == image


async def test_direct_upload_to_s3_is_checked_before_it_is_accepted(s3_settings: Settings) -> None:
    async with account_client(s3_settings) as client:
        _, tokens = await signed_in(client)
        auth = bearer(tokens["accessToken"])
        good = (await client.post("/api/v1/media/uploads?content_type=image/png", headers=auth)).json()[
            "data"
        ]
        posted = httpx.post(
            good["upload"]["url"],
            data=good["upload"]["fields"],
            files={"file": ("x.png", png(), "image/png")},
        )
        completed = await client.post(f"/api/v1/media/{good['mediaId']}/complete", headers=auth)
        bad = (await client.post("/api/v1/media/uploads?content_type=image/png", headers=auth)).json()["data"]
        httpx.post(
            bad["upload"]["url"],
            data=bad["upload"]["fields"],
            files={"file": ("x.png", b"<svg onload=alert(1)>", "image/png")},
        )
        refused = await client.post(f"/api/v1/media/{bad['mediaId']}/complete", headers=auth)
        gone = await client.get(f"/api/v1/media/{bad['mediaId']}")
    assert posted.status_code in (200, 204)
    assert completed.status_code == 200 and completed.json()["data"]["status"] == "ready"
    assert refused.status_code == 422 and gone.status_code == 404


async def test_a_path_that_is_no_file_id_is_a_route_of_its_own(local_settings: Settings) -> None:
    # GET /media/uploads once matched GET /media/{media_id} and answered 422 ("not a UUID"); it is the
    # direct-upload route, which only takes POST: 405 with Allow, as for any undeclared method.
    async with account_client(local_settings) as client:
        wrong_method = await client.get("/api/v1/media/uploads")
        not_an_id = await client.get("/api/v1/media/not-an-id")
        spec = (await client.get("/api/openapi.json")).json()
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert not_an_id.status_code == 404
    assert "/api/v1/media/{media_id}" in spec["paths"]
