"""What the router's handlers produce: typed replies (`Reply`, beside the `Address` they go to) and the
`Outcome` of handling a message, an officer's action or a job, which router/unit.py carries out after the
commit."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ingest.message import Address


@dataclass(frozen=True)
class Button:
    """A button under a reply: its words, and the text a press sends back (a command such as `/beres X`)."""

    label: str
    value: str


Buttons = tuple[tuple[Button, ...], ...]  # rows of buttons, as a channel lays them out

# The Reply fields a channel shows beside the text: stored as the outbox row's `extras` and read by the
# senders under the same names (bots/base.py); a flag is stored only when set, a value only when present.
_EXTRAS = ("photo", "buttons", "ask_location", "language", "menu", "card", "toast", "clear_buttons",
           "clear_buttons_of", "notice")


@dataclass(frozen=True)
class Reply:
    """One reply to store in the outbox and send: where it goes, its words, and what the channel shows beside
    them. `key` names the event it answers: the outbox keeps one reply per key, so a replay sends nothing twice."""

    to: Address
    text: str
    key: str
    ticket_id: int | None = None  # the ticket it is about: a reply to it reaches that ticket
    inbound_id: int | None = None  # the message it answers (replies are put back in the messages' order)
    photo: str | None = None  # a Telegram file id, a public URL, or a photo kept here (store/media.py)
    buttons: Buttons = ()
    ask_location: str | None = None  # the label of a share-location button
    language: str | None = None  # for a channel's numbered-menu fallback and email's Content-Language
    menu: bool = False  # a bare number may answer its buttons (router/dialogue.py)
    card: bool = False  # an officer's card, or an answer about its ticket: replying to it acts on the ticket
    toast: str | None = None  # the short notice that answers a button press (the address has its callback id)
    clear_buttons: str | None = None  # the provider message id of an earlier reply whose buttons go
    clear_buttons_of: str | None = None  # the key of an earlier reply whose buttons go (its id is found when sent)
    # The ticket number an out-of-window notice names: the channel sends its approved template with it instead
    # of the text (router/window.py), and the window does not hold it.
    notice: str | None = None

    @property
    def chat_key(self) -> str:
        """The conversation it goes to (replies to one chat keep their order)."""
        return self.to.chat_key

    def extras(self) -> dict[str, Any] | None:
        """What the channel shows beside the text, as the outbox stores it and senders read it; None for nothing."""
        found: dict[str, Any] = {}
        for name in _EXTRAS:
            value = getattr(self, name)
            if value is None or value is False or value == ():
                continue  # not set: the row says nothing of it
            found[name] = [[{"label": b.label, "value": b.value} for b in row] for row in value] \
                if name == "buttons" else value
        return found or None

    def plain(self) -> bool:
        """True for words alone (nothing beside them): such a reply may join another to the same chat."""
        return bool(self.text) and self.extras() is None

    def then(self, text: str) -> Reply:
        """The reply with `text` added at its end."""
        return replace(self, text=self.text + text)


def extras_fields(extras: dict[str, Any] | None) -> dict[str, Any]:
    """The Reply fields an outbox row's `extras` stands for (the inverse of Reply.extras)."""
    unknown = set(extras or {}) - set(_EXTRAS)
    if unknown:
        raise ValueError(f"extras a reply cannot carry: {sorted(unknown)}")
    found = dict(extras or {})
    if "buttons" in found:
        found["buttons"] = tuple(tuple(Button(b["label"], b["value"]) for b in row) for row in found["buttons"])
    return found


@dataclass(frozen=True)
class Outcome:
    """What handling one message, officer's action or job came to: its replies, the tickets it moved (their next
    SLA check is scheduled after the commit), the tickets it filed for officers, and what to tell whoever acted
    when that is not a reply of its own (the dashboard's notice, an officer's question back)."""

    replies: tuple[Reply, ...] = ()
    moved: frozenset[int] = frozenset()
    filed: frozenset[int] = frozenset()
    said: str | None = None

    @classmethod
    def about(cls, replies: list[Reply]) -> Outcome:
        """`replies`, with the tickets they are about as the tickets moved."""
        return cls(tuple(replies), moved=frozenset(r.ticket_id for r in replies if r.ticket_id))


def fold(replies: list[Reply]) -> list[Reply]:
    """One reply per message: a plain text for the chat a reply to the same message went to (or, for an update
    about a ticket, the reply that filed or completed it) is joined to that reply, which keeps its buttons."""
    kept: list[Reply] = []
    by_message: dict[tuple[str, int], int] = {}  # → its place in `kept`
    by_ticket: dict[tuple[str, int], int] = {}
    for reply in replies:
        chat, inbound, ticket = reply.chat_key, reply.inbound_id, reply.ticket_id
        if reply.plain():
            into = by_message.get((chat, inbound)) if inbound else by_ticket.get((chat, ticket)) if ticket else None
            if into is not None:
                kept[into] = kept[into].then("\n\n" + reply.text)
                continue
        kept.append(reply)
        if reply.text and inbound:  # a reply to a message: what follows about it may join it
            by_message.setdefault((chat, inbound), len(kept) - 1)
            if ticket:
                by_ticket.setdefault((chat, ticket), len(kept) - 1)
    return kept
