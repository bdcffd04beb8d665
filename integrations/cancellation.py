"""What every long-running loop of the gateway (the event bus's reader, the notification
dispatcher, the reconciler) needs to stop when it is told to.

A loop that logs and carries on after an `Exception` can swallow its own cancellation when a
library turns the CancelledError into an ordinary error on the way out (a read timeout, a lost
connection). The request to stop is still counted on the task; `stop_if_cancelled` honours it.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise CancelledError when the running task has been asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
