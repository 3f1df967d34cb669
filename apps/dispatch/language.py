"""A message's language: the channel's hint when it gives one, else a small stop-word vote.

Good enough to route ("French speakers to the agents with lang:fr"), cheap enough for every new
conversation in a bus batch (no model, no query). Short or mixed texts give "" (unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are was you your my i it to of in for on with not have has this that what can please "
        "hello hi thanks why how when do does don't".split()
    ),
    "fr": frozenset(
        "le la les et est sont je tu vous mon ma mes pas une un des du pour avec ne que qui bonjour merci "
        "ça ce cette mais sur dans votre notre".split()
    ),
    "de": frozenset(
        "der die das und ist sind ich du sie mein meine nicht ein eine mit für auf zu hallo danke bitte "
        "warum wie kann ihr unser aber".split()
    ),
    "es": frozenset(
        "el la los las y es son yo tu usted mi mis no una un con para por que hola gracias por favor "
        "pero como cuando está este esta".split()
    ),
    "it": frozenset(
        "il lo la gli le e è sono io tu mio mia non una un con per che ciao grazie perché come quando "
        "questo questa ma".split()
    ),
    "pt": frozenset(
        "o a os as e é são eu você meu minha não uma um com para que olá obrigado obrigada porque como "
        "quando este esta mas".split()
    ),
    "nl": frozenset(
        "de het een en is zijn ik jij u mijn niet met voor op dat wat hallo dank bedankt waarom hoe kan maar".split()
    ),
}

HINT_KEYS = ("language", "language_code", "lang", "locale")


def language_hint(meta: Mapping[str, Any]) -> str:
    """A language the channel told us (Telegram's language_code, the widget's browser)."""
    for key in HINT_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower().replace("_", "-").split("-")[0][:8]
    return ""


def language_detect(text: str, meta: Mapping[str, Any] | None = None) -> str:
    """The ISO 639-1 code of the text's language, or "" when unsure."""
    hint = language_hint(meta or {})
    if hint:
        return hint
    words = [w.lower() for w in _WORD.findall(text[:2000])]
    if len(words) < 3:
        return ""
    scores = {lang: sum(1 for w in words if w in stops) for lang, stops in STOP_WORDS.items()}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    best, score = ranked[0]
    runner_up = ranked[1][1]
    if score < 2 or score <= runner_up:
        return ""
    return best
