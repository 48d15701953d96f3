"""Peak memory of the current process, for the bounded-memory tests (run in fresh child processes)."""
import resource


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM belongs to the process's own address space, so it starts afresh at exec; getrusage's
    ru_maxrss does not: a child inherits the parent's peak, and a child of a big pytest process would
    report the parent's memory instead of its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux and most Unixes
