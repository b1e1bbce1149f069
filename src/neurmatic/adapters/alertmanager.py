"""Alertmanager's API v2: the alerts it holds, its silences, and creating or expiring one.

Matchers are written as Alertmanager's own tools write them (``alertname=TargetDown``,
``instance=~"api-.*"``, ``severity!=info``; a bare word is an ``alertname``, as with amtool).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neurmatic.adapters.monitoring_http import MonitoringApi

_MATCHER = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$")
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]*$")


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a silence: ``name`` equal (or not) to ``value``, literally or as a regex."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex`` (the value may be quoted), or a
        bare alert name; ValueError says what is wrong."""
        if _BARE.match(text.strip()):
            return cls("alertname", text.strip())
        match = _MATCHER.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a matcher: write name=value, name!=value, name=~regex or name!~regex"
            )
        value = match["value"]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        operator = match["op"]
        matcher = cls(match["name"], value, is_regex="~" in operator, is_equal=operator.startswith("="))
        if matcher.is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: the regex {value!r} is not valid ({exc})") from exc
        return matcher

    def __str__(self) -> str:
        operator = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}
        return f'{self.name}{operator[self.is_equal, self.is_regex]}"{self.value}"'

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Matcher:
        return cls(
            str(data["name"]),
            str(data["value"]),
            bool(data.get("isRegex", False)),
            bool(data.get("isEqual", True)),
        )


@dataclass(frozen=True)
class Alert:
    """An alert Alertmanager holds; ``state``: ``firing``, ``silenced``, ``inhibited`` or ``unprocessed``."""

    name: str
    severity: str
    instance: str
    since: datetime
    summary: str
    state: str
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    labels: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        labels = {str(k): str(v) for k, v in data.get("labels", {}).items()}
        status = data.get("status", {})
        silenced_by = tuple(status.get("silencedBy") or ())
        inhibited_by = tuple(status.get("inhibitedBy") or ())
        if silenced_by:
            state = "silenced"
        elif inhibited_by:
            state = "inhibited"
        else:
            state = "firing" if status.get("state") == "active" else str(status.get("state", "unknown"))
        return cls(
            name=labels.get("alertname", ""),
            severity=labels.get("severity", ""),
            instance=labels.get("instance", ""),
            since=parse_time(str(data["startsAt"])),
            summary=str(data.get("annotations", {}).get("summary", "")),
            state=state,
            silenced_by=silenced_by,
            inhibited_by=inhibited_by,
            labels=labels,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "instance": self.instance,
            "since": self.since.isoformat(),
            "summary": self.summary,
            "state": self.state,
            "silenced_by": list(self.silenced_by),
            "inhibited_by": list(self.inhibited_by),
            "labels": self.labels,
        }


@dataclass(frozen=True)
class Silence:
    """A silence: ``state`` is Alertmanager's (``active``, ``pending``, ``expired``)."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=tuple(Matcher.from_json(m) for m in data.get("matchers", [])),
            starts_at=parse_time(str(data["startsAt"])),
            ends_at=parse_time(str(data["endsAt"])),
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
            state=str(data.get("status", {}).get("state", "")),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
            "state": self.state,
        }


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as Go writes it (nanoseconds, ``Z``) into an aware datetime."""
    text = text.replace("Z", "+00:00")
    # Python takes at most microseconds: cut a longer fraction to six digits.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))


class AlertmanagerApi(MonitoringApi):
    """One Alertmanager (``http://host:9093``)."""

    what = "Alertmanager"
    variable = "NEURMATIC_ALERTMANAGER_URL"

    def alerts(self) -> list[Alert]:
        """Every alert it holds (firing, silenced and inhibited), oldest first."""
        held = [Alert.from_json(a) for a in self.http.request("GET", "/api/v2/alerts") or []]
        return sorted(held, key=lambda a: (a.since, a.name, a.instance))

    def silences(self) -> list[Silence]:
        """Every silence it keeps (expired ones too, until it forgets them), the latest ending first."""
        kept = [Silence.from_json(s) for s in self.http.request("GET", "/api/v2/silences") or []]
        return sorted(kept, key=lambda s: s.ends_at, reverse=True)

    def create_silence(
        self, matchers: list[Matcher], *, starts_at: datetime, ends_at: datetime, author: str, comment: str
    ) -> str:
        """The new silence's id."""
        body = {
            "matchers": [m.as_json() for m in matchers],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": author,
            "comment": comment,
        }
        answer = self.http.request("POST", "/api/v2/silences", json=body)
        return str(answer["silenceID"])

    def expire(self, silence_id: str) -> None:
        self.http.request("DELETE", f"/api/v2/silence/{silence_id}")
