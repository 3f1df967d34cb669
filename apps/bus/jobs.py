"""The job loop: queued work of the apps above the bus (registry.register_job) — outgoing
webhook deliveries, a broadcast's recipients — run off the request path.

`run_bus` runs it on a thread of its own; the embedded server (`serve` with TASKS_EAGER) does
too. Each round runs every registered job once; a job that says more is due runs again at once,
otherwise the loop waits for a doorbell (JOBS, or EVENTS: new events may mean new webhook
deliveries) or its timer. Jobs claim their own rows, so any number of loops can run.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from apps.bus import doorbell, registry

log = logging.getLogger(__name__)


def jobs_run_once() -> bool:
    """One round of every job; True when one of them has more due now."""
    more = False
    for job in registry.jobs():
        try:
            more = bool(job.run()) or more
        except Exception:  # noqa: BLE001 - one app's job never stops the others
            log.exception("job %s failed", job.name)
            close_old_connections()
    return more


# Events ring often under load; the jobs look at most this often for them (a JOBS ring, or a
# job that has more due, goes at once), so a busy desk's bus worker spends little on them
# (at 0.2 s the bench measured 6% of a core on these looks beside 100 msg/s).
EVENTS_MIN_INTERVAL = 1.0


def jobs_loop(stop: threading.Event) -> None:
    listener = doorbell.Listener([doorbell.JOBS, doorbell.EVENTS], stop=stop).listen()
    poll = settings.BUS_POLL_SECONDS
    try:
        while not stop.is_set():
            started = time.monotonic()
            if jobs_run_once():
                continue
            rings = listener.wait(poll)
            if rings and all(channel == doorbell.EVENTS for channel, _ in rings):
                stop.wait(max(0.0, EVENTS_MIN_INTERVAL - (time.monotonic() - started)))
    finally:
        listener.stop()
        connection.close()


def start_jobs_thread(stop: threading.Event | None = None) -> threading.Thread:
    thread = threading.Thread(target=jobs_loop, args=(stop or threading.Event(),), name="bus-jobs", daemon=True)
    thread.start()
    return thread
