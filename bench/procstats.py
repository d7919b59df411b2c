"""Memory and CPU of this process and of live child processes, for the benches (Linux)."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker_usage(pids: list[int]) -> tuple[float, float]:
    """CPU seconds and peak RSS (MB, summed) of the work pool's processes (Linux /proc):
    they are alive, so RUSAGE_CHILDREN does not count them yet."""
    cpu = rss = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    rss += int(line.split()[1]) / 1024
    return cpu, rss
