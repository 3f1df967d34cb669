"""Telegram bots as a channel (docs/telegram.md): updates in by webhook or long polling, replies
out through the Bot API. Registers with the bus in `TelegramConfig.ready()`."""
