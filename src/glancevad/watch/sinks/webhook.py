"""The webhook sink: each record POSTed as JSON to a URL (``--webhook URL``)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from glancevad.errors import SettingError


class WebhookSink:
    """``POST target`` with the record as the JSON body; an HTTP error or timeout is a failure."""

    def __init__(self, target: str, *, timeout: float = 5.0):
        if not target.startswith(("http://", "https://")):
            raise SettingError("webhook", f"must be an http:// or https:// URL, not {target!r}")
        self.url, self.timeout = target, timeout
        self.name = f"webhook {target}"

    def send(self, record: dict[str, Any]) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(record).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()

    def close(self) -> None:
        pass
