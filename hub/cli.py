"""The `crophub` command: run, worker, listen, web, migrate, officer, account, failed, train, analyse, eval."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hub.accounts_cli import cmd_account, cmd_officer
from hub.examples_cli import add_parser as add_examples_parser
from hub.examples_cli import add_train_options, cmd_export_examples, confirmed_examples
from hub.failed_cli import add_parser as add_failed_parser
from hub.failed_cli import cmd_failed
from hub.listen_cli import _listeners, channels_on, cmd_listen  # noqa: F401  (tests read _listeners here)
from hub.errors import EX_INTERRUPTED, Fatal

# Only the standard library above: everything else is imported inside main(), so a Ctrl-C while it
# loads (seconds on a busy machine) ends in one line instead of a traceback.
if TYPE_CHECKING:
    from hub.settings import Settings
    from nlp.classify import Classifier

log = logging.getLogger("crophub")


def _child_env(redis_url: str) -> dict[str, str]:
    return {"CROPHUB_REDIS_URL": redis_url, "CROPHUB_SUPERVISED": "1"}


def _child_argv(args: argparse.Namespace, *command: str) -> list[str]:
    argv = [sys.executable, "-m", "hub.cli"]
    if args.config:
        argv += ["--config", str(args.config)]
    return [*argv, *command]


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    from hub import runtime
    from store import migrate

    migrate.upgrade(settings.database_url)
    log.info("database at newest schema: %s", settings.database_url.split("@")[-1])
    runtime.sync_officers(settings)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run RQ workers (several processes with --processes)."""
    from hub import runtime, worker

    url = runtime.redis_url_or_exit(settings)
    processes = args.processes or settings.workers.processes
    if processes == 1 or args.burst:
        conn = runtime.setup(settings, url)
        stop = threading.Event()
        if not os.environ.get("CROPHUB_SUPERVISED"):  # a supervisor runs the sweep for its children
            worker.sweeper(conn, settings.workers.sweep_interval, settings.workers.sweep_age, stop)
        try:
            worker.work(conn, burst=args.burst)
        finally:
            stop.set()
            worker.close_senders()
        return 0
    from hub.supervise import Child

    children = [Child(f"worker-{i + 1}", _child_argv(args, "worker", "--processes", "1"), _child_env(url))
                for i in range(processes)]
    return _supervise(settings, url, children)


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the web app: health, the pages, the web chat, Open311 GeoReport v2, and the webhooks of the channels
    that receive by webhook (Telegram in webhook mode)."""
    from rq import Queue

    from bots import CHANNELS
    from bots.base import load
    from bots.open311.config import Open311Settings
    from bots.webchat.config import WebChatSettings
    from hub import runtime
    from hub.serve import serve
    from ingest.intake import INTAKE_QUEUE, Intake
    from store import db

    from web import media, open311, public, site
    from web.app import make_app
    from web.health import Checks
    from web.metrics import HubCollector
    from web.metrics import mount as mount_metrics

    url = runtime.redis_url_or_exit(settings)
    conn = runtime.setup(settings, url)  # the router's routing (agency names) is the web's too
    sessions = db.factory()
    checks = Checks(sessions.kw["bind"], conn)

    w = settings.web
    app = make_app(checks.health, w.max_photo_bytes, w.proxy_hops, w.tile_url, ready=checks.ready)
    if w.metrics:
        mount_metrics(app, HubCollector(sessions, conn), w.metrics_token())
    photos = media.Photos(sessions, w.max_photo_bytes)
    intake = Intake(sessions, Queue(INTAKE_QUEUE, connection=conn), settings.workers.job_timeout)
    o311 = settings.typed("open311", Open311Settings)
    site.mount(app, sessions, intake, photos, site.Site(
        # The public page, the officers' map and the statistics read the same settings.
        public.Config(w.tile_url, w.tile_attribution, w.public_days, w.min_count, o311.public_photos,
                      trending_min=w.trending_min, top_reporters=w.top_reporters),
        w.session_hours, w.secure_cookies,
        open311.Config(o311.jurisdiction_id, o311.api_keys(), o311.max_requests, o311.default_days,
                       o311.public_photos) if o311.enabled else None,
        chat=settings.typed("web", WebChatSettings).enabled, public_text=w.public_text))
    for channel in CHANNELS:
        section = settings.channel(channel.name)
        if channel.webhook and section.serves() and runtime.channel_status(settings, channel.name) is None:
            load(channel.webhook)(app, section, intake)
    serve(app, w.host, w.port, None if settings.hub.log_level != "DEBUG" else logging.getLogger("aiohttp.access"))
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Everything in one process tree: embedded Redis (unless redis.url), workers, listeners, web."""
    from hub import runtime
    from hub.embedded_redis import EmbeddedRedis
    from hub.serve import check_port
    from hub.supervise import Child
    from store import migrate

    if settings.web.enabled:
        # A taken port is said now, in one line, rather than after everything else has started.
        check_port(settings.web.host, settings.web.port)
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.hub.var_dir, settings.redis.embedded.port, settings.redis.embedded.appendonly)
        url = embedded.start()
    try:
        if settings.database.auto_migrate:
            migrate.upgrade(settings.database_url)
        runtime.sync_officers(settings)
        from nlp import classify

        # Once here, rather than in every worker as it starts.
        classify.ensure_model(settings.nlp.categories_file or classify.DEFAULT_TAXONOMY)
        env = _child_env(url)
        children = [Child(f"worker-{i + 1}", _child_argv(args, "worker", "--processes", "1"), env)
                    for i in range(settings.workers.processes)]
        channels = channels_on(settings)
        if channels:
            children.append(Child("listen", _child_argv(args, "listen", *(f"--channel={c}" for c in channels)), env))
        if settings.web.enabled:
            children.append(Child("web", _child_argv(args, "web"), env))  # it logs its URL once it listens
        return _supervise(settings, url, children, embedded.ensure_running if embedded else None)
    finally:
        if embedded:
            embedded.stop()


