"""The peer row of ``bench/poll.py``: the ``reader`` library on the same server and feeds.

``reader`` (SQLite storage, a pool of worker threads over ``requests``, feedparser) is run
in its own process, as a desk would run it: its feeds are added and updated once (first
contact: not measured), then updated again with the same deadlines as ours (5 s to
connect, 8 s for a byte), which is the steady state measured: checks/s, CPU per check
and checks per CPU-second, peak RSS. A process of its own so that its memory and CPU are
its own; it stops after ``--seconds`` however far it got.

Run by ``bench/poll.py`` (``--peer``); not on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from feedserver import FeedServer  # noqa: E402
from fleet import Mix  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--port", type=int, default=18_765)
    parser.add_argument("--mix", default="", help="a fleet.Mix as JSON ('' for the kind preset)")
    args = parser.parse_args()
    try:
        from reader import make_reader
    except ImportError:
        print(json.dumps({"error": "reader is not installed (pip install -e '.[bench]')"}))
        return 0
    mix = Mix.loads(args.mix) if args.mix else None
    server = FeedServer(hosts=args.hosts, port=args.port, mix=mix)
    with tempfile.TemporaryDirectory() as tmp:
        reader = make_reader(str(Path(tmp) / "reader.db"), session_timeout=(5.0, 8.0))
        for i in range(args.feeds):
            reader.add_feed(server.url(i))
        t_first = time.monotonic()
        first = sum(1 for _ in reader.update_feeds_iter(workers=args.workers))
        first_seconds = time.monotonic() - t_first
        checks = 0
        cpu0, t0 = time.process_time(), time.monotonic()
        for _ in reader.update_feeds_iter(workers=args.workers, scheduled=False):
            checks += 1
            if time.monotonic() - t0 > args.seconds:
                break
        elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
        result = {
            "first_contact": first,
            "first_contact_seconds": first_seconds,
            "checks": checks,
            "checks_per_s": checks / elapsed,
            "cpu_ms_per_check": 1000 * cpu / max(checks, 1),
            "checks_per_cpu_s": checks / max(cpu, 1e-9),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        print(json.dumps(result), flush=True)
    # Worker threads may still wait on a hanging feed's deadline: do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
