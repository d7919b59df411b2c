"""SignalDesk's core: feeds in, clustered and condensed briefings out.

Imports no chat SDK and no SQL library; storage and platforms plug in through the
Protocols in ``bot.ports``.
"""

__version__ = "0.1.0"
