"""manage.py triage_import FILE.jsonl [--train]: labels from a corpus (one JSON object a line
with `text` and `actionable`), e.g. tests/fixtures/triage/corpus.jsonl, so a new desk's model
has something to learn from before its agents' clicks add up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.triage.services import labels_import, triage_retrain


class Command(BaseCommand):
    help = "Import triage labels from a JSON-lines corpus, and optionally train at once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--train", action="store_true", help="Train (and roll out if better) afterwards.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        if any("text" not in r or "actionable" not in r for r in rows):
            raise CommandError("every line needs `text` and `actionable`")
        count = labels_import(rows)
        self.stdout.write(f"imported {count} labels")
        if options["train"]:
            result = triage_retrain()
            self.stdout.write(f"{result.outcome}: {result.detail}")
