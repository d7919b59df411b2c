"""Story clustering: same event across outlets joins, same-kind events stay apart.

All stories here are invented for the tests.
"""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.cluster import (
    ClusterIndex,
    Fingerprint,
    StoryClusterer,
    cluster_items,
    run_cluster_cli,
    source_of,
)
from bot.models import StoryDoc

T0 = datetime(2031, 3, 14, 8, 0, tzinfo=UTC)

# One invented event (a ferry fire off Valdoria), reported three ways.
FERRY = [
    {
        "id": "a1",
        "title": "Ferry Marisol catches fire off Valdoria; 212 passengers rescued",
        "text": "A passenger ferry, the Marisol, caught fire on Tuesday near the port of "
        "Valdoria, and coast guard boats rescued all 212 passengers, officials said. "
        "Captain Ilse Ronnqvist said the blaze started in the engine room.",
    },
    {
        "id": "b1",
        "title": "Coast guard saves hundreds as blaze engulfs Valdoria ferry",
        "text": "Coast guard crews pulled 212 people from the burning ferry Marisol off "
        "Valdoria on Tuesday. The fire began in the engine room, according to captain "
        "Ilse Ronnqvist, and no deaths were reported.",
    },
    {
        "id": "c1",
        "title": "Questions mount over ferry safety after Marisol fire",
        "text": "The engine-room fire aboard the Marisol ferry near Valdoria, in which "
        "212 passengers had to be rescued by the coast guard, has renewed criticism of "
        "ageing vessels. Captain Ronnqvist praised the crew.",
    },
]

# Two invented earthquakes: same kind of event, different places, days and magnitudes.
QUAKES = [
    {
        "id": "q1",
        "title": "Magnitude 6.4 earthquake strikes Norhaven, killing 31",
        "text": "A magnitude 6.4 earthquake struck the coastal province of Norhaven on "
        "Monday, killing 31 people and collapsing the Lindqvist bridge, the national "
        "seismic institute said. Rescue teams searched the town of Eskeby.",
        "published": "2031-05-04T06:10:00+00:00",
    },
    {
        "id": "q2",
        "title": "Powerful 7.1 quake hits Sorvania, dozens dead",
        "text": "A magnitude 7.1 earthquake hit southern Sorvania on Thursday, killing at "
        "least 48 people and damaging the old market in Tarrega, the interior ministry "
        "said. Rescue teams searched collapsed buildings overnight.",
        "published": "2031-05-07T22:40:00+00:00",
    },
    {
        "id": "q3",
        "title": "Norhaven quake death toll rises to 31 as Eskeby digs out",
        "text": "Rescuers in Eskeby, Norhaven, recovered more bodies after Monday's "
        "magnitude 6.4 earthquake, bringing the toll to 31. The Lindqvist bridge "
        "collapse cut the main road, the seismic institute said.",
        "published": "2031-05-04T15:00:00+00:00",
    },
]


def _filler() -> list[dict[str, str]]:
    """Unrelated stories, so the online IDF has seen a little of the world."""
    topics = [
        ("Central bank holds rates at 3.5 percent", "The central bank kept its key rate "
         "unchanged, citing slowing inflation and a cooling housing market."),
        ("Orchestra announces new season of Baltic composers", "The city orchestra will "
         "open its season with works by three Baltic composers and a new conductor."),
        ("Startup unveils folding electric scooter", "A startup showed a folding electric "
         "scooter with a removable battery and a range of forty kilometres."),
        ("Rail strike cancels commuter trains", "Commuter trains were cancelled across "
         "the region as rail workers walked out over pay and rosters."),
        ("Wildflower meadow returns to old airfield", "Volunteers sowed native seeds on a "
         "disused airfield, and botanists counted forty species this spring."),
    ]  # fmt: skip
    return [{"id": f"f{i}", "title": t, "text": x} for i, (t, x) in enumerate(topics)]


