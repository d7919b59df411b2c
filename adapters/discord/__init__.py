"""Discord adapter (discord.py 2.x): ``render`` (pure payload builders), ``publisher``
(the ``Publisher`` port) and ``app`` (``DiscordService``: slash commands and buttons).

Imported as ``adapters.discord``; absolute imports inside keep ``discord`` the library."""
