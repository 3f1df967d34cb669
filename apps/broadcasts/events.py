"""The event types broadcasts append to the event log (defined once)."""

# To the agent who sent it (Event.agent_id): counts while it sends, for the live progress.
BROADCAST_PROGRESS = "broadcast.progress"
# To every agent, and a public webhook event: the broadcast handed its last recipient on.
BROADCAST_FINISHED = "broadcast.finished"
