"""What /proc says about the processes bench/mesh.sh measures: CPU time and resident memory.

Helper module of bench/mesh/*.py (standard library only). A "process" here is a pid and
all its descendants (nginx: master + worker), because that is what one sidecar is.
"""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_pids(pid: int) -> list[int]:
    """`pid` and all its descendants (via /proc/PID/task/TID/children)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tasks:
            try:
                todo.extend(int(c) for c in (t / "children").read_text().split())
            except (OSError, ValueError):
                pass
    return out


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime (clock ticks) summed over the trees of `pids` (all threads included)."""
    total = 0
    for root in pids:
        for p in tree_pids(root):
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
            total += int(fields[11]) + int(fields[12])
    return total


def status_kb(pids: list[int], field: str = "VmRSS") -> int:
    """A /proc/PID/status field in kB (VmRSS, VmHWM), summed over the trees of `pids`."""
    total = 0
    for root in pids:
        for p in tree_pids(root):
            try:
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
                        break
            except (OSError, ValueError, IndexError):
                pass
    return total


def parse_groups(specs: list[str] | None) -> dict[str, list[int]]:
    """`["a=12,13", "b=14"]` -> `{"a": [12, 13], "b": [14]}`."""
    groups: dict[str, list[int]] = {}
    for spec in specs or []:
        name, _, pids = spec.partition("=")
        groups[name] = [int(p) for p in pids.split(",") if p.strip()]
    return groups


def machine_ticks() -> int:
    """Busy ticks of the whole machine (all CPUs) from /proc/stat: user nice system irq
    softirq steal."""
    for line in Path("/proc/stat").read_text().splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            return int(f[1]) + int(f[2]) + int(f[3]) + int(f[6]) + int(f[7]) + int(f[8])
    return 0


def self_ticks() -> int:
    """utime+stime of this process (all threads), in clock ticks."""
    t = os.times()
    return int(round((t.user + t.system) * CLK_TCK))