def _supervise(settings: Settings, url: str, children: list, check: Callable[[], None] | None = None) -> int:
    from hub import runtime, worker
    from hub.supervise import Supervisor

    conn = runtime.setup(settings, url)
    supervisor = Supervisor(children, check)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    worker.sweeper(conn, settings.workers.sweep_interval, settings.workers.sweep_age, stop)
    log.info("running %d process(es); Ctrl-C stops", len(children))
    try:
        return supervisor.run()  # 0 when stopped; a child's EX_CONFIG when it cannot run as configured
    finally:
        stop.set()
        supervisor.stop(settings.workers.stop_timeout)


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """Train the category classifier from nlp/data/train into nlp/model (seeded, repeatable)."""
    from nlp import classify

    meta = classify.train(seed=args.seed, taxonomy_path=settings.nlp.categories_file or classify.DEFAULT_TAXONOMY,
                          extra=confirmed_examples(settings, args))
    log.info("trained on %d examples in %.1fs → %s", meta["examples"], meta["seconds"], classify.MODEL_DIR)
    return 0


def _classifier(settings: Settings, model_dir: Path | None = None) -> Classifier:
    from nlp import classify
    from nlp.rules import Taxonomy

    if model_dir is not None:
        return classify.Classifier(model_dir, Taxonomy.load(settings.nlp.categories_file),
                                   settings.nlp.confidence_threshold, settings.nlp.water_mass)
    if not classify.is_current(taxonomy=settings.nlp.categories_file or classify.DEFAULT_TAXONOMY):
        log.warning("nlp: the classifier model is missing or stale; run `crophub train` (make does it for you)")
    taxonomy = Taxonomy.load(settings.nlp.categories_file)
    return classify.Classifier(taxonomy=taxonomy, threshold=settings.nlp.confidence_threshold,
                               water_mass=settings.nlp.water_mass)


