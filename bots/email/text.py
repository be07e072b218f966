"""The words of a mail: HTML to text, quoted earlier mail stripped, forwarded text kept, subjects judged."""
from __future__ import annotations

import re
from html.parser import HTMLParser

# --- HTML → text -------------------------------------------------------------------------------------

_SKIP = {"script", "style", "head", "title", "template", "noscript"}
# Tags that end a paragraph (a blank line after) and tags that only end a line.
_PARAGRAPH = {"p", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "section", "article",
              "header", "footer", "address", "center", "dl"}
_LINE = {"div", "br", "li", "tr", "dd", "dt", "caption"}


class _Text(HTMLParser):
    """Collects the visible text; a <blockquote> becomes "> " lines so quoted mail is stripped like plain text's."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.skip = 0  # depth inside script/style/...
        self.quote = 0  # depth inside blockquote

    def _break(self, paragraph: bool = False, br: bool = False) -> None:
        text = re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", "".join(self.line)).strip()
        self.line = []
        if text:
            self.lines.append("> " * self.quote + text)
        elif br and self.lines and self.lines[-1]:
            self.lines.append("")  # <br><br>: the writer's own blank line
        if paragraph and self.lines and self.lines[-1]:
            self.lines.append("")

    def _tag(self, tag: str) -> None:
        if tag == "blockquote" or tag in _PARAGRAPH:
            self._break(paragraph=True)
        elif tag in _LINE:
            self._break(br=tag == "br")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        self._tag(tag)
        if tag == "blockquote":
            self.quote += 1
        elif tag in ("td", "th"):
            self.line.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag)  # <br/>, <hr/>

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        self._tag(tag)
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.line.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: scripts and styles dropped, blocks on their own lines, entities decoded."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient, but a mail body is untrusted input: keep what was read
        pass
    parser._break()
    return "\n".join(parser.lines).strip()


# --- quoted and forwarded mail ------------------------------------------------------------------------

# Where a forwarded mail starts (Gmail, Outlook, Apple Mail, Thunderbird; English and Indonesian).
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message follows|pesan yang diteruskan|pesan terusan|"
    r"pesan diteruskan)\s*-{2,}|begin forwarded message\s*:|awal pesan yang diteruskan\s*:|"
    r"-{2,}\s*forwarded by .*)\s*$", re.IGNORECASE)
# Header lines of a forwarded or quoted mail: "From: ...", "Dari: ...", "*Subject:* ..." (Gmail's bold).
_HEADER = re.compile(
    r"^\s*\*?(?:from|date|sent|subject|to|cc|bcc|reply-to|dari|tanggal|dikirim|subjek|perihal|kepada|"
    r"terkirim|tembusan)\s*:\*?(?:\s|$)", re.IGNORECASE)
_FROM_LINE = re.compile(r"^\s*\*?(?:from|dari)\s*:", re.IGNORECASE)
_SENT_LINE = re.compile(r"^\s*\*?(?:sent|date|dikirim|terkirim|tanggal)\s*:", re.IGNORECASE)
# Where quoted earlier mail starts in a reply.
_REPLY_HEADER = re.compile(
    r"^\s*(?:on\s.{4,300}\swrote\s*:|pada\s.{4,300}\smenulis\s*:|.{4,300}\s(?:wrote|menulis)\s*:|"
    r"-{2,}\s*(?:original message|pesan asli)\s*-{2,}|_{10,})\s*$", re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$")
_MOBILE = re.compile(r"^\s*(?:sent from my|dikirim dari|sent from (?:yahoo|outlook|mail))\b", re.IGNORECASE)


def _reply_starts(lines: list[str], i: int) -> bool:
    """Whether quoted earlier mail starts at line i (a reply header, possibly wrapped over two lines)."""
    line = lines[i]
    if _REPLY_HEADER.match(line):
        # "…wrote:" alone would also match a citizen's own sentence ending in "menulis:"; the dated forms
        # ("On …", "Pada …") and separators are safe, the bare one needs a quote or a mail address near it.
        if re.match(r"^\s*(?:on|pada)\s|^\s*-{2,}|^\s*_{10,}", line, re.IGNORECASE) or "@" in line:
            return True
        following = next((l for l in lines[i + 1:] if l.strip()), "")
        return following.lstrip().startswith(">")
    if i + 1 < len(lines) and re.match(r"^\s*(?:on|pada)\s", line, re.IGNORECASE) \
            and _REPLY_HEADER.match(line + " " + lines[i + 1].strip()):
        return True  # Gmail wraps a long "On …, Name <address>" before "wrote:"
    if _FROM_LINE.match(line):
        # Outlook's quoted block: "From: …" with "Sent:"/"Date:" within the next few lines.
        return any(_SENT_LINE.match(l) for l in lines[i + 1:i + 5])
    return False


def _own_text(lines: list[str]) -> list[str]:
    """The writer's own lines: up to quoted earlier mail or the signature, without "> " quote lines."""
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _reply_starts(lines, i) or _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    while kept and (not kept[-1].strip() or _MOBILE.match(kept[-1])):
        kept.pop()
    return kept


