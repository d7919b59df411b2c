"""What grows with the news is sized by the memory budget (SIGNALDESK_MEMORY_BUDGET),
not by how many stories the clustering window holds."""

from __future__ import annotations

from datetime import timedelta

from bot.cluster import StoryClusterer
from bot.engine import Engine
from bot.fetch import Fetcher
from bot.models import Article, FeedEntry
from bot.place import STORY_BYTES, StoryPlacer
from bot.settings import load_settings
from storage import SqliteStore
from storage.database import StoreRunner
from tests.support.clock import FakeClock
from tests.support.news import START

EVENTS = [
    ("Rotterdam dock workers walk out over pay",
     "Union officials said the walkout at the Maasvlakte container terminal would continue "
     "until the operator returned with an offer that kept pace with inflation."),
    ("Lagos council approves 400-metre quay extension",
     "The council voted 31 to 12 for the quay, which planners say will double cruise calls "
     "at Apapa by 2029."),
    ("Floods close the M4 near Cardiff, 12,000 homes without power",
     "Western Power said crews were working through the night to restore supply to villages "
     "along the Taff valley."),
    ("Manila nurses begin 48-hour strike at Philippine General Hospital",
     "Picket lines went up at dawn and planned operations were postponed, the hospital said."),
    ("Central bank of Chile holds its rate at 5.25 percent",
     "Governor Rosanna Costa said inflation in Valparaiso and Santiago had eased to 4.1 "
     "percent but that cuts would wait until next year."),
    ("Gdansk shipyard wins 310 million euro ferry order",
     "The Stena Line order for two hybrid ferries secures 1,400 jobs until 2028, the yard's "
     "chief executive said."),
    ("Mombasa police arrest three after warehouse fire",
     "The blaze at the Shimanzi depot destroyed 600 tonnes of imported sugar, fire officers "
     "said."),
    ("Halifax ferry crossings suspended as storm Ophelia nears",
     "Bay Ferries cancelled Tuesday's sailings to Saint John and said passengers would be "
     "refunded."),
    ("Busan court blocks sale of Korea Line pending review",
     "Judge Park Min-ho said the creditors' objections to the 2.1 trillion won bid had to be "
     "heard first."),
    ("Antwerp teachers accept revised contract offer",
     "The COV union said 71 percent of members voted for the deal, which adds 3.5 percent to "
     "salaries over two years."),
    ("Karachi fuel prices climb for a third week",
     "Petrol rose to 289 rupees a litre as the Byco refinery stayed offline for repairs."),
    ("Aarhus names Mette Lund as transport chief",
     "Lund, who ran Copenhagen's metro extension, takes over the light-rail programme on 1 "
     "March."),
]  # fmt: skip


async def test_the_cluster_index_keeps_the_latest_stories_within_its_budget() -> None:
    store = SqliteStore.open(":memory:")
    runner = StoreRunner(store)
    clock = FakeClock(START)
    placer = StoryPlacer(store, runner, clock, StoryClusterer(), window_hours=72, max_stories=5)
    feed, _ = store.add_feed("https://wire.example/rss", name=None, now=START)
    placed = []
    for n, (headline, text) in enumerate(EVENTS):  # 12 distinct events, an hour apart
        entry = FeedEntry(
            guid=f"wire-{n}",
            link=f"https://wire.example/{n}",
            title=headline,
            published=START + timedelta(hours=n),
        )
        [stored] = store.add_entries(feed.id, [entry], START, brief=None)
        story, known = await placer.place(stored, Article(title=entry.title, text=text))
        assert not known
        placed.append(story.id)
    index = await placer.index()
    assert len(set(placed)) == len(EVENTS)  # every event its own story
    assert len(index) <= 5
    # The stories with the latest news are the ones kept.
    kept = {sid for sid in placed if index.fingerprint_of(sid) is not None}
    assert kept == set(placed[-len(kept) :])
    runner.close()
    store.close()


async def test_the_memory_budget_setting_sizes_the_index_and_the_parse_room() -> None:
    sizes = {}
    for mb in (64, 256):
        settings = load_settings(database=":memory:", memory_budget=mb)
        store = SqliteStore.open(":memory:")
        engine = Engine(
            settings, store, fetcher=Fetcher(settings), publishers={}, runner=StoreRunner(store)
        )
        sizes[mb] = (engine.briefer.placer.max_stories, engine.ingest._parse_gate.budget)
        await engine.aclose()
        store.close()
    (stories, room), (more_stories, more_room) = sizes[64], sizes[256]
    assert stories is not None and more_stories // 4 == stories
    assert more_room // 4 == room
    # Half of the budget for the index, at what a story costs there.
    assert stories * STORY_BYTES <= 32_000_000 < (stories + 1) * STORY_BYTES
