"""A book's own text (plain text, Markdown or EPUB) as words with their places in it.

The words keep the book's spelling, punctuation and casing: a clip located in the book takes its
text from `BookText.text` between its first and last word. Each word also has a matching form
(lowercase letters and digits, numbers spelled out) that the locator compares with the ASR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tts_assets.errors import InputFileError
from tts_assets.text.normalize import normalize_text, spoken_words

BOOK_TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".epub")
# Elements that end a line of text: without a break "<p>end.</p><p>Next" would read "end.Next".
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "section", "article", "header", "footer", "dt", "dd", "figcaption", "hr", "table")
_PLAIN_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters only: no normalizing needed
# "Mr." is read "mister", as an ASR may write it: short words with a period go through the normalizer.
_MAYBE_ABBREVIATION = re.compile(r"[^\W\d_]{1,4}\.")


@dataclass(frozen=True)
class BookText:
    path: str
    text: str  # the book's text as read (markup removed), which clips quote from
    starts: list[int]  # each word's first character in `text`
    ends: list[int]  # one past each word's last character
    forms: list[str]  # each word as the locator compares it ("" for "—" or "*")

    def quote(self, first: int, last: int) -> str:
        """Words first..last (inclusive) as the book writes them, on one line."""
        return " ".join(self.text[self.starts[first]:self.ends[last]].split())


def matching_form(word: str) -> str:
    """Lowercase letters as spoken: "Mailbox?" → "mailbox", "1984," → "nineteen eighty four",
    "don't" → "dont", "Mr." → "mister"; punctuation alone → ""."""
    if _PLAIN_WORD.fullmatch(word.strip("\"'“”‘’«»()[]{}.,;:!?—–-…*_")) and not _MAYBE_ABBREVIATION.fullmatch(word):
        return re.sub(r"[\W_]+", "", word.lower())
    try:  # digits and symbols: the normalizer spells what it can ("$5", "3rd", "10%")
        spoken = spoken_words(normalize_text(word))
    except (ValueError, NotImplementedError):
        spoken = []
    return " ".join(w.replace("'", "") for w in spoken) or re.sub(r"[\W_]+", "", word.lower())


def matching_words(text: str) -> str:
    """A text's matching forms, to tell whether two texts say the same words."""
    return " ".join(form for form in map(matching_form, text.split()) if form)


def words_of(text: str, path: str = "") -> BookText:
    starts, ends, forms = [], [], []
    # A dash ends the word before it: "was:—he" is "was:—" and "he", both found when spoken.
    for match in re.finditer(r"[^\s—–]+[—–]*|[—–]+", text):
        starts.append(match.start())
        ends.append(match.end())
        forms.append(matching_form(match.group()))
    return BookText(path, text, starts, ends, forms)


def _html_text(html: bytes | str) -> str:
    """The text of an (X)HTML document, one line per block, scripts and styles left out."""
    import lxml.html

    root = lxml.html.fromstring(html)
    for element in [e for e in root.iter("script", "style", "head") if e.getparent() is not None]:
        element.drop_tree()
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    return root.text_content()


def _epub_text(path: Path) -> str:
    """The spine's documents in reading order; the navigation document (the table of contents a
    reader's app shows) is not the book's text."""
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(str(path), options={"ignore_ncx": True})
    parts = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        parts.append(_html_text(item.get_content()))
    return "\n\n".join(parts)


def read_book_text(path: Path | str) -> BookText:
    """Read a `.txt`, `.md`/`.markdown` or `.epub` file; other suffixes and unreadable files raise
    `InputFileError`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BOOK_TEXT_SUFFIXES:
        raise InputFileError(path, f"not a book text: use one of {', '.join(BOOK_TEXT_SUFFIXES)}")
    try:
        if suffix == ".epub":
            text = _epub_text(path)
        else:
            text = path.read_text(encoding="utf-8-sig")
            if suffix in (".md", ".markdown"):
                from markdown_it import MarkdownIt

                # Headings, emphasis and links as the words they show; the markup is not spoken.
                text = _html_text(MarkdownIt("commonmark").render(text) or "<p></p>")
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputFileError(path, f"cannot read the book text: {exc}") from exc
    except Exception as exc:  # ebooklib, zipfile and lxml raise their own kinds for a broken file
        raise InputFileError(path, f"not a readable {suffix[1:]} file: {type(exc).__name__}: {exc}") from exc
    book = words_of(text, str(path))
    if not book.forms:
        raise InputFileError(path, "the book text has no words")
    return book