def _unquote(lines: list[str]) -> list[str]:
    """A forwarded mail that Apple Mail put inside a blockquote: "> " removed one level."""
    if lines and all(l.startswith(">") or not l.strip() for l in lines):
        return [re.sub(r"^> ?", "", l) for l in lines]
    return lines


def _drop_header_block(lines: list[str]) -> list[str]:
    """A forwarded mail's lines without its leading From:/Date:/Subject:/To: block (wrapped values too)."""
    i = 0
    in_header = False
    while i < len(lines):
        line = lines[i]
        if _HEADER.match(line):
            in_header = True
        elif in_header and line[:1] in (" ", "\t") and line.strip():
            pass  # a header value wrapped onto the next line
        elif line.strip():
            break
        else:
            in_header = False
        i += 1
    return lines[i:]


def _outlook_forward(lines: list[str]) -> list[list[str]] | None:
    """Outlook forwards with the same "-----Original Message-----" or "From:/Sent:" block it quotes replies
    with: in a mail whose subject says it is forwarded, the first such block starts the forwarded mail."""
    for i, line in enumerate(lines):
        if _FROM_LINE.match(line) and _reply_starts(lines, i):
            return [lines[:i], lines[i:]]
        if re.match(r"^\s*(?:-{2,}\s*(?:original message|pesan asli)\s*-{2,}|_{10,})\s*$", line, re.IGNORECASE):
            return [lines[:i], lines[i + 1:]]
    return None


def strip_quotes(text: str, forwarded: bool = False) -> str:
    """The writer's text: quoted earlier mail and reply headers dropped; a forwarded mail's text kept (it is
    the report) without its From:/Date:/Subject:/To: lines. `forwarded`: the subject says "Fwd:"."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Segments split at forward markers: the forwarder's note, then each forwarded mail in turn.
    segments: list[list[str]] = [[]]
    for line in lines:
        bare = re.sub(r"^(?:>\s?)+", "", line)
        if _FORWARD.match(bare):
            segments.append([])
        else:
            segments[-1].append(line)
    if forwarded and len(segments) == 1:
        segments = _outlook_forward(lines) or segments
    parts: list[str] = []
    for n, segment in enumerate(segments):
        if n:  # a forwarded mail: drop its header block, then read it like any mail
            segment = _drop_header_block(_unquote(segment))
        own = "\n".join(_own_text(segment)).strip()
        if own:
            parts.append(own)
    return re.sub(r"\n{3,}", "\n\n", "\n\n".join(parts)).strip()


# --- subjects -----------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fwd?|tr|wg|rv|bls|balas|trs|tindak lanjut)\s*(?:\[\d+\])?\s*:\s*|"
                     r"\[(?:fwd?|ext(?:ernal)?|spam)\]\s*)", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|antw|bls|balas)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
# Subjects that say nothing a classifier or geocoder could use.
_GENERIC = {
    "", "no subject", "tanpa subjek", "tanpa judul", "tidak ada subjek", "untitled", "laporan", "lapor",
    "pengaduan", "aduan", "keluhan", "report", "complaint", "complain", "komplain", "info", "informasi", "halo",
    "hallo", "hello", "hi", "hai", "test", "tes", "testing", "tolong", "mohon bantuan", "mohon", "bantuan",
    "help", "pertanyaan", "question", "laporan warga", "pengaduan warga", "aduan warga", "laporan masyarakat",
    "pengaduan masyarakat", "urgent", "penting", "segera", "mohon ditindaklanjuti", "mohon tindak lanjut",
    "fyi", "permohonan", "surat", "email", "pesan", "message", "foto", "photo", "gambar", "lampiran",
}


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd:/[Fwd] prefixes (repeated ones too) and with whitespace collapsed."""
    subject = re.sub(r"\s+", " ", subject or "").strip()
    while True:
        shorter = _PREFIX.sub("", subject, count=1).strip()
        if shorter == subject:
            return subject
        subject = shorter


def is_reply_subject(subject: str) -> bool:
    """Whether the subject says this mail answers another ("Re:", "Balas:")."""
    return bool(_REPLY_PREFIX.match(subject or ""))


def subject_adds(subject: str, body: str) -> bool:
    """Whether a (cleaned) subject tells something the body does not: "Banjir di Kampung Melayu" does,
    "Laporan" or a subject the body starts with does not."""
    words = re.sub(r"[^\w\s]", " ", subject.lower())
    words = re.sub(r"\s+", " ", words).strip()
    if words in _GENERIC or not re.search(r"[^\W\d_]", words):
        return False
    flat_body = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", body.lower())).strip()
    return not flat_body.startswith(words)
