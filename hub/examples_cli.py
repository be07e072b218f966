"""`crophub export-examples` and `crophub train --with-confirmed`: the labelled examples learnt from use (categories
citizens confirmed or picked, officers' re-categorisations) as JSON Lines, or as extra training examples."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from hub.settings import Settings
    from store.examples import Labelled

log = logging.getLogger("crophub")


def add_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `crophub export-examples` to the CLI's subcommands (`command` makes one)."""
    export = command(sub, "export-examples", "write the categories learnt from use (citizens', officers') as JSON Lines")
    export.add_argument("--out", help="output file (default: standard output)")


def add_train_options(train: argparse.ArgumentParser) -> None:
    """Add --with-confirmed to `crophub train`."""
    train.add_argument("--with-confirmed", action="store_true",
                       help="add the examples learnt from use (see `crophub export-examples`) to the training files")


def cmd_export_examples(settings: Settings, args: argparse.Namespace) -> int:
    """Write every stored example as one JSON line."""
    rows = _stored(settings)
    out = open(args.out, "w", encoding="utf-8") if args.out and args.out != "-" else sys.stdout
    try:
        for row in rows:
            out.write(json.dumps({"text": row.text, "category": row.category, "source": row.source,
                                  "created_at": row.created_at.isoformat()}, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    log.info("export-examples: %d example(s) written to %s", len(rows), args.out or "standard output")
    return 0


def confirmed_examples(settings: Settings, args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (text, category) pairs `crophub train` adds: the stored examples with --with-confirmed, else none;
    examples of categories the taxonomy no longer has are left out (and counted in the log)."""
    if not getattr(args, "with_confirmed", False):
        return []
    from nlp import classify
    from nlp.rules import Taxonomy

    known = set(Taxonomy.load(settings.nlp.categories_file or classify.DEFAULT_TAXONOMY).categories)
    rows = _stored(settings)
    pairs = [(r.text, r.category) for r in rows if r.category in known]
    if len(pairs) < len(rows):
        log.warning("train: %d stored example(s) name categories the taxonomy no longer has; left out",
                    len(rows) - len(pairs))
    log.info("train: adding %d example(s) learnt from use", len(pairs))
    return pairs


def _stored(settings: Settings) -> list[Labelled]:
    from store import db, examples, migrate

    if settings.database.auto_migrate and not migrate.is_current(settings.database_url):
        migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    with db.session() as session:
        return examples.all_examples(session)
