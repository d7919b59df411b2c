"""Feed URLs without their secrets, for everyone who is not a channel admin.

A feed URL often carries a credential: ``https://user:pw@host/…``, ``?api_key=…``,
``?token=…``, a signed ``?sig=…``. Channel members see ``/brief feeds`` and feed-health
notices; only admins (who can export the list anyway) see the URL whole.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "…"

# Query parameter names that carry secrets: matched against the name lower-cased with
# "-" and "." read as "_" (api-key, X-Amz-Signature, access_token, …).
_SECRET_NAME = re.compile(
    r"(^|_)(key|apikey|api_key|token|secret|sig|signature|password|passwd|pass|pwd|auth"
    r"|authorization|credential|credentials|session|sessionid|sid|hash|code|jwt|bearer"
    r"|private|otp|ticket)($|_)|(apikey|accesskey|secretkey|privatekey|token|secret|password"
    r"|signature)$"
)
# A long run of letters and digits in a path segment looks like a key (Telegram-style
# ``/bot123:AA…/``, private feed URLs ``/feeds/3f9a…c21/rss``).
_TOKENISH = re.compile(r"[A-Za-z0-9_:-]{24,}")


def is_secret_param(name: str) -> bool:
    """Whether a query parameter of this name carries a credential."""
    return bool(_SECRET_NAME.search(name.lower().replace("-", "_").replace(".", "_")))


def redact_url(url: str) -> str:
    """``url`` with user info, secret query values and key-like path segments masked.
    A string that is not a URL comes back with nothing after its first ``?`` or ``#``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return re.split(r"[?#]", url, maxsplit=1)[0]
    if not parts.scheme or not host:
        return re.split(r"[?#]", url, maxsplit=1)[0]
    netloc = (f"{MASK}@" if parts.username or parts.password else "") + host + port
    segments = [
        MASK if _TOKENISH.fullmatch(seg) and any(c.isdigit() for c in seg) else seg
        for seg in parts.path.split("/")
    ]
    query = "&".join(
        f"{quote(name, safe='[]')}={MASK if is_secret_param(name) else quote(value, safe='/:,')}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, "/".join(segments), query, ""))


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Every http(s) URL in ``text`` (an error message, say) redacted."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


__all__ = ["MASK", "is_secret_param", "redact_text", "redact_url"]