def test_same_event_from_three_outlets_clusters_together() -> None:
    items = _filler() + FERRY
    labels = cluster_items(items)
    ferry = labels[-3:]
    assert len(set(ferry)) == 1
    assert ferry[0] not in labels[:-3]


def test_different_events_of_the_same_kind_stay_apart() -> None:
    labels = cluster_items(_filler() + QUAKES)
    q1, q2, q3 = labels[-3:]
    assert q1 != q2
    assert q1 == q3  # the follow-up on the first quake joins it


def test_assign_respects_the_time_window() -> None:
    clusterer = StoryClusterer(window=timedelta(hours=72))
    for item in _filler():
        clusterer.observe(clusterer.fingerprint(item["title"], item["text"]))
    first = FERRY[0]
    story = StoryDoc(story_id=7, title=first["title"], text=first["text"], published=T0)
    fp = clusterer.fingerprint(first["title"], first["text"])
    clusterer.observe(fp)

    soon = StoryDoc(
        title=FERRY[1]["title"], text=FERRY[1]["text"], published=T0 + timedelta(hours=5)
    )
    assert clusterer.assign(soon, [(story, fp)]) == 7

    late = StoryDoc(
        title=FERRY[1]["title"], text=FERRY[1]["text"], published=T0 + timedelta(days=9)
    )
    assert clusterer.assign(late, [(story, fp)]) is None

    undated = StoryDoc(title=FERRY[1]["title"], text=FERRY[1]["text"], published=None)
    assert clusterer.assign(undated, [(story, fp)]) == 7  # unknown time: within the window


def test_item_outside_the_window_opens_a_new_story() -> None:
    base = dict(FERRY[0], published=T0.isoformat())
    repeat = dict(FERRY[1], published=(T0 + timedelta(days=10)).isoformat())
    labels = cluster_items([*_filler(), base, repeat])
    assert labels[-1] != labels[-2]


def test_index_matches_and_prunes_old_stories() -> None:
    index = ClusterIndex(StoryClusterer())
    for n, item in enumerate(_filler()):
        index.add(100 + n, index.clusterer.fingerprint(item["title"], item["text"]), T0)
    fp = index.clusterer.fingerprint(FERRY[0]["title"], FERRY[0]["text"])
    index.add(1, fp, T0)
    probe = index.clusterer.fingerprint(FERRY[1]["title"], FERRY[1]["text"])
    assert index.match(probe, T0 + timedelta(hours=1)) == 1
    index.add(1, probe, T0 + timedelta(hours=1))
    story_fp = index.fingerprint_of(1)
    assert story_fp is not None and story_fp.size == 2
    # Much later news: the old stories fall out of the window and the index.
    index.add(2, probe, T0 + timedelta(days=30))
    index.prune()
    assert index.fingerprint_of(1) is None
    assert len(index) == 1


def test_fingerprint_json_round_trip() -> None:
    clusterer = StoryClusterer()
    fp = clusterer.fingerprint(FERRY[0]["title"], FERRY[0]["text"])
    merged = fp.merged(clusterer.fingerprint(FERRY[1]["title"], FERRY[1]["text"]))
    for original in (fp, merged):
        text = original.to_json()
        assert len(text) < 4000
        again = Fingerprint.from_json(text)
        assert again.size == original.size
        assert again.terms.keys() == original.terms.keys()
        assert clusterer.similarity(again, original) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError):
        Fingerprint.from_json("{not json")


def test_similarity_is_higher_for_the_same_event() -> None:
    clusterer = StoryClusterer()
    fps = [clusterer.fingerprint(i["title"], i["text"]) for i in FERRY + QUAKES]
    for fp in fps:
        clusterer.observe(fp)
    same = clusterer.similarity(fps[0], fps[1])
    other = clusterer.similarity(fps[0], fps[3])
    assert 0.0 <= other < same <= 1.0


def test_cluster_items_on_an_empty_list() -> None:
    assert cluster_items([]) == []


