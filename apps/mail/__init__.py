"""The email channel's rules: which inbox and conversation a mail belongs to, spoofing, loops,
bounces, auto-acknowledgements, and the headers of what we send. Mail I/O lives in
apps.gateways.email."""
