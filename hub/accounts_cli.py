"""`crophub officer` and `crophub account`: the officer roster and the officers' dashboard logins."""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.settings import Settings


def cmd_officer(settings: Settings, args: argparse.Namespace) -> int:
    """Add, list or remove officers (the roster beside routing.officers in the config)."""
    from pydantic import ValidationError

    from hub.settings import OfficerSettings
    from store import db, migrate
    from store import officers as roster

    if settings.database.auto_migrate and not migrate.is_current(settings.database_url):
        migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    if args.action == "add":
        try:
            spec = OfficerSettings(name=args.name, telegram_id=args.telegram_id, role=args.role,
                                   identities=dict(roster.parse_handle(h) for h in args.on or []),
                                   areas=args.area or [], agencies=args.agency or [])
        except ValidationError as exc:
            print("crophub: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                  file=sys.stderr)
            return 2
        # A utility's liaison works for the utility (routing.utilities): tickets handed to it are theirs.
        known = [*settings.routing.agencies, *settings.routing.utilities]
        unknown = [a for a in spec.agencies if a not in known]
        if unknown:
            print(f"crophub: unknown agency {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
            return 2
        if not spec.areas and not spec.agencies and spec.role != "supervisor":
            print("crophub: give --area and/or --agency: an officer with neither may act on no ticket", file=sys.stderr)
            return 2
        with db.session() as session:
            handles = roster.add(session, spec.model_dump()).handles()
        print(f"officer {spec.name} ({handles}) added as {spec.role}")
        return 0
    if args.action == "remove":
        with db.session() as session:
            removed = roster.remove(session, *roster.parse_handle(args.officer))
        if not removed:
            print(f"crophub: no active officer {args.officer}", file=sys.stderr)
            return 1
        print(f"officer {args.officer} removed")
        return 0
    with db.session() as session:
        people = roster.all_officers(session)
        print(f"{'role':12}  {'source':6}  {'name':24}  {'areas / agencies':32}  identities")
        for o in people:
            scope = f"{','.join(o.areas) or '*'} / {','.join(o.agencies) or '*'}"
            print(f"{o.role:12}  {o.source:6}  {o.name[:24]:24}  {scope:32}  {o.handles()}")
    return 0


def cmd_account(settings: Settings, args: argparse.Namespace) -> int:
    """Add, list or remove dashboard logins (each is an officer's, with that officer's rights)."""
    import getpass

    from sqlalchemy import delete, select

    from store import accounts, db, migrate
    from store import officers as roster
    from store.models import Officer, WebAccount, WebSession

    if settings.database.auto_migrate and not migrate.is_current(settings.database_url):
        migrate.upgrade(settings.database_url)
    db.configure(settings.database_url)
    if args.action == "add":
        missing = (f"crophub: no active officer {args.officer}: add the officer first "
                   f"(`crophub officer add --telegram-id ID ...` or `--on CHANNEL:ID`; see `crophub officer list`)")
        handle = roster.parse_handle(str(args.officer))
        with db.session() as session:
            # Before asking for a password: typed for an officer who is not there, it would be typed in vain.
            if roster.by_identity(session, *handle) is None:
                print(missing, file=sys.stderr)
                return 2
        password = os.environ.get("CROPHUB_NEW_PASSWORD")
        if password is None:
            try:
                password = getpass.getpass(f"password for {args.username}: ")
                again = getpass.getpass("again: ")
            except EOFError:  # no terminal, nothing piped in
                print("crophub: no password given: type it, or set CROPHUB_NEW_PASSWORD", file=sys.stderr)
                return 2
            if again != password:
                print("crophub: the passwords differ", file=sys.stderr)
                return 2
        try:
            with db.session() as session:
                officer = roster.by_identity(session, *handle)
                if officer is None:  # removed meanwhile
                    print(missing, file=sys.stderr)
                    return 2
                accounts.add(session, args.username, password, officer)
                name = officer.name
        except accounts.AccountError as exc:
            print(f"crophub: {exc}", file=sys.stderr)
            return 2
        print(f"login {args.username.lower()} for {name} saved")
        return 0
    with db.session() as session:
        if args.action == "remove":
            account = session.scalar(select(WebAccount).where(WebAccount.username == args.username.lower()))
            if account is None:
                print(f"crophub: no login {args.username}", file=sys.stderr)
                return 1
            account.active = False
            session.execute(delete(WebSession).where(WebSession.account_id == account.id))
            print(f"login {account.username} disabled")
            return 0
        print(f"{'username':20}  {'active':6}  {'officer':24}  identities")
        for account in session.scalars(select(WebAccount).order_by(WebAccount.username)):
            officer = session.get(Officer, account.officer_id)
            print(f"{account.username:20}  {str(account.active).lower():6}  {officer.name if officer else '-':24}  "
                  f"{officer.handles() if officer else '-'}")
    return 0