def test_cluster_items_requires_a_title() -> None:
    with pytest.raises(ValueError, match="title"):
        cluster_items([{"id": 1, "text": "no headline"}])


def test_cli_adds_a_cluster_label_to_each_line() -> None:
    lines = [json.dumps(item) for item in _filler() + FERRY]
    out, err = io.StringIO(), io.StringIO()
    code = run_cluster_cli(io.StringIO("\n".join(lines) + "\n\n"), out, err)
    assert code == 0 and err.getvalue() == ""
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == [i["id"] for i in _filler() + FERRY]
    assert len({r["cluster"] for r in rows[-3:]}) == 1
    assert all(isinstance(r["cluster"], int) for r in rows)


def test_cli_rejects_a_malformed_line_with_one_line_error() -> None:
    good = json.dumps(FERRY[0])
    out, err = io.StringIO(), io.StringIO()
    code = run_cluster_cli(io.StringIO(good + "\n{oops\n"), out, err)
    assert code == 2
    message = err.getvalue()
    assert message.count("\n") == 1 and "line 2" in message
    assert "Traceback" not in message
    assert out.getvalue() == ""


def test_cli_rejects_a_line_without_title() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_cluster_cli(io.StringIO('{"id": "x", "text": "body only"}\n'), out, err)
    assert code == 2
    assert err.getvalue().count("\n") == 1 and "title" in err.getvalue()
    assert out.getvalue() == ""


def test_cli_rejects_a_bad_time() -> None:
    out, err = io.StringIO(), io.StringIO()
    line = json.dumps({"id": "x", "title": "Something", "published": "last tuesday"})
    assert run_cluster_cli(io.StringIO(line + "\n"), out, err) == 2
    assert err.getvalue().count("\n") == 1


def test_numbers_glued_to_units_and_hyphenated_names_meet_their_plain_forms() -> None:
    clusterer = StoryClusterer()
    glued = clusterer.fingerprint(
        "Orvane buys Telmark for $2.7bn", "Talks ran to a 9-hour session."
    )
    plain = clusterer.fingerprint("Telmark deal", "Orvane pays 2.7 billion; a 9 hour session.")
    assert "2.7" in glued.terms and "2.7" in plain.terms
    assert "27bn" not in glued.terms
    compound = clusterer.fingerprint("Valdoria-based insurer expands", "")
    assert "valdoria" in compound.terms


def test_the_bar_is_higher_for_short_texts() -> None:
    clusterer = StoryClusterer(threshold=0.35)
    assert clusterer.threshold_for(10, 200) > clusterer.threshold_for(60, 60)
    assert clusterer.threshold_for(60, 60) == pytest.approx(0.35)
    assert clusterer.threshold_for(400, 400) < 0.35
    assert 0.0 < clusterer.threshold_for(1e6, 1e6) <= clusterer.threshold_for(1, 1) <= 1.0


# Two invented earthquakes of the same kind, with full-text-like leads: they differ in
# place, magnitude, toll and day, and share the generic vocabulary of quakes.
TWIN_QUAKES = [
    {
        "title": "Magnitude 6.1 quake shakes Brennmark coast",
        "text": "A magnitude 6.1 earthquake struck off the Brennmark coast early on Sunday, "
        "killing at least 12 people in the fishing town of Holmvik and cutting power to "
        "40,000 homes, the Brennmark geological survey said. The quake was centred 30 km "
        "offshore at a depth of 10 km. Rescue teams searched collapsed houses in Holmvik.",
    },
    {
        "title": "Deadly 5.4 earthquake hits inland Castavia",
        "text": "An earthquake of magnitude 5.4 hit the inland Castavian province of Merida "
        "Alta on Wednesday, killing three people in the village of San Oriel and damaging "
        "a 17th-century church, Castavia's civil protection agency said. The quake was "
        "centred 8 km below the town of Lucena. Rescue teams searched collapsed houses.",
    },
    {
        "title": "Holmvik mourns as Brennmark quake toll reaches 12",
        "text": "Residents of Holmvik buried their dead on Monday after the magnitude 6.1 "
        "earthquake off the Brennmark coast. The geological survey said aftershocks "
        "continued and about 40,000 homes were still without power.",
    },
]

