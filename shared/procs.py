"""Child-process helpers shared by everything that starts processes (embedded NATS, the
scenario runner, the demo)."""

from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """``preexec_fn``: the child gets SIGTERM when its parent dies (Linux), so nothing is
    left running after a killed test run or demo."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
