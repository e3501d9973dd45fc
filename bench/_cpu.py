"""CPU time from /proc: processes' own, a PostgreSQL server's (its postmaster and every
child, reaped ones included), and the whole machine's busy cores.

Linux only (/proc/PID/stat and /proc/stat, see proc(5)); the benchmarks run on Linux.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first, ppid second, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ticks(fields: list[str], *, children: bool = False) -> int:
    # utime, stime (and the reaped children's cutime, cstime): fields 14-17 of proc(5)
    return sum(int(f) for f in fields[11 : 15 if children else 13])


def seconds(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) the live processes ``pids`` have used so far."""
    return sum(_ticks(_stat(pid)) for pid in pids) / TICK


def server_seconds(data_dir: Path) -> float:
    """CPU seconds of the PostgreSQL server of ``data_dir`` so far: the postmaster, its live
    children (a backend per connection, the WAL writer, ...) and the children it reaped."""
    master = (data_dir / "postmaster.pid").read_text().split()[0]
    ticks = _ticks(_stat(master), children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):  # a process that just ended
                fields = _stat(entry.name)
                if fields[1] == master:
                    ticks += _ticks(fields)
    return ticks / TICK


@dataclass(frozen=True, slots=True)
class Busy:
    """The whole machine's busy and total CPU time (/proc/stat, every user's), in ticks."""

    busy: int
    total: int

    @classmethod
    def now(cls) -> Busy:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        idle = values[3] + values[4]  # idle, iowait
        return cls(sum(values) - idle, sum(values))

    def __sub__(self, other: Busy) -> Busy:
        return Busy(self.busy - other.busy, self.total - other.total)

    @property
    def cores(self) -> float:
        """Cores busy on average over the interval (of ``os.cpu_count()``)."""
        return self.busy / self.total * (os.cpu_count() or 1) if self.total else float("nan")
