"""A fake Nominatim server on 127.0.0.1 speaking the real /search JSON protocol (for geopy's client)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeNominatim:
    """Answers /search from a table of query → (lat, lon); records every request; can be told to fail."""

    def __init__(self, streets: dict[str, tuple[float, float]]) -> None:
        self.streets = {k.lower(): v for k, v in streets.items()}
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.body: Any = None  # when set, answered as is (a malformed answer)
        self.delay = 0.0  # seconds before answering
        self.also: list[tuple[float, float]] = []  # more hits for every known street (a repeated name)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, "params": params,
                                      "user_agent": self.headers.get("User-Agent")})
                time.sleep(fake.delay)
                if fake.fail_with:
                    self._send(fake.fail_with, {"error": "fake failure"})
                elif url.path != "/search":
                    self._send(404, {"error": "unknown path"})
                else:
                    point = fake.streets.get(params.get("q", "").lower())
                    points = [] if point is None else [point, *fake.also]
                    hits = [{"place_id": n, "lat": str(lat), "lon": str(lon), "display_name": params["q"],
                             "class": "highway", "type": "residential", "importance": 0.5}
                            for n, (lat, lon) in enumerate(points[:int(params.get("limit", 1))], 1)]
                    self._send(200, hits if fake.body is None else fake.body)

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeNominatim":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
