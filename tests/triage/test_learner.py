"""The learner without a database: features stable across processes, the stored form, the
figures it is judged by."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from apps.triage.features import featurize
from apps.triage.learner import Linear, Metrics, Sample, evaluate, is_held_out, train
from tests.triage.conftest import corpus


def test_features_are_the_same_in_another_process_whatever_its_hash_seed():
    text = "Mein Paket ist nicht angekommen, order 4821 — thanks!"
    code = (
        f"import json; from apps.triage.features import featurize; print(json.dumps(featurize({text!r})[0].tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert json.loads(other.stdout) == featurize(text)[0].tolist()


def test_a_model_survives_its_stored_form():
    samples = [Sample(key=str(i), text=r["text"], actionable=r["actionable"]) for i, r in enumerate(corpus()[::3])]
    model = train(samples)

    again = Linear.from_bytes(model.to_bytes())

    assert again.threshold == model.threshold and again.bias == model.bias
    assert np.array_equal(again.weights, model.weights)
    assert again.probability("where is my refund") == model.probability("where is my refund")


def test_the_threshold_keeps_the_recall_target_on_the_training_labels():
    rows = corpus()
    samples = [Sample(key=r["group"], text=r["text"], actionable=r["actionable"]) for r in rows]
    model = train([s for s in samples if not is_held_out(s.key)])

    trained = evaluate(model, [s for s in samples if not is_held_out(s.key)])

    assert trained.recall >= 0.97
    assert 0.02 <= model.threshold <= 0.5


def test_f2_weighs_recall_over_precision():
    careful = Metrics(tp=95, fp=20, fn=5, tn=80)  # recall 0.95, precision 0.83
    picky = Metrics(tp=80, fp=2, fn=20, tn=98)  # recall 0.80, precision 0.98
    assert careful.f2 > picky.f2
    assert evaluate(None, [Sample("a", "x", True), Sample("b", "y", False)]) == Metrics(tp=1, fp=1, fn=0, tn=0)