def cmd_analyse(settings: Settings, args: argparse.Namespace) -> int:
    """Read JSON Lines reports (file or stdin); write one JSON line per input with category and place."""
    import json

    from nlp.analyse import analyse_lines
    from nlp.nominatim import NominatimFallback

    classifier = _classifier(settings)
    fallback = NominatimFallback(settings.nlp.nominatim_url, settings.nlp.nominatim_user_agent,
                                 settings.nlp.nominatim_timeout) if settings.nlp.nominatim_url else None
    source = open(args.path, encoding="utf-8") if args.path and args.path != "-" else sys.stdin
    errors = 0
    with source:
        for result in analyse_lines(source, classifier, fallback):
            if "error" in result:
                errors += 1
                log.warning("line %d rejected: %s", result["line"], result["error"])
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 1 if errors and args.strict else 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Evaluate classifier and geocoder on the labelled CSVs in PATH."""
    from nlp import evaluate

    from nlp import classify
    from nlp.rules import Taxonomy

    classifier = _classifier(settings, Path(args.model) if args.model else None)
    # The other model keeps its own threshold and water mass: each is judged as it would run.
    other = classify.Classifier(Path(args.compare), Taxonomy.load(settings.nlp.categories_file)) if args.compare else None
    evaluate.run(Path(args.path), classifier, compare=other)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    config_help = "config file (default: $CROPHUB_CONFIG or ./config.yaml)"
    parser = argparse.ArgumentParser(prog="crophub", description="Citizen-report hub for Jakarta's CROP.")
    parser.add_argument("--config", type=Path, help=config_help)
    # --config is accepted after any command too (`crophub run --config x.yaml`); SUPPRESS keeps a
    # command's parser from overwriting one given before the command with its own default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, parents=[common])

    command(sub, "run", "start everything: embedded Redis, workers, listeners, web (Ctrl-C stops)")
    w = command(sub, "worker", "run RQ workers for the intake and outbox queues")
    w.add_argument("--processes", type=int, help="worker processes (default: workers.processes)")
    w.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    li = command(sub, "listen", "run the listeners of the channels that are on (Telegram long polling, Twitter "
                                "mentions, the email inbox, the Waze feed, ...)")
    # For `crophub run`, which has checked (and reported) the channels already; checked against bots.CHANNELS
    # when the command runs, so that building this parser imports no channel.
    li.add_argument("--channel", action="append", help=argparse.SUPPRESS)
    command(sub, "web", "serve the web app (public map, officers' dashboard, web chat, Open311, health, the channels' webhooks)")
    command(sub, "migrate", "bring the database schema up to date")
    t = command(sub, "train", "train the category classifier from nlp/data/train (offline, seeded)")
    t.add_argument("--seed", type=int, default=0)
    add_train_options(t)
    a = command(sub, "analyse", "category and place for JSON Lines reports ({\"text\", \"lat\", \"lon\"})")
    a.add_argument("path", nargs="?", help="input file (default: standard input)")
    a.add_argument("--strict", action="store_true", help="exit 1 if any line was rejected")
    o = command(sub, "officer", "add, list or remove officers (besides routing.officers in the config)")
    osub = o.add_subparsers(dest="action", required=True, metavar="ACTION")
    oa = command(osub, "add", "add an officer, or update the one with one of these identities")
    oa.add_argument("--name", required=True)
    oa.add_argument("--telegram-id", help="the officer's numeric Telegram user id")
    oa.add_argument("--on", action="append", metavar="CHANNEL:ID",
                    help="who the officer is on another channel that carries officers (repeatable; the first listed "
                         "gets the cards, after --telegram-id)")
    oa.add_argument("--role", default="petugas", help="petugas | lurah | camat | agency_staff | agency_head | supervisor")
    oa.add_argument("--area", action="append", help="kota, kecamatan or kelurahan code, e.g. 31.75.03.1001 (repeatable)")
    oa.add_argument("--agency", action="append", help="agency code from routing.agencies, e.g. dsda (repeatable)")
    command(osub, "list", "list active officers")
    orm = command(osub, "remove", "deactivate an officer (kept in ticket histories)")
    orm.add_argument("officer", metavar="OFFICER", help="their Telegram id, or CHANNEL:ID")
    acc = command(sub, "account", "add, list or remove officers' dashboard logins")
    asub = acc.add_subparsers(dest="action", required=True, metavar="ACTION")
    aa = command(asub, "add", "give an officer a login (or a new password): asks for the password, or "
                              "reads it from $CROPHUB_NEW_PASSWORD")
    aa.add_argument("username")
    aa.add_argument("--officer", required=True, help="the officer's Telegram id, or CHANNEL:ID (see `crophub officer list`)")
    command(asub, "list", "list logins")
    ar = command(asub, "remove", "disable a login and end its sessions")
    ar.add_argument("username")
    add_failed_parser(sub, command)
    add_examples_parser(sub, command)
    e = command(sub, "eval", "evaluate on labelled CSVs (jaki_dev.csv, petabencana_dev.csv) in PATH")
    e.add_argument("path", help="folder with the CSVs, e.g. ../shared/eval")
    e.add_argument("--model", metavar="DIR", help="the model to evaluate (default: nlp/model)")
    e.add_argument("--compare", metavar="DIR", help="another model (e.g. the one in use) measured beside it")
    return parser


COMMANDS = {"run": cmd_run, "worker": cmd_worker, "listen": cmd_listen, "web": cmd_web, "migrate": cmd_migrate,
            "train": cmd_train, "analyse": cmd_analyse, "eval": cmd_eval, "officer": cmd_officer,
            "account": cmd_account, "failed": cmd_failed, "export-examples": cmd_export_examples}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `crophub` console script."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command took the signal over (the supervisor, listen and web do): while loading,
        # migrating or training. What had been started was stopped on the way here (finally blocks).
        print("crophub: stopped", file=sys.stderr)
        return EX_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from hub.settings import ConfigError, load

    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"crophub: {exc}", file=sys.stderr)
        return 2
    try:
        from hub import runtime

        runtime.setup_logging(settings.hub.log_level, args.command)
        return COMMANDS[args.command](settings, args) or 0
    except ConfigError as exc:
        print(f"crophub: {exc}", file=sys.stderr)
        return 2
    except Fatal as exc:
        # Something the operator fixes (a taken port, a hub already running): one line, no traceback.
        print(f"crophub: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
