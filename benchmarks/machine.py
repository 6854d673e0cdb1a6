"""What every benchmark prints about the machine it ran on (imported by the scripts beside it)."""

import platform


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() where that is missing)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """One-minute load average: above the core count, other jobs share the cores."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]
