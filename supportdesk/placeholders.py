"""Secrets that are not secret: example values a production desk must refuse to start with.

`.env.example` copied unedited would otherwise run production with `SECRET_KEY=change-me`
(anyone can forge sessions and signed links) and `POSTGRES_PASSWORD=change-me-too`. With DEBUG=0
the settings call `placeholder_secrets_refuse` and stop with a message naming each setting.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

# Compared lower-cased, with '-', '_', ' ' and '.' removed: "Change_Me" is "changeme".
KNOWN_PLACEHOLDERS = {
    # what .env.example ships
    "changeme",
    "changemetoo",
    # the development Twilio token `simulate_sms` signs with (it is in this repository)
    "supportdeskdevtoken",
    # what examples and tutorials ship
    "changethis",
    "changeit",
    "replaceme",
    "secret",
    "secretkey",
    "mysecret",
    "mysecretkey",
    "yoursecret",
    "yoursecretkey",
    "yoursecretkeyhere",
    "supersecret",
    "password",
    "passw0rd",
    "mypassword",
    "yourpassword",
    "postgres",
    "supportdesk",
    "admin",
    "default",
    "dummy",
    "example",
    "insecure",
    "notasecret",
    "test",
    "todo",
    "fixme",
}
MIN_DISTINCT_CHARACTERS = 5  # "xxxxxxxx", "aaaa1111": Django's own check calls these insecure


def _folded(value: str) -> str:
    return "".join(c for c in value.strip().lower() if c not in "-_ .")


def is_placeholder(value: str) -> bool:
    """True for a value that stands for a secret instead of being one."""
    folded = _folded(value)
    if not folded:
        return False  # unset: each setting decides what empty means
    return (
        folded in KNOWN_PLACEHOLDERS
        or "changeme" in folded
        or folded.startswith("djangoinsecure")  # startproject's development key
        or (value.strip().startswith("<") and value.strip().endswith(">"))  # "<your secret>"
        or len(set(folded)) < MIN_DISTINCT_CHARACTERS
    )


def placeholder_secrets_refuse(secrets: Mapping[str, str]) -> None:
    """Raise ImproperlyConfigured naming every setting whose value is a placeholder."""
    bad = [name for name, value in secrets.items() if value and is_placeholder(value)]
    if bad:
        raise ImproperlyConfigured(
            f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} still an example value (such as the "
            "'change-me' of .env.example); DEBUG=0 refuses to start with a placeholder secret. Set a "
            'real one, e.g. python3 -c "import secrets; print(secrets.token_urlsafe(50))".'
        )
