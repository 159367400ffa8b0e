"""Peak resident memory of the *current* process, read by the process itself.

Linux keeps a parent's peak across fork + exec in ``ru_maxrss`` (``getrusage`` takes the larger of the
process's own high-water mark and the one inherited at exec; Python's ``subprocess`` forks with ``vfork``,
so the child starts out with the parent's whole peak). A parent holding 600 MB that starts a child doing
nothing reads about 600 MB for the child. ``VmHWM`` in ``/proc/self/status`` is the high-water mark of this
process's own address space since exec, which is what a memory table means; ``/usr/bin/time -v`` reports
the same figure. Every bench child prints this at its end.
"""

from __future__ import annotations

from pathlib import Path


def status_kib(key: str) -> int:
    """One ``kB`` field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def peak_mib() -> float:
    """Peak resident set of this process since it started (``VmHWM``), MiB."""
    return status_kib("VmHWM") / 1024


def rss_mib() -> float:
    """Current resident set of this process (``VmRSS``), MiB."""
    return status_kib("VmRSS") / 1024
