"""Random identifiers that must not be guessable (inbox keys, reply tokens, visitor tokens)."""

import secrets


def new_key(nbytes: int = 18) -> str:
    return secrets.token_urlsafe(nbytes)
