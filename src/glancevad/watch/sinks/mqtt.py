"""The MQTT sink: each record published as JSON to a topic of an MQTT broker (what camera systems speak).

``--sink mqtt=mqtt://HOST[:PORT]/TOPIC`` publishes with QoS 1 through paho-mqtt; the client
connects in the background and reconnects by itself, so a broker that is down delays only this
sink. A record sent while the client has not been connected for ``timeout`` seconds, or that the
broker has not acknowledged within ``timeout`` seconds, is a failure.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from glancevad.errors import GlanceVADError

DEFAULT_PORT = 1883


class MqttSink:
    """Publishes to ``mqtt://host:port/topic`` (the record's ``stream`` field names its camera)."""

    def __init__(self, target: str, *, timeout: float = 5.0, qos: int = 1):
        import paho.mqtt.client as mqtt

        url = urllib.parse.urlsplit(target)
        self.topic = url.path.lstrip("/")
        if url.scheme != "mqtt" or not url.hostname or not self.topic or "+" in self.topic or "#" in target:
            raise GlanceVADError(f"--sink mqtt= needs mqtt://HOST[:PORT]/TOPIC (no + or # in it), not {target!r}")
        try:
            port = url.port or DEFAULT_PORT
        except ValueError:
            raise GlanceVADError(f"--sink mqtt=: bad port in {target!r}") from None
        self.name, self.timeout, self.qos = f"mqtt {target}", timeout, qos
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
        if url.username:
            self.client.username_pw_set(urllib.parse.unquote(url.username),
                                        urllib.parse.unquote(url.password or "") or None)
        self.connected = threading.Event()
        self.client.on_connect = lambda client, userdata, flags, reason, properties: (
            self.connected.set() if not reason.is_failure else None)
        self.client.on_disconnect = lambda *args: self.connected.clear()
        self.client.connect_async(url.hostname, port)
        self.client.loop_start()

    def send(self, record: dict[str, Any]) -> None:
        if not self.connected.wait(self.timeout):
            raise OSError(f"not connected to the broker within {self.timeout:g} s")
        info = self.client.publish(self.topic, json.dumps(record), qos=self.qos)
        info.wait_for_publish(timeout=self.timeout)
        if not info.is_published():
            raise OSError(f"not acknowledged by the broker within {self.timeout:g} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
