"""HTML bodies of mail: sanitized for the console (nh3), and turned into plain text.

Sanitizing keeps formatting tags and links and drops everything that runs or loads: scripts,
event handlers, `javascript:` links, forms, frames, CSS other than a few text properties.
Remote images are never loaded by the sanitized HTML: their URL moves from `src` to
`data-remote-src`, which a console may offer to load on request. Inline images (`cid:`) and small
`data:image/…` images stay.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {"font"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
ALLOWED_ATTRIBUTES["img"] = ALLOWED_ATTRIBUTES.get("img", set()) | {"title"}
ALLOWED_ATTRIBUTES["font"] = {"color"}
ALLOWED_ATTRIBUTES["*"] = {"style", "dir", "lang", "title"}
STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "text-decoration",
    "text-align",
    "white-space",
}
URL_SCHEMES = set(nh3.ALLOWED_URL_SCHEMES) | {"cid", "data"}
# Dropped with their content (not only the tag).
DROP_WITH_CONTENT = {"script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg", "math"}
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=\s]*$", re.I)
# nh3's output always double-quotes attribute values (and escapes `"` inside them).
REMOTE_IMG_SRC = re.compile(r'(<img\b[^>]*?\s)src="((?:https?:)?//[^"]*)"', re.I)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if lowered.startswith("data:"):
        # data: URLs only as inline images: never as links (a page the browser would render).
        return value if tag == "img" and attribute == "src" and DATA_IMAGE.match(value.strip()) else None
    if lowered.startswith("cid:") and not (tag == "img" and attribute == "src"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """Sanitized HTML, safe to put in a page; remote images turned off (`data-remote-src`)."""
    if not html.strip():
        return ""
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        filter_style_properties=STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return REMOTE_IMG_SRC.sub(r'\1data-remote-src="\2"', cleaned).strip()


# --- HTML -> text ---------------------------------------------------------------------------

_BLOCK = {
    "p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr", "address", "center", "form", "fieldset", "figure",
}  # fmt: skip
_SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "math"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _TextExtractor(HTMLParser):
    """Block elements become line breaks, list items "- ", blockquotes "> " (so that the reply
    parser sees quoted history as quoted); everything else is its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.current: list[str] = []
        self.quote = 0
        self.skip = 0
        self.pre = 0

    def _break(self) -> None:
        text = "".join(self.current)
        if not self.pre:
            text = _SPACES.sub(" ", text).strip()
        self.lines.append((self.quote, text))
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self._break()
        elif tag == "blockquote":
            self._break()
            self.quote += 1
        elif tag == "li":
            self._break()
            self.current.append("- ")
        elif tag in ("td", "th"):
            self.current.append(" ")
        elif tag in _BLOCK:
            if tag == "pre":
                self.pre += 1
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._break()
            self.quote = max(0, self.quote - 1)
        elif tag in _BLOCK or tag == "li":
            self._break()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)

    def text(self) -> str:
        self._break()
        out: list[str] = []
        for depth, line in self.lines:
            if not line and out and not out[-1].strip("> "):
                continue  # one blank line at most
            out.append(("> " * depth + line).rstrip() if depth else line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; anything else: strip the tags crudely
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    return parser.text()
