"""What a new user meets in the first hour (issue 10): one origin from `make run PORT=…`, the
favicon every browser asks for, and README's mail one-liner leaving no error in the log."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _make_run_dry(*args: str) -> str:
    result = subprocess.run(
        ["make", "-n", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\\\n", " ")  # one command a line


def test_make_run_port_gives_one_origin_to_everything():
    commands = _make_run_dry("PORT=9123")
    seed = next(line for line in commands.splitlines() if "manage.py seed_demo" in line)
    serve = next(line for line in commands.splitlines() if "manage.py serve" in line)
    printed = next(line for line in commands.splitlines() if "supportdesk on" in line)
    assert "PUBLIC_BASE_URL=http://localhost:9123 " in seed
    assert "PUBLIC_BASE_URL=http://localhost:9123 " in serve and "--port 9123" in serve
    assert set(re.findall(r"https?://[^/\s\"]+", printed)) == {"http://localhost:9123"}


def test_make_run_default_is_localhost_8000_as_the_readme_says():
    printed = next(line for line in _make_run_dry().splitlines() if "supportdesk on" in line)
    assert set(re.findall(r"https?://[^/\s\"]+", printed)) == {"http://localhost:8000"}
    assert "http://localhost:8000/console/" in (ROOT / "README.md").read_text()


def test_favicon_is_an_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age" in response["Cache-Control"]
