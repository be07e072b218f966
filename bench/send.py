"""CPU of one Telegram reply: python-telegram-bot's defaults (httpx, a Message built from each answer) against crophub's
TelegramSender (aiohttp, only the message id kept), each sending to the fake Bot API running in a process of its own,
so this process's CPU is the client's alone.

    .venv/bin/python bench/send.py -n 3000 --concurrency 64
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402

TEXT = "Terima kasih, laporan Anda sudah kami terima dengan nomor tiket JKT-2026-000001."


def serve(urls: Any) -> None:
    """The fake Bot API, until this process is terminated."""
    api = FakeBotAPI().start()
    urls.put((api.token, api.base_url, api.file_base_url))
    time.sleep(24 * 3600)


async def measure(send: Callable[[int], Awaitable[Any]], n: int, concurrency: int) -> tuple[float, float]:
    """→ (CPU ms per send, sends/s) for `n` sends to distinct chats, `concurrency` at a time, after a warm-up."""
    slots = asyncio.Semaphore(concurrency)

    async def one(chat: int) -> None:
        async with slots:
            await send(chat)

    await asyncio.gather(*(one(1000 + i) for i in range(200)))
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(100_000 + i) for i in range(n)))
    return (time.process_time() - cpu) * 1000 / n, n / (time.perf_counter() - wall)


async def ptb_defaults(token: str, base: str, n: int, concurrency: int) -> tuple[float, float]:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    bot = Bot(token, base_url=base, request=HTTPXRequest(connection_pool_size=8))
    async with bot:
        return await measure(lambda chat: bot.send_message(chat_id=chat, text=TEXT), n, concurrency)


async def crophub_sender(token: str, base: str, files: str, n: int, concurrency: int) -> tuple[float, float]:
    from bots.telegram.send import TelegramSender
    from ingest.message import Address

    os.environ["CROPHUB_TELEGRAM_TOKEN"] = token
    sender = TelegramSender({"api_base_url": base, "file_base_url": files})
    try:
        return await measure(lambda chat: sender.send(Address(channel="telegram", chat_id=str(chat)), TEXT), n,
                             concurrency)
    finally:
        await sender.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="sends per client and round (default 3000)")
    parser.add_argument("--concurrency", type=int, default=64, help="sends in flight at once (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the two clients alternated (default 2)")
    args = parser.parse_args()
    urls: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(urls,), daemon=True)
    server.start()
    token, base, files = urls.get(timeout=30)
    try:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.n} sends per run, "
              f"{args.concurrency} in flight")
        for _ in range(args.rounds):
            for name, run in (("python-telegram-bot defaults (httpx, Message objects)",
                               ptb_defaults(token, base, args.n, args.concurrency)),
                              ("crophub TelegramSender (aiohttp, message id only)",
                               crophub_sender(token, base, files, args.n, args.concurrency))):
                ms, rate = asyncio.run(run)
                print(f"{name:56s} {ms:.3f} ms CPU per send, {rate:,.0f} sends/s")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
