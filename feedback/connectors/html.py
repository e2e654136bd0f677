"""HTML to plain text for posts that arrive as HTML (feed entries).

Built on the standard library's HTML tokenizer rather than regular expressions: it copes with
unclosed and misnested tags, attributes containing '>', comments, CDATA and every character
reference, which pattern matching gets wrong. The result is plain text; it is stored and
shown escaped like any other body, never rendered as HTML.
"""

from html.parser import HTMLParser

# Elements that start a new line of text.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "pre", "section", "summary", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# Elements that are separated from the text around them by a blank line.
_PARAGRAPH = frozenset({"p", "blockquote", "pre", "table", "ul", "ol", "h1", "h2", "h3"})
# Elements whose content is never text a reader sees.
_HIDDEN = frozenset(
    {"script", "style", "head", "template", "noscript", "iframe", "object", "svg", "math"}
)
_VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "source", "area"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        # convert_charrefs: &amp;, &#8217; and friends arrive already decoded in handle_data.
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0
        self.pre_depth = 0
        # Line breaks owed before the next text; adjacent block boundaries share them (a
        # </li><li> is one line break, a </p><p> one blank line), none lead the text.
        self.pending_breaks = 0

    def _break(self, count: int) -> None:
        self.pending_breaks = max(self.pending_breaks, count)

    def _text(self, text: str) -> None:
        if self.pending_breaks and self.parts:
            self.parts.append("\n" * self.pending_breaks)
        self.pending_breaks = 0
        self.parts.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
            return
        if self.hidden_depth:
            return
        if tag == "br":
            # Unlike block boundaries, consecutive <br>s each add a line.
            if self.pending_breaks:
                self.pending_breaks += 1
            else:
                self._text("\n")
        elif tag == "img":
            # Alt text is what the author wrote for readers who cannot see the image.
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._text(f" {alt} ")
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "li":
            self._text("- ")
        elif tag in ("td", "th"):
            self._text(" ")
        elif tag == "pre":
            self.pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
            return
        if self.hidden_depth:
            return
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.hidden_depth or not data:
            return
        if self.pre_depth:
            self._text(data)
            return
        # Outside <pre> a run of whitespace, newlines included, is one space; spaces at the
        # edges matter ("a <b>b</b>" is two words, "a<b>b</b>" one).
        words = " ".join(data.split())
        lead = " " if data[0].isspace() else ""
        trail = " " if data[-1].isspace() and words else ""
        self._text(lead + words + trail)


def html_to_text(html: str) -> str:
    """The readable text of an HTML fragment: tags dropped, entities decoded, scripts and
    styles removed, paragraphs separated by a blank line, list items on their own lines."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    # At most one blank line in a row, none at either end.
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