# One invented event — a court ruling on a city's scooter ban — with the headlines the
# left, centre and right of the press might give it.
SCOOTER_RULING = [
    {
        "title": "Victory for riders as court strikes down Ostrava Bay scooter ban",
        "text": "The Ostrava Bay appeals court on Friday struck down the city's ban on "
        "rental e-scooters, ruling that mayor Dalia Ferrante's council overstepped its "
        "powers. Operators Zipwheel and Kanto said they would return within weeks.",
    },
    {
        "title": "Appeals court overturns Ostrava Bay e-scooter ban",
        "text": "An appeals court in Ostrava Bay overturned the city's e-scooter ban on "
        "Friday, finding that the council under mayor Dalia Ferrante lacked the power "
        "to bar rental operators such as Zipwheel and Kanto from its streets.",
    },
    {
        "title": "Judges hand sidewalks back to scooter firms, Ferrante vows to fight on",
        "text": "Mayor Dalia Ferrante said she would take the fight to the supreme court "
        "after Ostrava Bay appeals judges threw out the council's ban on rental scooters "
        "on Friday, a ruling welcomed by Zipwheel and Kanto.",
    },
]


def test_two_quakes_of_different_magnitudes_and_places_stay_apart() -> None:
    labels = cluster_items(_filler() + FERRY + TWIN_QUAKES)
    brennmark, castavia, follow_up = labels[-3:]
    assert brennmark != castavia
    assert follow_up == brennmark


def test_one_event_with_differently_framed_headlines_joins() -> None:
    labels = cluster_items(_filler() + QUAKES + SCOOTER_RULING)
    assert len(set(labels[-3:])) == 1
    assert labels[-1] not in labels[:-3]


def test_assign_and_index_agree() -> None:
    clusterer = StoryClusterer()
    for item in _filler():
        clusterer.observe(clusterer.fingerprint(item["title"], item["text"]))
    first = SCOOTER_RULING[0]
    fp = clusterer.fingerprint(first["title"], first["text"])
    index = ClusterIndex(clusterer)
    index.add(3, fp, T0)
    story = StoryDoc(story_id=3, title=first["title"], text=first["text"], published=T0)
    second = SCOOTER_RULING[1]
    doc = StoryDoc(title=second["title"], text=second["text"], published=T0)
    probe = clusterer.fingerprint(second["title"], second["text"])
    assert index.match(probe, T0) == 3
    assert clusterer.assign(doc, [(story, fp)]) == 3


# One invented subject in two developments: the council's ban, then a lawsuit over it.
SCOOTER_BAN = {
    "title": "Ostrava Bay council votes to ban rental e-scooters",
    "text": "The Ostrava Bay city council voted 7-4 on Monday to ban rental e-scooters "
    "from the city's streets from June, after mayor Dalia Ferrante cited a rise in "
    "pavement accidents. Operators Zipwheel and Kanto have 60 days to remove their fleets.",
}
SCOOTER_SUIT = {
    "title": "Scooter firm Zipwheel sues Ostrava Bay",
    "text": "Zipwheel filed suit on Wednesday against the city of Ostrava Bay, arguing "
    "that the council exceeded its powers. The company said 300 jobs were at risk. A "
    "hearing is set for May.",
}


# A report on the ban's effect on one operator: the same story, from a new angle.
SCOOTER_BAN_AGAIN = {
    "title": "Zipwheel says Ostrava Bay exit will cost jobs",
    "text": "Scooter operator Zipwheel said on Tuesday that leaving Ostrava Bay would cost "
    "120 jobs.",
}


