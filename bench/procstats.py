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


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (the work pool's forkserver and workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_pss_mb(root: int | None = None) -> float:
    """Memory of a process and all below it, in MB: the sum of their proportional set
    sizes (a page shared by the forkserver and its workers counted once in all, where
    adding up their RSS would count it in each)."""
    total = 0
    for pid in _descendants(root or os.getpid()):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
    return total / 1024
