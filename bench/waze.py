"""Waze feed benchmark: a large synthetic feed snapshot → parse → track + intake store → router.

Seeded snapshots in the Waze for Cities JSON shape (alerts and jams over Jakarta), on a scratch database and a
real RQ queue, through what FeedPoller.poll_once does after the download: parse_feed, then FeedPoller._store
(track.observe + Intake.store in one transaction, then the enqueue). Snapshots: (a) the first, all new; (b) the
same alerts later, unchanged; (c) churned: 10% of alerts with more thumbs-up, 5% removed, 5% new. After (a) and
(c) the router runs process_inbound on the ids stored, in calls of ingest.intake.JOB_SIZE ids as the intake enqueues them.
A postgresql:// URL without a search_path gets a fresh schema, dropped at the end.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis
from rq import Queue
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots import registry  # noqa: E402
from bots.waze import options  # noqa: E402
from ingest.intake import INTAKE_QUEUE, JOB_SIZE, Intake  # noqa: E402
from ingest.waze.parse import parse_feed  # noqa: E402
from ingest.waze.poll import FeedPoller  # noqa: E402
from nlp.geocode import reverse_place  # noqa: E402
from router import context, pipeline  # noqa: E402
from router.context import RouterConfig  # noqa: E402
from store import db, migrate  # noqa: E402
from store.models import Ticket, WazeAlert  # noqa: E402

# (type, subtype, weight): the mapped kinds, then unmapped ones that real feeds carry in bulk.
KINDS = [("HAZARD", "HAZARD_WEATHER_FLOOD", 12), ("HAZARD", "HAZARD_ON_ROAD_POT_HOLE", 14),
         ("ROAD_CLOSED", "ROAD_CLOSED_EVENT", 8), ("HAZARD", "HAZARD_ON_ROAD_TRAFFIC_LIGHT_FAULT", 4),
         ("ACCIDENT", "ACCIDENT_MINOR", 14), ("HAZARD", "HAZARD_ON_SHOULDER_CAR_STOPPED", 18),
         ("JAM", "JAM_MODERATE_TRAFFIC", 30)]
STREETS = ["Jl. Jatinegara Barat", "Jl. D.I. Panjaitan", "Jl. Casablanca Raya", "Jl. Dermaga Raya", "Jl. Kemang Raya",
           "Jl. Gatot Subroto", "Jl. Daan Mogot", "Jl. Pahlawan Revolusi", "Jl. Kyai Tapa", "Jl. Raya Bogor", ""]
CITIES = ["Jakarta Timur", "Jakarta Selatan", "Jakarta Barat", "Jakarta Pusat", "Jakarta Utara", "Tangerang", "Depok"]
NOTES = ["", "", "", "Banjir sebetis", "Lubang besar, hati-hati motor", "Ditutup ada hajatan", "Lampu mati"]
END_MS = 1_763_945_460_000  # the fixtures' endTimeMillis; each snapshot is two minutes later


def point(rng: random.Random) -> dict[str, float]:
    """A Waze {x: lon, y: lat} inside the Jakarta box."""
    return {"x": round(rng.uniform(106.69, 106.97), 6), "y": round(rng.uniform(-6.37, -6.09), 6)}


def alert(rng: random.Random) -> dict[str, Any]:
    """One alert; reliability/confidence/thumbs spread so some are corroborated (score ≥ 12) and some not."""
    type_, subtype, _ = rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
    return {"uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": type_, "subtype": subtype,
            "location": point(rng), "street": rng.choice(STREETS), "city": rng.choice(CITIES), "country": "ID",
            "reliability": rng.randint(5, 10), "confidence": rng.randint(0, 5), "nThumbsUp": rng.randint(0, 4),
            "pubMillis": END_MS - rng.randint(60_000, 3 * 3_600_000), "reportDescription": rng.choice(NOTES)}


def jam(rng: random.Random) -> dict[str, Any]:
    """One jam: a short line of 3–8 points, level 1–5 (4 and 5 are mapped)."""
    start = point(rng)
    line = [{"x": round(start["x"] + i * rng.uniform(-0.002, 0.002), 6),
             "y": round(start["y"] + i * rng.uniform(-0.002, 0.002), 6)} for i in range(rng.randint(3, 8))]
    return {"uuid": rng.randrange(1_000_000_000, 2_000_000_000), "level": rng.randint(1, 5), "line": line,
            "street": rng.choice(STREETS), "city": rng.choice(CITIES), "country": "ID",
            "length": rng.randint(200, 3000), "delay": rng.choice([-1, *range(30, 900, 30)]),
            "pubMillis": END_MS - rng.randint(60_000, 3_600_000)}


def snapshots(n: int, jams: int, seed: int) -> list[dict[str, Any]]:
    """The three snapshots (a), (b), (c)."""
    rng = random.Random(seed)
    first: dict[str, Any] = {"endTimeMillis": END_MS, "startTimeMillis": END_MS - 60_000,
             "alerts": [alert(rng) for _ in range(n)], "jams": [jam(rng) for _ in range(jams)]}
    same = copy.deepcopy(first)
    same["endTimeMillis"] += 120_000
    churned = copy.deepcopy(same)
    churned["endTimeMillis"] += 120_000
    alerts = churned["alerts"]
    for a in rng.sample(alerts, n // 10):
        a["nThumbsUp"] += rng.randint(1, 3)
    gone = {a["uuid"] for a in rng.sample(alerts, n * 5 // 100)}
    churned["alerts"] = [a for a in alerts if a["uuid"] not in gone] + [alert(rng) for _ in range(n * 5 // 100)]
    return [first, same, churned]


def redis_conn(tmp: Path) -> tuple[redis.Redis, str, Any]:
    """$CROPHUB_REDIS_URL, else db 15 of a local Redis, else an embedded redis-server; → (conn, label, to stop)."""
    url = os.environ.get("CROPHUB_REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        conn = redis.Redis.from_url(url, socket_timeout=5)
        conn.ping()
        return conn, url, None
    except redis.RedisError:
        from hub.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(tmp, appendonly=False)
        url = embedded.start()
        return redis.Redis.from_url(url), "embedded", embedded


def database(url: str | None, tmp: Path) -> tuple[str, str | None]:
    """A scratch database to migrate; → (url, schema to drop). PostgreSQL gets a fresh schema, as the tests do."""
    schema = None
    if url is None:
        url = f"sqlite:///{tmp / 'crophub.db'}"
    elif url.startswith(("postgresql", "postgres:")) and "search_path" not in url:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    return url, schema


def counts() -> tuple[int, int]:
    """(tickets, Waze alerts linked to a ticket)."""
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Ticket)) or 0,
                s.scalar(select(func.count()).select_from(WazeAlert).where(WazeAlert.ticket_id.is_not(None))) or 0)


def route(ids: list[int], batch: int) -> tuple[float, str]:
    """process_inbound on `ids` (one call, or chunks of `batch`); → (seconds, counts)."""
    tickets, linked = counts()
    totals = {"handled": 0, "failed": 0, "replies": 0}
    started = time.perf_counter()
    for i in range(0, len(ids), batch or len(ids) or 1):
        for k, v in pipeline.process_inbound(ids[i:i + batch] if batch else ids).items():
            totals[k] += v
    seconds = time.perf_counter() - started
    after, linked_after = counts()
    # An alert that files a ticket is linked to it too: the rest joined (corroborated) a ticket already there.
    return seconds, (f"handled {totals['handled']}, failed {totals['failed']}, tickets filed {after - tickets}, "
                     f"alerts joined to one {linked_after - linked - (after - tickets)}, replies {totals['replies']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="alerts per snapshot (default 3000)")
    parser.add_argument("--jams", type=int, default=None, help="jams per snapshot (default n/10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--batch", type=int, default=JOB_SIZE,
                        help=f"router ids per call (default {JOB_SIZE}, as the intake enqueues them; 0: all in one)")
    # crophub's default is 3; 1 makes the churned snapshot's removed alerts count as gone, so that path is timed.
    parser.add_argument("--misses-before-gone", type=int, default=1, help="(default 1; crophub's default is 3)")
    args = parser.parse_args()
    jams = args.n // 10 if args.jams is None else args.jams
    logging.basicConfig(level=logging.ERROR)  # the per-poll INFO lines and "unrouted" warnings would drown the table
    # The poller parses the body as downloaded: bytes.
    bodies = [json.dumps(f).encode() for f in snapshots(args.n, jams, args.seed)]

    with tempfile.TemporaryDirectory(prefix="crophub-bench-waze-") as name:
        tmp = Path(name)
        conn, redis_label, embedded = redis_conn(tmp)
        url, schema = database(args.database_url, tmp)
        try:
            migrate.upgrade(url)
            conn.flushdb()
            db.configure(url)
            context.configure(RouterConfig(), conn)
            registry.configure({})
            poller = FeedPoller(options({"feed_url": "http://unused", "misses_before_gone": args.misses_before_gone}),
                                Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
            # Warm-up outside the timings: the classifier (process_inbound loads it even for feed-only batches)
            # and the kelurahan gazetteer behind reverse_place.
            context.classifier(), reverse_place(-6.2, 106.85)

            table: list[tuple[str, int, float, str]] = []
            ids: dict[str, list[int]] = {}
            for label, body in zip(("(a) first", "(b) same, later", "(c) churned"), bodies):
                started = time.perf_counter()
                result = parse_feed(body, poller.options.kinds, poller.options.min_jam_level)
                parsed = time.perf_counter()
                outcome = poller._store(result, body)
                stored = time.perf_counter()
                kinds = (f"mapped {len(result.mapped)}, unmapped {sum(result.unmapped.values())}, "
                         f"rejected {len(result.rejected)}, {len(body) / 1e6:.1f} MB")
                table.append((f"parse {label}", len(result.reports) + len(result.rejected), parsed - started, kinds))
                c = outcome.changes
                what = (f"new {c.new}, updated {c.updated}, back {c.back}, gone {c.gone}, unchanged {c.unchanged}; "
                        f"{len(outcome.message_ids)} inbound ids") if c else outcome.status
                table.append((f"store {label}", len(result.mapped), stored - parsed, what))
                ids[label] = list(outcome.message_ids)
                if label.startswith("(a)"):  # the router runs after its poll, as the worker would
                    seconds, note = route(ids[label], args.batch)
                    table.append(("router (a) ids", len(ids[label]), seconds, note))
            seconds, note = route(ids["(c) churned"], args.batch)
            table.append(("router (c) ids", len(ids["(c) churned"]), seconds, note))
        finally:
            conn.flushdb()
            if embedded is not None:
                embedded.stop()
            if schema is not None:
                db.configure("sqlite://")  # release the pooled PostgreSQL connections before the DROP
                with psycopg.connect(args.database_url.replace("+psycopg", ""), autocommit=True) as pg:
                    pg.execute(f"DROP SCHEMA {schema} CASCADE")

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; database: "
          f"{args.database_url or 'sqlite (temp file)'}{f' (schema {schema})' if schema else ''}; Redis: {redis_label}")
    print(f"feed: {args.n} alerts + {jams} jams, seed {args.seed}; router: {args.batch or 'all'} ids per call; "
          f"misses_before_gone {args.misses_before_gone}")
    print(f"{'step':24s} {'items':>6s} {'seconds':>8s} {'items/s':>9s}  counts")  # items: alerts, or messages
    for step, items, seconds, note in table:
        print(f"{step:24s} {items:6d} {seconds:8.3f} {items / seconds if seconds else 0:9,.0f}  {note}")


if __name__ == "__main__":
    main()
