"""The account mails on the whole topology: through nginx to a backend, onto the queue in Redis, delivered
by the topology's worker over SMTP to its ``mail`` service, and the link used through nginx again."""

from __future__ import annotations

import uuid

from tests.conftest import RunningTopology
from tests.mailbox import token_in, wait_for_mail
from tests.support import PASSWORD

NEW_PASSWORD = "Brand-New-Secret-42"


def test_verify_and_reset_through_nginx_with_the_topology_worker_and_mail_service(
    topology: RunningTopology,
) -> None:
    tag = uuid.uuid4().hex[:10]
    email = f"mail-{tag}@example.com"
    mailbox = topology.state_dir / "mail"
    # A client address of its own (nginx appends the real peer, a trusted proxy): the per-address
    # sign-up limit of other tests is not shared.
    headers = {"X-Forwarded-For": f"203.0.113.{int(tag[:2], 16) % 250 + 1}"}
    with topology.client(headers=headers) as client:
        created = client.post(
            "/api/v1/auth/register",
            json={"email": email, "username": f"mail_{tag}", "password": PASSWORD, "termsAccepted": True},
        )
        assert created.status_code == 201, created.text
        [verification] = wait_for_mail(mailbox, email)
        assert verification["To"] == email and verification["From"] == "noreply@neurmatic.com"
        token = token_in(verification, "/verify-email")
        text = verification.get_body(("plain",))
        assert text is not None and f"{topology.https_url}/verify-email?token=" in text.get_content()
        verified = client.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.status_code == 200 and verified.json()["data"]["emailVerified"] is True

        # No sign-in here: nginx's login limit is per address and other tests measure its burst.
        assert client.post("/api/v1/auth/forgot-password", json={"email": email}).status_code == 200
        reset_token = token_in(wait_for_mail(mailbox, email, count=2)[-1], "/reset-password")
        body = {"token": reset_token, "newPassword": NEW_PASSWORD}
        reset = client.post("/api/v1/auth/reset-password", json=body)
        assert reset.status_code == 200, reset.text
        assert client.post("/api/v1/auth/reset-password", json=body).status_code == 422
