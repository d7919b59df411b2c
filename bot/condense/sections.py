"""The three sections (what happened, why it matters, what to watch), each only
when a sentence says it."""

from __future__ import annotations

from .analysis import _overlap, _Sentence
from .bullets import _name_given, _point
from .tuning import REDUNDANT


def _sections(
    sentences: list[_Sentence],
    used: set[int],
    lead_words: list[frozenset[str]],
    known: frozenset[str] = frozenset(),
) -> tuple[str, str, str]:
    # A section shows its sentences without the ones before them, so a sentence that
    # leans on its predecessor comes only after every one that stands alone.
    pool = sorted(
        (s for s in sentences if id(s) not in used and _point(s)),
        key=lambda s: (s.dangling, -s.score, s.source, s.position),
    )
    # Seeded with the lead and bullets so that no section repeats what the message
    # already says.
    taken = list(lead_words)

    def choose(cands: list[_Sentence], limit: int) -> list[_Sentence]:
        out: list[_Sentence] = []
        for s in cands:
            if len(out) >= limit:
                break
            if any(_overlap(s.words, t) > REDUNDANT for t in taken):
                continue
            # A section shows a sentence without the one before it: one that leans on
            # its predecessor ("But it is not the only player") would not make sense.
            if s.dangling:
                continue
            # Nor one naming a person by surname only ("Earnest added…") before the
            # briefing (``known``: the headline's words) has given the name.
            if not _name_given(s, known.union(*taken)):
                continue
            out.append(s)
            taken.append(s.words)
        return out

    # Dated plans first (sorted() is stable: by score within each group).
    watch_pool = [s for s in pool if s.watch and s.watch >= s.why]
    watch = choose(sorted(watch_pool, key=lambda s: (s.dangling, not s.when)), 2)
    chosen = {id(s) for s in watch}
    why_pool = [s for s in pool if id(s) not in chosen and s.why > s.watch]
    why = choose(sorted(why_pool, key=lambda s: s.dangling), 2)
    chosen |= {id(s) for s in why}
    rest = [s for s in pool if id(s) not in chosen]
    happened = choose([s for s in rest if s.past and not s.watch], 3)
    if len(happened) < 2:
        happened += choose(
            [s for s in rest if id(s) not in {id(h) for h in happened}], 2 - len(happened)
        )

    def join(group: list[_Sentence]) -> str:
        return " ".join(s.text for s in sorted(group, key=lambda s: (s.source, s.position)))

    return join(happened), join(why), join(watch)
