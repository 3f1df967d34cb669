"""Triage figures (docs/triage.md): precision and recall of "actionable" on the held-out part of
the labelled corpus (tests/fixtures/triage/corpus.jsonl), and the CPU time triage costs a
message (rules + model), beside a baseline in the same run (featurizing alone).

The held-out part is one template group in five (learner.is_held_out on the group): the model is
trained on the other groups only, so held-out texts are wordings it never saw.

    python bench/triage.py [--messages 3000] [--folds]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.triage.classify import Classifier, Context  # noqa: E402
from apps.triage.features import featurize  # noqa: E402
from apps.triage.learner import Sample, evaluate, is_held_out, train  # noqa: E402
from apps.triage.rules import RuleSet  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "triage" / "corpus.jsonl"
TARGET_RECALL, TARGET_PRECISION = 0.95, 0.8


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000, help="messages timed for CPU per message")
    parser.add_argument("--folds", action="store_true", help="also train five times: every group held out once")
    args = parser.parse_args()
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    samples = [Sample(key=r["group"], text=r["text"], actionable=r["actionable"]) for r in rows]
    held = [s for s in samples if is_held_out(s.key)]
    trained_on = [s for s in samples if not is_held_out(s.key)]
    started = time.process_time()
    model = train(trained_on)
    train_s = time.process_time() - started
    metrics = evaluate(model, held)
    baseline = evaluate(None, held)
    print(
        f"triage corpus: {len(samples)} messages ({sum(s.actionable for s in samples)} actionable), "
        f"trained on {len(trained_on)}, held out {len(held)} ({held and sum(s.actionable for s in held)} actionable)"
    )
    print(f"triage training: {train_s:.2f} s CPU")
    print(
        f"triage held-out actionable: precision {metrics.precision:.3f} recall {metrics.recall:.3f} "
        f"(tp {metrics.tp} fp {metrics.fp} fn {metrics.fn} tn {metrics.tn}; threshold {model.threshold:.3f})"
    )
    print(
        f"triage baseline (no model, all actionable): precision {baseline.precision:.3f} recall {baseline.recall:.3f}"
    )
    met = metrics.recall >= TARGET_RECALL and metrics.precision >= TARGET_PRECISION
    print(f"triage target recall >= {TARGET_RECALL} at precision >= {TARGET_PRECISION}: {'met' if met else 'NOT met'}")
    for s in held:
        if model.actionable(s.text) != s.actionable:
            print(f"  miss ({'actionable' if s.actionable else 'noise'}): {s.text}")
    if args.folds:
        # The held-out part is small (about a fifth): every group held out once, pooled.
        tp = fp = fn = 0
        for fold in range(5):
            test = [s for s in samples if zlib.crc32(s.key.encode()) % 5 == fold]
            fold_model = train([s for s in samples if zlib.crc32(s.key.encode()) % 5 != fold])
            m = evaluate(fold_model, test)
            tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
        print(
            f"triage 5-fold (every group held out once, pooled): precision {tp / (tp + fp):.3f} recall {tp / (tp + fn):.3f}"
        )

    # CPU per message: the full classification (rules, language, model) vs featurizing alone.
    rules = RuleSet.from_dicts(
        [
            {
                "id": 1,
                "name": "Out of office",
                "action": "noise",
                "category": "automated",
                "keywords": ["out of office", "automatic reply", "abwesend"],
                "pattern": "",
            },
            {
                "id": 2,
                "name": "Refunds",
                "action": "actionable",
                "category": "",
                "keywords": [],
                "pattern": r"\brefund|remboursement|reembolso|erstattung",
            },
        ]
    )
    classifier = Classifier(rules=rules, model=model, model_version=1)
    texts = [rows[i % len(rows)]["text"] * (1 + i % 3) for i in range(args.messages)]
    context = Context(channel="email", public=False, known_customer=True, automatic=False)
    started = time.process_time()
    for text in texts:
        featurize(text)
    base_ms = (time.process_time() - started) * 1000 / len(texts)
    started = time.process_time()
    for text in texts:
        classifier.classify(text, context)
    full_ms = (time.process_time() - started) * 1000 / len(texts)
    print(
        f"triage CPU per message: {full_ms:.3f} ms (featurizing alone {base_ms:.3f} ms; budget 5 ms): "
        f"{'met' if full_ms <= 5 else 'NOT met'}"
    )
    long_texts = [" ".join(r["text"] for r in rows[i : i + 60])[:4000] for i in range(0, 300)]
    started = time.process_time()
    for text in long_texts:
        classifier.classify(text, context)
    long_ms = (time.process_time() - started) * 1000 / len(long_texts)
    print(f"triage CPU per 4,000-character email: {long_ms:.3f} ms (only the first 1,000 characters are scored)")
    print(f"triage 100,000 messages a day: {full_ms * 100_000 / 1000:.1f} s CPU a day")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
