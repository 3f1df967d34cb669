"""Text features of the learned triage model: hashed word unigrams and bigrams and character
3- to 5-grams of each word, L2-normalised. Hashing (CRC-32, stable across processes, unlike
Python's `hash`) needs no vocabulary, so a model is one weight vector and the features of a new
message cost a few hundred CRC computations: well under a millisecond for a typical message."""

from __future__ import annotations

import re
import zlib

import numpy as np

DIMENSIONS = 1 << 18
TEXT_CHARS = 1000  # what is scored of a long message: its start says what it is about
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[!?]+|https?://|@\w+", re.UNICODE)
_URL = re.compile(r"https?://\S+")
_DIGITS = re.compile(r"\d")


def words(text: str) -> list[str]:
    """The words of a message, lower-cased, digits folded to 0 and links to one token."""
    text = _URL.sub(" http:// ", text[:TEXT_CHARS].casefold())
    return _WORD.findall(_DIGITS.sub("0", text))


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode()) & (DIMENSIONS - 1)


def featurize(text: str, extra: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(indexes, values) of a message's features; `extra` adds named signals (the channel, the
    language, whether it is empty) the model may weigh."""
    tokens = words(text)
    keys: set[str] = {f"#{e}" for e in extra}
    keys.add(f"#len{min(len(tokens), 40) // 5}")
    previous = "^"
    for token in tokens:
        keys.add("w" + token)
        keys.add("b" + previous + " " + token)
        previous = token
        padded = f"<{token}>"
        if len(padded) > 4:
            for n in (3, 4, 5):
                for i in range(len(padded) - n + 1):
                    keys.add("c" + padded[i : i + n])
    keys.add("b" + previous + " $")
    index = np.fromiter((_bucket(k) for k in keys), dtype=np.int64, count=len(keys))
    index = np.unique(index)
    value = np.full(len(index), 1.0 / np.sqrt(len(index)), dtype=np.float32)
    return index, value


def word_bucket(token: str) -> int:
    """The bucket of a word feature (to explain a verdict by its words)."""
    return _bucket("w" + token)
