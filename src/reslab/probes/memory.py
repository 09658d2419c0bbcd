"""Peak memory of one run: reset the high-water mark, run, read it back.

On CUDA, torch's allocator statistics (tensors only). On a CPU, the process's peak resident set
size: Linux lets a process reset it (``/proc/self/clear_refs``); elsewhere ``ru_maxrss`` never
goes down, so a run needs a process of its own (``Experiment.fresh_process``) for its peak to
be its own.
"""

from __future__ import annotations

import resource
import sys

import torch


def memory_start(device: torch.device) -> float:
    """Reset the peak-memory mark and return the memory in use now (MB)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        # Linux: writing 5 resets the process's RSS high-water mark (proc(5), clear_refs), so a
        # run in a reused process still gets its own peak (on top of what is already resident).
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _proc_status_mb("VmRSS") or _max_rss_mb()


def memory_peak(device: torch.device) -> float:
    """The peak (MB) since ``memory_start``: allocated tensors on CUDA, resident set on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _proc_status_mb("VmHWM") or _max_rss_mb()


def memory_kind(device: torch.device, fresh_process: bool) -> str:
    """What ``memory_peak`` measures on ``device``, in words (recorded beside the numbers)."""
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated (tensors on the GPU)"
    where = "a fresh process per run" if fresh_process else "a shared process, peak reset per run"
    return f"peak resident set size of the process (CPU; {where})"


def _proc_status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _max_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else kB
