"""What the benchmarks feed the hub: one report per chat, as a Telegram update, so each reply is matched by chat."""
from __future__ import annotations

import time
from typing import Any

TEXTS = [
    "Banjir setinggi lutut di Jl. Dermaga Raya, Klender",
    "Tolong min, sampah numpuk di depan Pasar Minggu sudah 3 hari",
    "Parkir liar di trotoar Jl. Kemang Raya bikin macet",
    "Jalan berlubang besar dekat Halte Cawang, bahaya buat motor",
    "There is a fallen tree blocking the road near Blok M, pohon tumbang",
]


def update(i: int, base_chat: int) -> dict[str, Any]:
    """The i-th report of a run, from chat `base_chat + i`."""
    chat = base_chat + i
    user = {"id": chat, "is_bot": False, "first_name": f"Warga {i}", "language_code": "id"}
    return {"message": {"message_id": 1, "from": user, "chat": {"id": chat, "type": "private", "first_name": f"Warga {i}"},
                        "date": int(time.time()), "text": TEXTS[i % len(TEXTS)]}}
