"""What an agent is told about a widget visitor: a human label ("Visitor 12" until they give a
name) and where they started (the page, their browser, their time zone for their local time)."""

from __future__ import annotations

import re
from typing import Any

from apps.widget.models import Visitor

PAGE_MAX = 500
USER_AGENT_MAX = 300
ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")
# Most specific first: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|HeadlessChrome)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def visitor_label(visitor: Visitor) -> str:
    """How agents call a visitor who gave no name."""
    return f"Visitor {visitor.pk}"


def visitor_context_clean(*, page_url: Any, user_agent: str, time_zone: Any) -> dict[str, str]:
    """The starting page, browser and time zone as the loader and the request give them, kept
    only when they are what they claim (an http(s) URL, an IANA zone name), cut to fit."""
    page = page_url.strip() if isinstance(page_url, str) else ""
    if not re.match(r"https?://", page, re.IGNORECASE):
        page = ""
    zone = time_zone.strip() if isinstance(time_zone, str) else ""
    if len(zone) > 64 or not ZONE.fullmatch(zone):
        zone = ""
    return {
        "page_url": page[:PAGE_MAX],
        "user_agent": " ".join(user_agent.split())[:USER_AGENT_MAX],
        "time_zone": zone,
    }


def browser_label(user_agent: str) -> str:
    """ "Firefox 128 on Windows" from a User-Agent; "" when it names no browser we know."""
    browser = next(((name, m.group(1)) for name, pattern in BROWSERS if (m := pattern.search(user_agent))), None)
    system = next((name for name, pattern in SYSTEMS if pattern.search(user_agent)), "")
    if browser is None:
        return system
    text = f"{browser[0]} {browser[1]}"
    return f"{text} on {system}" if system else text


def visitor_context_data(visitor: Visitor) -> dict[str, Any]:
    return {
        "label": visitor.name or visitor_label(visitor),
        "name": visitor.name,
        "email": visitor.email,
        "verified": visitor.verified,
        "page": visitor.page_url,
        "browser": browser_label(visitor.user_agent),
        "time_zone": visitor.time_zone,
        "started_at": visitor.created_at.isoformat() if visitor.created_at else None,
        "last_seen_at": visitor.last_seen_at.isoformat() if visitor.last_seen_at else None,
    }
