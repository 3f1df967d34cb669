"""The bus's services, for the apps above it: the inbound journal, the outbox and its status
receipts, and the sweep. The event log is `apps.bus.events`; the bus worker `apps.bus.worker`."""

from apps.bus.services.journal import inbound_accept, inbound_drain, inbound_process
from apps.bus.services.outbox import outbox_deliver, outbox_enqueue
from apps.bus.services.receipts import status_receipt_record, status_receipts_apply, status_receipts_drain
from apps.bus.services.sweeper import bus_sweep, events_prune

__all__ = [
    "bus_sweep",
    "events_prune",
    "inbound_accept",
    "inbound_drain",
    "inbound_process",
    "outbox_deliver",
    "outbox_enqueue",
    "status_receipt_record",
    "status_receipts_apply",
    "status_receipts_drain",
]
