"""The console session: /brief commands from a text stream, replies to another.

A prompt on a terminal; line by line when piped; returns at end of input.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TextIO

from .render import render_reply

if TYPE_CHECKING:
    from bot.commands import Asker, CommandHandler

PROMPT = "brief> "


async def run_console_session(
    commands: CommandHandler, asker: Asker, stdin: TextIO, stdout: TextIO
) -> None:
    interactive = stdin.isatty()
    while True:
        if interactive:
            print(PROMPT, end="", file=stdout, flush=True)
        # Reading blocks, so it runs in a thread: the engine keeps polling meanwhile.
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            if interactive:
                print(file=stdout)
            return
        text = line.strip()
        if not text:
            continue
        if not interactive:
            print(f"\n{PROMPT}{text}", file=stdout)
        reply = await commands.handle(text, asker)
        print(render_reply(reply), file=stdout, flush=True)
