"""`crophub web` serves /healthz, /readyz and /metrics as the config says (web.metrics, web.metrics_token_env)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import redis

from store import migrate
from tests.hub.test_operator import Lines, crophub, free_port, write_config


def get(port: int, path: str, token: str = "") -> tuple[int, str]:
    """Status and body of GET `path`."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_web_serves_health_readiness_and_metrics_behind_its_token(tmp_path: Path, redis_server: str,
                                                                   redis_conn: redis.Redis) -> None:
    port = free_port()
    config = write_config(tmp_path, web={"port": port})
    migrate.upgrade(f"sqlite:///{tmp_path / 'hub.db'}")
    proc = crophub(tmp_path, "--config", str(config), "web",
                   env={"CROPHUB_REDIS_URL": redis_server, "CROPHUB_METRICS_TOKEN": "scrape-me"})
    try:
        web = Lines(proc)
        web.wait_for(lambda: web.has(f"web: listening on http://127.0.0.1:{port}"))
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body) == {"ok": True, "database": True, "redis": True}
        status, body = get(port, "/readyz")
        assert status == 503 and json.loads(body)["down"] == ["workers"]  # no `crophub worker` runs
        assert get(port, "/metrics")[0] == 401
        status, body = get(port, "/metrics", "scrape-me")
        assert status == 200 and 'crophub_source_up{source="database"} 1.0' in body and "crophub_tickets" in body
        assert web.stop() == 0 and not web.has("Traceback"), web.lines
    finally:
        if proc.poll() is None:
            proc.kill()


def test_metrics_can_be_turned_off(tmp_path: Path, redis_server: str, redis_conn: redis.Redis) -> None:
    port = free_port()
    config = write_config(tmp_path, web={"port": port, "metrics": False})
    proc = crophub(tmp_path, "--config", str(config), "web", env={"CROPHUB_REDIS_URL": redis_server})
    try:
        web = Lines(proc)
        web.wait_for(lambda: web.has(f"web: listening on http://127.0.0.1:{port}"))
        assert get(port, "/metrics")[0] == 404
        assert web.stop() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