def test_a_lawsuit_over_the_ban_is_a_new_story_that_follows_it() -> None:
    # The suit is the ban's next development: whoever reports it, it is not an update
    # of the ban's post, but its own story linked to it.
    index = ClusterIndex(StoryClusterer())
    for n, item in enumerate(_filler()):
        index.add(100 + n, index.clusterer.fingerprint(item["title"], item["text"]), T0)
    ban = index.clusterer.fingerprint(SCOOTER_BAN["title"], SCOOTER_BAN["text"])
    index.add(7, ban, T0, ("daily.example",))
    suit = index.clusterer.fingerprint(SCOOTER_SUIT["title"], SCOOTER_SUIT["text"])
    placed = index.place(suit, T0 + timedelta(days=2), "herald.example")
    assert placed.story_id is None
    assert placed.follows == 7


def test_a_second_article_from_the_same_outlet_needs_more_to_join() -> None:
    same = cluster_items(
        [*_filler(), dict(SCOOTER_BAN, source="Daily"), dict(SCOOTER_SUIT, source="Daily")]
    )
    assert same[-1] != same[-2]
    # A near-copy from the same outlet (a corrected headline) still joins.
    fixed = dict(SCOOTER_BAN, title="Ostrava Bay council bans rental e-scooters", source="Daily")
    again = cluster_items([*_filler(), dict(SCOOTER_BAN, source="Daily"), fixed])
    assert again[-1] == again[-2]


def test_the_index_remembers_each_storys_sources() -> None:
    clusterer = StoryClusterer()
    index = ClusterIndex(clusterer)
    for n, item in enumerate(_filler()):
        index.add(100 + n, clusterer.fingerprint(item["title"], item["text"]), T0)
    index.add(1, clusterer.fingerprint(SCOOTER_BAN["title"], SCOOTER_BAN["text"]), T0, ["Daily"])
    probe = clusterer.fingerprint(SCOOTER_BAN_AGAIN["title"], SCOOTER_BAN_AGAIN["text"])
    assert index.match(probe, T0, "Herald") == 1
    assert index.match(probe, T0, "Daily") is None
    assert index.match(probe, T0) == 1  # no source known: no penalty


def test_an_entry_that_fits_two_stories_equally_needs_more_to_join() -> None:
    # The ratio test: a clear single match joins at a similarity that is not enough
    # when a second, equally close story competes for the entry. The bar is set a
    # little above the pair's similarity, so only the ratio bonus can carry it.
    angle = {
        "title": "What Ostrava Bay's scooter ban means for commuters",
        "text": "Commuters who rode rental scooters to work will need another way to get "
        "around the city.",
    }
    probe = StoryClusterer()
    ban = probe.fingerprint(SCOOTER_BAN["title"], SCOOTER_BAN["text"])
    fp = probe.fingerprint(angle["title"], angle["text"])
    similarity = probe.similarity(fp, ban)
    size = min(probe.norm_and_size(fp)[1], probe.norm_and_size(ban)[1])
    offset = probe.threshold_for(size, size) - probe.threshold
    first = StoryDoc(story_id=1, title=SCOOTER_BAN["title"], text=SCOOTER_BAN["text"])
    twin = StoryDoc(story_id=2, title=SCOOTER_BAN["title"], text=SCOOTER_BAN["text"])
    doc = StoryDoc(title=angle["title"], text=angle["text"])
    # A fresh clusterer for each question: ``assign`` counts the entry into the IDF.
    bar = 1.1 * similarity - offset
    assert StoryClusterer(threshold=bar).assign(doc, [(first, ban), (twin, ban)]) is None
    assert StoryClusterer(threshold=bar).assign(doc, [(first, ban)]) == 1


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.Example.com/news/1", "example.com"),
        ("https://m.example.co.uk/a", "example.co.uk"),
        ("https://news.example.org/a", "news.example.org"),
        ("https://www.com/a", "www.com"),
        (None, "feed:3"),
        ("not a url", "feed:3"),
        ("http://[::1", "feed:3"),
        ("http://127.0.0.1:8080/articles/a.html", "feed:3"),
    ],
)
def test_the_source_of_an_entry_is_its_links_outlet(link: str | None, expected: str) -> None:
    assert source_of(link, "feed:3") == expected


