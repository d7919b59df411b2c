"""Links as identities: one article, one source, however many feeds carry it.

Feeds decorate links: tracking parameters (``utm_*``, ``fbclid``, ``gclid``…), AMP and
mobile variants (``/amp/``, ``?outputType=amp``, ``m.``/``amp.`` hosts), fragments,
default ports and trailing slashes. :func:`canonical_link` strips what does not change
the article, so the same report reached through two feeds compares equal.
:func:`link_date` reads the publication date many outlets put in their links.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_link", "link_date", "mirror_key", "source_of"]

#: Characters of normalised text that identify a syndicated copy of an article.
MIRROR_CHARS = 600

# Query parameters that say how a reader arrived, not which article they read.
_TRACKING = frozenset(
    """fbclid gclid gclsrc dclid msclkid yclid mc_cid mc_eid igshid twclid ttclid
    _ga _gl _hsenc _hsmi mkt_tok vero_id vero_conv oly_enc_id oly_anon_id rb_clickid
    s_cid cmpid smid sref ref_src ref_url ito ncid
    mod amp amp_js_v usqp outputtype output_type wt.mc_id ocid ns_mchannel
    ns_source ns_campaign ns_linkname ns_fee sr_share at_medium at_campaign at_custom1
    at_custom2 at_custom3 at_custom4 guccounter guce_referrer guce_referrer_sig
    """.split()
)
_TRACKING_PREFIXES = ("utm_", "pk_", "piwik_", "hsa_", "at_")
_AMP_PATH = re.compile(r"/(?:amp|amphtml)(?=/|$)|\.amp(?=\.html?$|$)", re.IGNORECASE)
_MOBILE_HOSTS = ("m.", "mobile.", "amp.", "www.")


def canonical_link(url: str | None) -> str:
    """A comparable form of ``url``: scheme and host lower-cased, ``www.``/``m.``/
    ``amp.`` dropped, default port, fragment, tracking parameters, AMP path parts and
    a trailing slash removed, the remaining query sorted. Returns ``""`` for what is
    not an http(s) link."""
    if not url:
        return ""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return ""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _MOBILE_HOSTS:
            if host.startswith(prefix) and host.count(".") > 1:
                host, stripped = host[len(prefix) :], True
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = _AMP_PATH.sub("", parts.path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith(_TRACKING_PREFIXES)
    )
    # http and https serve the same article: one scheme, so the two compare equal.
    return urlunsplit(("https", host, path, urlencode(query), ""))


_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DATE_IN_PATH = re.compile(
    r"(?:^|[/_-])(20\d\d|19\d\d)(?:[/-](\d\d?)[/-](\d\d?)|/([a-z]{3})[a-z]*/(\d\d?)|/?(\d\d)(\d\d))"
    r"(?=$|[/_.-])",
    re.IGNORECASE,
)


def link_date(url: str | None) -> datetime | None:
    """The publication day many outlets write into their links (``/2021/05/25/``,
    ``/2021/jun/6/``, ``-20210803-``), at noon UTC; ``None`` when there is none."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    for m in _DATE_IN_PATH.finditer(path):
        year = int(m.group(1))
        if m.group(2):
            month, day = int(m.group(2)), int(m.group(3))
        elif m.group(4):
            month, day = _MONTHS.get(m.group(4)[:3].lower(), 0), int(m.group(5))
        else:
            month, day = int(m.group(6)), int(m.group(7))
        try:
            return datetime(year, month, day, 12, tzinfo=UTC)
        except ValueError:
            continue
    return None


_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def mirror_key(text: str) -> str:
    """What identifies an article's text however a mirror dresses it (case, spacing,
    punctuation): the first ``MIRROR_CHARS`` characters of its words; ``""`` for a text
    too short to tell a copy from two outlets' shared first line."""
    # Only as much of the text as the key needs: once a prefix's words run past
    # MIRROR_CHARS, their first MIRROR_CHARS are the whole text's. An article is tens of
    # kB, and this ran over all of it for every entry placed.
    span = 2 * MIRROR_CHARS
    while True:
        head = text[:span]
        words = _NOT_WORD.sub(" ", head.casefold()).strip()
        if len(words) > MIRROR_CHARS or len(head) == len(text):
            break
        span *= 4
    return words[:MIRROR_CHARS] if len(words) >= MIRROR_CHARS // 2 else ""


def source_of(link: str | None, fallback: str) -> str:
    """The outlet an entry comes from, for ``SAME_SOURCE_PENALTY``: its link's host
    without "www."/"m." (an aggregator feed's entries keep their own outlets), or
    ``fallback`` (say, the feed) when the link has no host or a bare IP address."""
    try:
        host = (urlsplit(link or "").hostname or "").rstrip(".")
    except ValueError:
        host = ""
    for prefix in ("www.", "m."):
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
    try:
        ipaddress.ip_address(host)
        return fallback  # an address names a server (many outlets behind it), not an outlet
    except ValueError:
        return host or fallback


# ------------------------------------------------------------------ link policy

#: A longer "source URL" is not a link anyone should click (browsers keep ~2,000).
LINK_MAX = 2000
# Whitespace, control, invisible/bidi format characters and lone surrogates: a URL
# holding one hides something (``http://\u202eevil.example/`` reads backwards).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def safe_url(url: str | None) -> str | None:
    """The one policy for which feed-given URLs become links, on every platform:
    ``url`` (stripped) if it is an absolute http(s) URL with a valid host, no user
    part (``https://bank.example@evil.example/`` reads as another site), no
    whitespace, control or invisible character and at most ``LINK_MAX`` characters;
    else None (no link at all: no ``javascript:``, ``data:``, relative or malformed
    links). Renderers apply only their platform's escaping to what this returns."""
    if not url:
        return None
    url = url.strip()
    if len(url) > LINK_MAX or any(
        ch.isspace() or unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in url
    ):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not host or "@" in parts.netloc:
        return None
    try:
        host.encode("idna")
    except UnicodeError:
        return None  # not a host name any resolver would look up
    return url
