"""Email in and out: MIME parsing, the SMTP listener, IMAP polling, the raw-MIME webhook and
SMTP sending. I/O and translation only; threading and loop rules live in apps.mail."""