def test_a_cold_start_already_knows_generic_words_from_names() -> None:
    # Nothing observed yet: the shipped word frequencies tell "earthquake" (in many
    # reports) from a rare name, and both from "the".
    clusterer = StoryClusterer()
    assert clusterer.documents == 0
    assert clusterer.idf("the") < 1.0 < clusterer.idf("earthquak") < clusterer.idf("teixeira")


# A full wire report, another outlet's bare headline of the same order (what an
# aggregator or a paywall leaves), and a bare headline of the airline's next trouble.
ORDER_REPORT = {
    "title": "Marlow Air orders 24 Kestrel turboprops in $610 million deal",
    "text": (
        "Regional carrier Marlow Air on Tuesday ordered 24 Kestrel K-72 turboprops from "
        "Aldane Aerospace in a deal worth about $610 million at list prices, the largest "
        "order in the airline's 31-year history. The aircraft will replace Marlow's ageing "
        "fleet of 19 Dash-8 planes on routes out of its Brennport hub, with the first "
        "deliveries due in the spring of 2028. Chief executive Tamsin Royle said the "
        "Kestrel burns about a fifth less fuel per seat than the planes it replaces and "
        "would let the airline add four routes to the northern islands. Aldane, which "
        "builds the K-72 at its plant in Corrby, said the order lifts its backlog to 212 "
        "aircraft. Marlow holds options on a further 12 planes. Shares in Marlow's parent, "
        "Holm Transport Group, rose 3.2% in Brennport trading."
    ),
    "published": "2031-03-14T09:40:00+00:00",
    "source": "harborwire.example",
}
ORDER_HEADLINE = {
    "title": "Aldane Aerospace books record Marlow Air order",
    "published": "2031-03-14T11:05:00+00:00",
    "source": "skyledger.example",
}
STRIKE_HEADLINE = {
    "title": "Marlow Air pilots vote to strike over Brennport rosters",
    "published": "2031-03-14T12:30:00+00:00",
    "source": "northgate.example",
}


def test_a_bare_headline_joins_the_full_report_in_either_arrival_order() -> None:
    # Most of the report's words are details a headline has no room for; what counts
    # is that the report carries the headline's words.
    assert cluster_items([ORDER_REPORT, ORDER_HEADLINE]) == [0, 0]
    assert cluster_items([ORDER_HEADLINE, ORDER_REPORT]) == [0, 0]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_headline_about_the_same_airlines_next_trouble_stays_apart(
    order: tuple[int, ...],
) -> None:
    items = [ORDER_REPORT, ORDER_HEADLINE, STRIKE_HEADLINE]
    labels = cluster_items([items[i] for i in order])
    report, headline, strike = (labels[order.index(i)] for i in range(3))
    assert report == headline != strike


def test_a_report_finds_its_story_among_hundreds_about_the_same_place() -> None:
    # A busy window: 150 earlier stories all name Valdoria and its port, so those words
    # are skipped as candidates' postings; the ferry's own names still find its story.
    index = ClusterIndex(StoryClusterer(), prune=False)
    districts = ["Altamar", "Brezo", "Corvina", "Duna", "Escollo", "Faro"]
    for n in range(150):
        district = districts[n % len(districts)]
        title = f"Valdoria port authority approves {district} berth repairs, contract {n + 1}"
        text = (
            f"The port authority of Valdoria approved contract {n + 1} for repairs to the "
            f"{district} berths, the harbour office said, with work due to start next month."
        )
        index.add(1000 + n, index.clusterer.fingerprint(title, text), T0 - timedelta(hours=1))
    index.add(1, index.clusterer.fingerprint(FERRY[0]["title"], FERRY[0]["text"]), T0)
    probe = index.clusterer.fingerprint(FERRY[1]["title"], FERRY[1]["text"])
    assert index.match(probe, T0 + timedelta(hours=1), "coast.example") == 1
