"""The book's own text as the clips' transcripts: reading it, locating ASR segments in it, and a
whole ingest of speech read from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from ebooklib import epub

from tts_assets.dataset import book as book_stages
from tts_assets.dataset.inbox import scan_inbox
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.errors import InputFileError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.sample_book import PIPER_RATE, synthesize
from tts_assets.settings import DatasetSettings
from tts_assets.text.book_text import matching_words, read_book_text, words_of
from tts_assets.text.locate import BOOK, MISMATCH, NOT_IN_BOOK, coverage, locate_segments

FRONT_MATTER = (
    "The Project Gutenberg eBook of A Test Book\n\n"
    "This eBook is for the use of anyone anywhere at no cost.\n\n"
    "Contents\n\nChapter One\nChapter Two\n\n"
)
CHAPTER_ONE = [
    "It was a dark night — and cold.",
    "She called the office, and the machine said: Comedian Mail. Mailbox?",
    "The phone rang twice before anyone answered it.",
]
SKIPPED = "This paragraph the reader skipped entirely, every word of it, from the first to the last."
CHAPTER_TWO = ["He said nothing at all, and left the house in 1984."]
BOOK_TEXT = (FRONT_MATTER + "Chapter One\n\n" + " ".join(CHAPTER_ONE) + "\n\n" + SKIPPED
             + "\n\nChapter Two\n\n" + " ".join(CHAPTER_TWO) + "\n")


def _locate(segments: list[str]):
    book = words_of(BOOK_TEXT)
    return book, list(locate_segments(book, [s.split() for s in segments]))


def test_segments_take_the_book_words_past_front_matter_intro_and_skipped_paragraph():
    book, found = _locate([
        "This recording is in the public domain.",  # a spoken intro the text does not have
        "Chapter one.",
        "It was a dark night and cold.",
        "She called the office and the machine said comedian male male box?",  # ASR errors
        "The phone rang twice before anyone answered it.",
        "Chapter two. He said nothing at all and left the house in nineteen eighty four.",
    ])
    assert [f.verdict for f in found] == [NOT_IN_BOOK] + [BOOK] * 5
    # The heading is found where it opens the chapter, not in the table of contents.
    assert found[1].text == "Chapter One" and found[1].first > BOOK_TEXT.split().index("Contents") + 4
    assert [f.text for f in found[2:5]] == CHAPTER_ONE
    assert found[5].text == "Chapter Two " + CHAPTER_TWO[0]
    # Each ASR word carries the book's words aligned with it; together they are the segment's text.
    assert " ".join(t for t in found[3].word_texts if t) == CHAPTER_ONE[1]
    assert found[3].word_texts[-3:] == ["Mail.", "", "Mailbox?"]
    assert found[5].word_texts[-4:] == ["in", "", "", "1984."]
    share, stretches = coverage(book, found)
    longest = " ".join(BOOK_TEXT.split()[stretches[0].first:stretches[0].last + 1])
    assert longest.startswith("The Project Gutenberg") and longest.endswith("Chapter Two")
    assert " ".join(BOOK_TEXT.split()[stretches[1].first:stretches[1].last + 1]) == SKIPPED
    assert len(stretches) == 2
    words = sum(1 for form in book.forms if form)  # "—" is no word to find
    assert share == pytest.approx(1 - (stretches[0].words + stretches[1].words) / words)


def test_audio_that_says_otherwise_than_the_book_is_a_mismatch():
    _, found = _locate([
        "It was a dark night and cold.",
        "She called the office and the machine said something else entirely to her.",
        "The phone rang twice before anyone answered it.",
    ])
    assert [f.verdict for f in found] == [BOOK, MISMATCH, BOOK]
    assert 0.25 < found[1].mismatch < 0.5 and found[1].text == ""
    assert found[2].text == CHAPTER_ONE[2]


def test_read_markdown_keeps_words_and_drops_markup(tmp_path):
    path = tmp_path / "book.md"
    path.write_text("# Chapter One\n\nIt was *a* dark [night](x.html).\nAnd `cold`.\n\n- Yes.\n")
    book = read_book_text(path)
    assert book.quote(0, len(book.forms) - 1) == "Chapter One It was a dark night. And cold. Yes."


def test_read_epub_in_spine_order_without_the_navigation(tmp_path):
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("A Test Book")
    book.set_language("en")
    chapters = []
    for number, body in [(1, "<h1>Chapter One</h1><p>It was a dark night.</p><p>And cold.</p>"),
                         (2, "<h1>Chapter Two</h1><p>He left.</p>")]:
        chapter = epub.EpubHtml(title=f"Chapter {number}", file_name=f"ch{number}.xhtml", lang="en")
        chapter.content = f"<html><body>{body}</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapters[1], chapters[0]]  # the spine, not the file names, gives the order
    path = tmp_path / "book.epub"
    epub.write_epub(str(path), book)
    text = read_book_text(path)
    assert text.quote(0, len(text.forms) - 1) == "Chapter Two He left. Chapter One It was a dark night. And cold."


def test_an_unreadable_book_text_names_the_file(tmp_path):
    broken = tmp_path / "book.epub"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match=r"book\.epub: not a readable epub file"):
        read_book_text(broken)
    with pytest.raises(InputFileError, match=r"book\.pdf: not a book text"):
        read_book_text(tmp_path / "book.pdf")


# A book as Project Gutenberg gives it, and a reading of it: a spoken intro the text lacks, both
# headings read, the second paragraph of chapter one skipped.
GUTENBERG = (
    "The Project Gutenberg eBook of The Sample Novel\n\n"
    "This ebook is for the use of anyone anywhere in the United States at no cost.\n\n"
    "Title: The Sample Novel\nAuthor: Anonymous\n\n"
    "Contents\n\nChapter One\nChapter Two\n\n"
)
READ_PARAGRAPHS = [
    ["It is a truth universally acknowledged, that a single man must be in want of a wife.",
     "Mister Bennet met Bingley at Netherfield, a week before Michaelmas."],
    ["The horses had three times already come to a stop, in the thick mud of the Dover road.",
     "Nobody on the road could see more than a few yards ahead in the mist."],
]
SKIPPED_PARAGRAPH = "Quoyle the harbourmaster counted seventeen lobster pots along the grey breakwater."
LAST_PARAGRAPH = ["The old clock in the hall struck seven, and the house was quiet again at last."]
INTRO = "This is a recording made for testing, and it is in the public domain."


def _write_gutenberg_book(path):
    path.write_text(
        GUTENBERG + "Chapter One\n\n" + " ".join(READ_PARAGRAPHS[0]) + "\n\n" + SKIPPED_PARAGRAPH + "\n\n"
        + " ".join(READ_PARAGRAPHS[1]) + "\n\nChapter Two\n\n" + " ".join(LAST_PARAGRAPH) + "\n"
    )
    return path


def test_ingest_with_the_book_text_gives_clips_the_book_words(data_root, tmp_path, whisper_tiny):
    book_text = _write_gutenberg_book(tmp_path / "novel.txt")
    read = [*READ_PARAGRAPHS[0], *READ_PARAGRAPHS[1], *LAST_PARAGRAPH]
    spoken = [INTRO, "Chapter One.", *READ_PARAGRAPHS[0], *READ_PARAGRAPHS[1], "Chapter Two.", *LAST_PARAGRAPH]
    audio, _ = synthesize(spoken, pause_s=0.8)
    sf.write(tmp_path / "novel.wav", audio, PIPER_RATE)

    layout = DataLayout(data_root)
    settings = DatasetSettings().model_copy(update={"asr": DatasetSettings().asr.with_overrides(
        model=whisper_tiny, language="en")})
    book = register_book(layout, "v", BookSource("audiobook", str(tmp_path / "novel.wav"), book_text=str(book_text)))
    book_stages.probe_book(layout, "v", book, settings)
    book_stages.transcribe_book(layout, "v", book, settings)
    report = book_stages.locate_book(layout, "v", book, settings.book_text)
    book_stages.plan_book(layout, "v", book, settings)
    summary = book_stages.cut_book(layout, "v", book, settings.clips, settings.merge)
    clips = list(read_jsonl(layout.book_clips_manifest(voice="v", book=book)))
    rejections = list(read_jsonl(layout.book_rejections("v", book)))

    from_book = [c for c in clips if c["text_source"] == "book"]
    # Each clip carries whole sentences (and the headings read with them) exactly as the book
    # writes them, and every sentence read is in exactly one clip.
    units = ["Chapter One", *READ_PARAGRAPHS[0], *READ_PARAGRAPHS[1], "Chapter Two", *LAST_PARAGRAPH]
    covered = []
    for clip in from_book:
        runs = [(i, j) for i in range(len(units)) for j in range(i + 1, len(units) + 1)
                if " ".join(units[i:j]) == clip["text"]]
        assert runs, f"{clip['text']!r} is not the book's words"
        covered += units[runs[0][0]:runs[0][1]]
    assert [u for u in covered if u in read] == read
    # The ASR's own words are kept beside them; the book corrected some of them.
    assert all(c["text_asr"] for c in from_book)
    corrected = [c for c in from_book if matching_words(c["text"]) != matching_words(c["text_asr"])]
    assert corrected and summary["clips_corrected_by_book"] == len(corrected)
    # The skipped paragraph is in no clip, neither as the book's words nor as the ASR's.
    for row in clips + rejections:
        assert "harbourmaster" not in (row["text"] or "").lower() + (row.get("text_asr") or "").lower()
    # The intro is kept with the ASR's words, said so, or rejected: never given the book's words.
    intro = [c for c in clips if "recording" in c["text"].lower()]
    assert all(c["text_source"] == "asr" and c["text_asr"] is None for c in intro)
    assert intro or any("recording" in (r["text"] or "").lower() for r in rejections)

    saved = json.loads(layout.book_text_report("v", book).read_text())
    assert saved == report and 0.5 < report["coverage"] < 0.95 and summary["book_text_coverage"] == report["coverage"]
    excerpts = [s["excerpt"] for s in report["longest_unmatched"]]
    assert excerpts[0].startswith("The Project Gutenberg eBook")
    assert any(e.startswith("Quoyle the harbourmaster counted") for e in excerpts)
    assert report["segments_corrected"] >= 1 and report["segments"]["text_mismatch"] == 0


def test_a_book_text_beside_inbox_audio_is_the_book_text(tmp_path):
    layout = DataLayout(tmp_path)
    voice_dir = tmp_path / "inbox" / "reader"
    voice_dir.mkdir(parents=True)
    for name in ("novel.m4b", "other.mp3"):
        (voice_dir / name).write_bytes(b"audio")
    _write_gutenberg_book(voice_dir / "novel.epub.txt")  # not the text of "novel": another stem
    _write_gutenberg_book(voice_dir / "novel.md")
    first = {item.book: item for item in scan_inbox(layout).items}
    assert first["novel"].source.book_text == str(voice_dir / "novel.md")
    assert first["other"].source.book_text is None
    (voice_dir / "novel.md").write_text("# Chapter One\n\nEdited.\n")  # an edited text rebuilds the book
    assert scan_inbox(layout).items[0].fingerprint != first["novel"].fingerprint


# Sense and Sensibility as printed (chapter 1): the LibriVox clips of conftest read these words, and
# the stretch between the third and fourth clip is not in them.
AUSTEN = [
    "and Mr. John Dashwood had then leisure to consider how much there might be prudently in his power "
    "to do for them.",
    "He was not an ill-disposed young man,",
    "unless to be rather cold-hearted and rather selfish is to be ill-disposed:",
    "Had he married a more amiable woman, he might have been made still more respectable than he was:—",
    "he might even have been made amiable himself;",
]
AUSTEN_UNREAD = "but he was, in general, well respected; for he conducted himself with propriety in the " \
                "discharge of his ordinary duties."


def test_cli_ingest_of_a_real_recording_with_its_book_text(tmp_path, librivox_book, whisper_tiny, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    text = tmp_path / "sense_and_sensibility.md"
    text.write_text("# Sense and Sensibility\n\nby Jane Austen\n\n## CHAPTER 1\n\n" + " ".join(AUSTEN[:3])
                    + " " + AUSTEN_UNREAD + " " + " ".join(AUSTEN[3:]) + " For he was very young when he married.\n")
    data_root = tmp_path / "d"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tts-assets"), "ingest", str(librivox_book.audio), "Reader",
         "--asr-model", whisper_tiny, "--language", "en", "--book-text", str(text), "--data-root", str(data_root)],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr
    rows = list(read_jsonl(DataLayout(data_root).train_manifest("reader")))
    assert [r["text"] for r in rows] == AUSTEN and {r["text_source"] for r in rows} == {"book"}
    assert "book text: " in result.stdout and "of its words found in the audio; 5 of 5 clips" in result.stdout
    missing = subprocess.run(
        [str(Path(sys.executable).parent / "tts-assets"), "ingest", str(librivox_book.audio), "Reader",
         "--book-text", str(tmp_path / "book.pdf"), "--data-root", str(data_root)],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("book.pdf: no such file")


def test_a_clip_never_mixes_the_book_text_with_the_asr_text():
    from tts_assets.segments.merge import plan_spans
    from tts_assets.segments.model import Segment, Word
    from tts_assets.settings import MergeRules

    intro = Segment("b:1", 0.0, 1.5, "Read for LibriVox.", (Word(" Read", 0.0, 0.4), Word(" for", 0.5, 0.7),
                                                          Word(" LibriVox.", 0.8, 1.5)))
    words = (Word(" Chapter", 1.7, 2.1, asr=" chapter"), Word(" One", 2.2, 2.6, asr=" won."))
    heading = Segment("b:2", 1.7, 2.6, "Chapter One", words, text_source="book", text_asr="chapter won.")
    # 1.5 s, then 0.2 s of pause: spans shorter than merge_below_s (2 s) take their neighbour.
    spans = plan_spans([intro, heading], MergeRules(min_clip_s=0.5)).spans
    assert [(s.text, s.text_source, s.text_asr) for s in spans] == [
        ("Read for LibriVox.", "asr", None), ("Chapter One", "book", "chapter won.")]
