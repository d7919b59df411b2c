"""A setup form's fields as the commands an admin would have typed.

Slack's modal and Discord's ``/brief-admin setup`` collect the same optional fields — a
feed URL, a topic (name and query), a daily digest time and its timezone. Each filled
field becomes one core command (``feed add``, ``topic add``, ``mode digest``), run with
the same admin and can-post checks as the typed command, so a form can do nothing a
command could not."""

from __future__ import annotations

from dataclasses import dataclass, field

NOTHING = "Nothing to do: fill in a feed URL, a topic (name and query) or a digest time."
HALF_TOPIC = "A topic needs both a name and a query; the topic was not saved."
NO_DIGEST_TIME = "A timezone is for a digest time; fill in the time too (HH:MM)."


@dataclass(frozen=True)
class SetupForm:
    url: str = ""
    topic: str = ""
    query: str = ""
    digest: str = ""
    timezone: str = ""


@dataclass
class SetupPlan:
    commands: list[str] = field(default_factory=list)
    # (field, problem): what was filled in wrongly and so not run
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def feed_add(self) -> bool:
        return any(c.startswith("feed add ") for c in self.commands)

    def without_feed_add(self) -> list[str]:
        return [c for c in self.commands if not c.startswith("feed add ")]


def setup_plan(form: SetupForm) -> SetupPlan:
    """The core commands the filled fields stand for, and what is wrong with the rest."""
    url, topic = form.url.strip(), form.topic.strip().lstrip("#")
    query, digest, timezone = (
        " ".join(form.query.split()),
        form.digest.strip(),
        form.timezone.strip(),
    )
    plan = SetupPlan()
    if url:
        plan.commands.append(f"feed add {url}")
    if topic and query:
        plan.commands.append(f"topic add {topic} {query}")
    elif topic:
        plan.problems.append(("query", HALF_TOPIC))
    elif query:
        plan.problems.append(("topic", HALF_TOPIC))
    if digest:
        plan.commands.append(" ".join(p for p in ("mode digest", digest, timezone) if p))
    elif timezone:
        plan.problems.append(("digest", NO_DIGEST_TIME))
    if not plan.commands and not plan.problems:
        plan.problems.append(("url", NOTHING))
    return plan
