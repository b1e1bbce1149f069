"""Tell the operators' Slack channel (an incoming webhook) about deploys and rollbacks.

A notification is a courtesy, never a step of the procedure: a missing webhook is silence, and a slow,
failing or refusing one costs at most ``timeout`` seconds and a warning, never the deploy.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import httpx

from neurmatic.settings import NotificationSettings

log = logging.getLogger("neurmatic.notify")


@dataclass(frozen=True)
class SlackNotifier:
    webhook_url: str | None
    timeout: float = 3.0

    @classmethod
    def from_settings(cls, settings: NotificationSettings) -> SlackNotifier:
        url = settings.slack_webhook_url
        return cls(url.get_secret_value() if url else None, settings.slack_timeout_seconds)

    def send(self, text: str) -> str | None:
        """Post ``{"text": text}``; None when delivered (or no webhook is set), else why it was not."""
        if not self.webhook_url:
            return None
        try:
            response = httpx.post(self.webhook_url, json={"text": text}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            problem = f"Slack was not told ({type(exc).__name__})"
        else:
            if response.is_success:
                return None
            problem = f"Slack was not told (the webhook answered {response.status_code})"
        # The URL is a credential: it never goes into a log or a message.
        log.warning(problem)
        return problem


def host_label() -> str:
    """Which machine a message comes from (several topologies may share one channel)."""
    return socket.gethostname()
