"""Who owns a row that a process claimed (a running run, the evolution lease): `host:pid[:tag]`.

On the same host a process can be asked whether it still exists, so a crash is noticed at once;
across hosts it cannot, and callers fall back to a time limit.
"""

from __future__ import annotations

import os
import socket


def this_process() -> str:
    """`host:pid` of the current process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: checks the process exists, sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def local_owner_alive(owner: str) -> bool | None:
    """Whether the process named by `host:pid[:tag]` still runs; None if it is on another host
    (or the name has no pid), where nobody here can tell."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return int(pid) == os.getpid() or pid_alive(int(pid))
