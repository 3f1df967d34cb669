"""A small language guess for triage rules ("only German messages"): the language whose most
common words the message uses most. Good enough for routing support messages in the languages
the desk lists; it answers "" when it cannot tell (too short, or no common words)."""

from __future__ import annotations

from apps.triage.features import words

_COMMON = {
    "en": "the and is to i you it my of a in for not this have with on me your was can be do are "
    "please thanks what how why when order help there that",
    "de": "der die das und ist ich nicht sie es mit ein eine zu den auf für mein meine haben wir "
    "bitte danke ihr ihre noch kann wie was wann warum bei von",
    "fr": "le la les et est je ne pas vous il de un une pour mon ma mes avec sur que qui dans "
    "merci bonjour votre vos ai c'est suis commande pourquoi comment",
    "es": "el la los las y es yo no usted de un una para mi mis con que en por gracias hola su "
    "sus pedido tengo está estoy cómo por qué cuando",
    "it": "il lo la gli le e è io non di un una per mio mia con che in grazie ciao suo ordine ho sono",
    "pt": "o a os as e é eu não de um uma para meu minha com que em obrigado obrigada olá pedido tenho",
    "nl": "de het een en is ik niet je u van voor mijn met op dat die bedankt hallo bestelling heb",
}
LANGUAGES = tuple(_COMMON)
_WORDS = {lang: frozenset(text.split()) for lang, text in _COMMON.items()}


def language_guess(text: str) -> str:
    tokens = words(text)[:80]
    if len(tokens) < 2:
        return ""
    scores = {lang: sum(1 for t in tokens if t in common) for lang, common in _WORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    if scores[best] == 0:
        return ""
    ranked = sorted(scores.values(), reverse=True)
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return ""
    return best
