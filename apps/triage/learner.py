"""The learned half of triage: a logistic regression over hashed text features (features.py),
trained with numpy on the desk's own labels. No external service, no pre-trained weights.

A model is its weight vector, its bias and its decision threshold: a message is actionable when
the model's probability that it is reaches the threshold. The threshold is chosen on a
calibration part of the training labels so that recall (actionable messages kept actionable)
stays high: a missed customer costs more than an agent's click on a stray "thanks!".
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apps.triage.features import DIMENSIONS, featurize, word_bucket, words

HELD_OUT_SHARE = 5  # one key in five is held out: never trained on, only measured
TARGET_RECALL = 0.97  # on the calibration labels; held-out recall then lands near 0.95+
ACTIONABLE_WEIGHT = 2.0  # a missed actionable message weighs twice a missed noise one
L2 = 1e-4
STEPS = 250
LEARNING_RATE = 0.2


@dataclass(frozen=True)
class Sample:
    key: str  # what the held-out split hashes (a label id; a corpus template group)
    text: str
    actionable: bool
    extra: tuple[str, ...] = ()


def is_held_out(key: str) -> bool:
    return zlib.crc32(key.encode()) % HELD_OUT_SHARE == 0


@dataclass(frozen=True)
class Metrics:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f2(self) -> float:
        """Recall weighs four times precision: the figure a candidate must beat to roll out."""
        p, r = self.precision, self.recall
        return 5 * p * r / (4 * p + r) if p + r else 0.0

    @property
    def count(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


class Linear:
    def __init__(self, weights: np.ndarray, bias: float, threshold: float) -> None:
        self.weights = weights.astype(np.float32, copy=False)
        self.bias = float(bias)
        self.threshold = float(threshold)

    def probability(self, text: str, extra: tuple[str, ...] = ()) -> float:
        index, value = featurize(text, extra)
        z = float(np.dot(self.weights[index], value)) + self.bias
        return float(1.0 / (1.0 + np.exp(-max(min(z, 30.0), -30.0))))

    def actionable(self, text: str, extra: tuple[str, ...] = ()) -> bool:
        return self.probability(text, extra) >= self.threshold

    def telling_words(self, text: str, *, noise: bool, count: int = 3) -> list[str]:
        """The words of `text` that pushed most towards its verdict: a reason an agent can read."""
        sign = -1.0 if noise else 1.0
        scored = {t: sign * float(self.weights[word_bucket(t)]) for t in set(words(text)) if len(t) > 1}
        return [t for t, s in sorted(scored.items(), key=lambda kv: -kv[1]) if s > 0][:count]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, weights=self.weights, bias=self.bias, threshold=self.threshold)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Linear:
        with np.load(io.BytesIO(data)) as stored:
            return cls(stored["weights"], float(stored["bias"]), float(stored["threshold"]))


def evaluate(model: Linear | None, samples: Sequence[Sample]) -> Metrics:
    """Precision and recall of "actionable"; no model means everything is actionable (rules aside)."""
    tp = fp = fn = tn = 0
    for sample in samples:
        predicted = True if model is None else model.actionable(sample.text, sample.extra)
        if predicted and sample.actionable:
            tp += 1
        elif predicted:
            fp += 1
        elif sample.actionable:
            fn += 1
        else:
            tn += 1
    return Metrics(tp, fp, fn, tn)


def _fit(samples: Sequence[Sample]) -> tuple[np.ndarray, float]:
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for i, sample in enumerate(samples):
        index, value = featurize(sample.text, sample.extra)
        rows.append(np.full(len(index), i, dtype=np.int64))
        cols.append(index)
        vals.append(value)
    doc = np.concatenate(rows)
    feat = np.concatenate(cols)
    val = np.concatenate(vals).astype(np.float64)
    y = np.array([1.0 if s.actionable else 0.0 for s in samples])
    sample_weight = np.where(y > 0, ACTIONABLE_WEIGHT, 1.0)
    sample_weight /= sample_weight.sum()
    n = len(samples)
    w = np.zeros(DIMENSIONS)
    b = 0.0
    m_w = np.zeros(DIMENSIONS)
    v_w = np.zeros(DIMENSIONS)
    m_b = v_b = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, STEPS + 1):
        z = np.bincount(doc, weights=w[feat] * val, minlength=n) + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        g_doc = sample_weight * (p - y)
        g_w = np.bincount(feat, weights=g_doc[doc] * val, minlength=DIMENSIONS) + L2 * w
        g_b = float(g_doc.sum())
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        correction1 = 1 - beta1**step
        correction2 = 1 - beta2**step
        w -= LEARNING_RATE * (m_w / correction1) / (np.sqrt(v_w / correction2) + eps)
        b -= LEARNING_RATE * (m_b / correction1) / (np.sqrt(v_b / correction2) + eps)
    return w, b


def _threshold(model: Linear, samples: Sequence[Sample]) -> float:
    """The highest threshold that keeps TARGET_RECALL of the actionable calibration samples."""
    scores = sorted(model.probability(s.text, s.extra) for s in samples if s.actionable)
    if len(scores) < 10:
        return 0.3
    allowed_misses = int(len(scores) * (1 - TARGET_RECALL))
    threshold = scores[allowed_misses] - 1e-6
    return float(min(max(threshold, 0.02), 0.5))


def train(samples: Sequence[Sample]) -> Linear:
    """A model from labelled samples (none of them held out: the caller keeps those apart).
    Fits on four fifths to choose the threshold on the rest, then fits again on all of them."""
    if not any(s.actionable for s in samples) or all(s.actionable for s in samples):
        raise ValueError("training needs labels of both kinds")
    calibrate = [s for s in samples if zlib.crc32(("cal" + s.key).encode()) % 5 == 0]
    fit = [s for s in samples if zlib.crc32(("cal" + s.key).encode()) % 5 != 0]
    threshold = 0.3
    if calibrate and any(s.actionable for s in fit) and not all(s.actionable for s in fit):
        weights, bias = _fit(fit)
        threshold = _threshold(Linear(weights, bias, 0.5), calibrate)
    weights, bias = _fit(samples)
    return Linear(weights, bias, threshold)
