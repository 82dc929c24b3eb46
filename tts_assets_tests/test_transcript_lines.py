"""The user's JSONL files, read line by line: one bad line is rejected alone, with its true number."""

import json
import os
import random

import numpy as np
import pytest
import soundfile as sf

from tts_assets.dataset.sources import (
    MAX_CHARS_PER_S,
    SHORT_SEGMENT_ALLOWANCE_CHARS,
    read_curated_transcripts,
    read_segments_jsonl,
    speakable_in,
)

BOM = b"\xef\xbb\xbf"


def tone(path, seconds=1.0, sample_rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sample_rate)
    return path


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    for name in ("a.wav", "b.wav", "c.wav", "sub/d.wav"):
        tone(folder / name)
    return folder


def write(path, lines: list[bytes], end=b"\n"):
    path.write_bytes(b"".join(line + end for line in lines))
    return path


def curated_line(audio_file, text, ensure_ascii=True) -> bytes:
    return json.dumps({"audio_file": audio_file, "text": text}, ensure_ascii=ensure_ascii).encode()


def segment_line(start, end, text, ensure_ascii=True) -> bytes:
    return json.dumps({"start": start, "end": end, "text": text}, ensure_ascii=ensure_ascii).encode()


def read_curated(clips, transcripts):
    return read_curated_transcripts(clips, transcripts, "bk")


def read_segments(path):
    return read_segments_jsonl(path, "book.wav", "bk")


def outcome(rejections) -> dict[int, tuple[str, str]]:
    return {r.line: (r.reason.value, r.detail) for r in rejections}


def test_a_lone_surrogate_rejects_its_line_and_a_pair_is_kept(tmp_path, clips):
    transcripts = write(tmp_path / "t.jsonl", [
        curated_line("a.wav", "half a pair \ud800 here"),  # json.dumps writes the escape "\ud800"
        curated_line("b.wav", "a whole pair \ud83d\ude00 is an emoji"),
        b'{"audio_file": "c.wav", "text": "fine", "\\udfff": "in a key"}',
    ])
    accepted, rejections = read_curated(clips, transcripts)
    assert [(ln.line, ln.text) for ln in accepted] == [(2, "a whole pair \U0001f600 is an emoji")]
    assert outcome(rejections) == {
        1: ("malformed_line", f"{transcripts}:1: not valid Unicode: a string holds the lone surrogate '\\ud800'"),
        3: ("malformed_line", f"{transcripts}:3: not valid Unicode: a string holds the lone surrogate '\\udfff'"),
    }
    # What the stage writes next (JSONL with ensure_ascii=False) must not fail on any of it.
    for row in [*(r.to_dict() for r in rejections), *({"text": ln.text} for ln in accepted)]:
        json.dumps(row, ensure_ascii=False).encode("utf-8")

    segments = write(tmp_path / "s.jsonl", [segment_line(0, 3, "ok"), segment_line(3, 6, "bad \udbff")])
    kept, rejected = read_segments(segments)
    assert [s.id for s in kept] == ["bk:L000001"]
    assert [(r.line, r.reason.value, r.text) for r in rejected] == [(2, "malformed_line", None)]


def test_an_invalid_byte_rejects_its_line_only(tmp_path, clips):
    bad = b'{"audio_file": "b.wav", "text": "caf\xe9"}'  # Latin-1, not UTF-8
    transcripts = write(tmp_path / "t.jsonl", [curated_line("a.wav", "one"), bad, curated_line("c.wav", "three")])
    accepted, rejections = read_curated(clips, transcripts)
    assert [ln.line for ln in accepted] == [1, 3]
    at = bad.index(b"\xe9") + 1
    assert outcome(rejections) == {
        2: ("malformed_line", f"{transcripts}:2: not UTF-8: byte 0xe9 at byte {at} (invalid continuation byte)"),
    }

    segments = write(tmp_path / "s.jsonl", [segment_line(0, 3, "ok"), b"\xff\xfe", segment_line(3, 6, "ok")])
    kept, rejected = read_segments(segments)
    assert [s.id for s in kept] == ["bk:L000001", "bk:L000003"]
    assert outcome(rejected) == {2: ("malformed_line", f"{segments}:2: not UTF-8: byte 0xff at byte 1 (invalid start byte)")}


def test_a_bom_opens_the_file_but_is_junk_elsewhere(tmp_path, clips):
    transcripts = write(tmp_path / "t.jsonl", [BOM + curated_line("a.wav", "one"), BOM + curated_line("b.wav", "two")])
    accepted, rejections = read_curated(clips, transcripts)
    assert [(ln.line, ln.text) for ln in accepted] == [(1, "one")]
    assert [(r.line, r.reason.value) for r in rejections] == [(2, "malformed_line")]

    segments = write(tmp_path / "s.jsonl", [BOM + segment_line(0, 3, "one")])
    assert [s.text for s in read_segments(segments)[0]] == ["one"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])  # str.splitlines() breaks at each
def test_unicode_line_separators_inside_strings_neither_split_nor_shift_lines(tmp_path, clips, separator):
    text = f"first half{separator}second half"
    transcripts = write(tmp_path / "t.jsonl", [
        curated_line("a.wav", text, ensure_ascii=False),  # the separator raw, as json.dumps writes it
        curated_line("b.wav", "two"),
        b"{not json",
        curated_line("c.wav", "four"),
    ])
    assert separator.encode() in transcripts.read_bytes()
    accepted, rejections = read_curated(clips, transcripts)
    assert [(ln.line, ln.text) for ln in accepted] == [(1, text), (2, "two"), (4, "four")]
    assert [r.line for r in rejections] == [3]

    segments = write(tmp_path / "s.jsonl", [segment_line(0, 3, text, ensure_ascii=False), b"[]", segment_line(3, 6, "x")])
    kept, rejected = read_segments(segments)
    assert [(s.id, s.text) for s in kept] == [("bk:L000001", text), ("bk:L000003", "x")]
    assert outcome(rejected) == {2: ("malformed_line", f"{segments}:2: not a JSON object")}


def test_crlf_endings_and_blank_lines_keep_the_numbers(tmp_path, clips):
    transcripts = write(tmp_path / "t.jsonl", [
        curated_line("a.wav", "one"), b"", b"  \t", curated_line("b.wav", "four"), b"{", curated_line("c.wav", "six"),
    ], end=b"\r\n")
    accepted, rejections = read_curated(clips, transcripts)
    assert [(ln.line, ln.text) for ln in accepted] == [(1, "one"), (4, "four"), (6, "six")]
    assert [r.line for r in rejections] == [5]

    segments = write(tmp_path / "s.jsonl", [segment_line(0, 3, "one"), b"", segment_line(3, 6, "three")], end=b"\r\n")
    assert [s.id for s in read_segments(segments)[0]] == ["bk:L000001", "bk:L000003"]


def test_a_raw_control_character_or_a_stray_cr_inside_a_string_is_malformed(tmp_path, clips):
    cr, tab = b'{"audio_file": "a.wav", "text": "car\rriage return"}', b'{"audio_file": "b.wav", "text": "tab\there"}'
    transcripts = write(tmp_path / "t.jsonl", [cr, tab, curated_line("c.wav", "fine")])
    accepted, rejections = read_curated(clips, transcripts)
    assert [ln.line for ln in accepted] == [3]
    cr_at, tab_at = cr.index(b"\r") + 1, tab.index(b"\t") + 1
    assert outcome(rejections) == {
        1: ("malformed_line", f"{transcripts}:1: not JSON: Invalid control character at (column {cr_at})"),
        2: ("malformed_line", f"{transcripts}:2: not JSON: Invalid control character at (column {tab_at})"),
    }


def test_lines_json_cannot_hold_in_python_are_malformed(tmp_path, clips):
    transcripts = write(tmp_path / "t.jsonl", [
        b"[" * 100_000,
        b'{"audio_file": "a.wav", "text": "x", "n": ' + b"1" * 5000 + b"}",
        curated_line("b.wav", "fine"),
    ])
    accepted, rejections = read_curated(clips, transcripts)
    assert [ln.line for ln in accepted] == [3]
    details = outcome(rejections)
    assert details[1] == ("malformed_line", f"{transcripts}:1: not JSON: nested too deeply")
    assert details[2][0] == "malformed_line" and "4300 digits" in details[2][1]


def test_speakable_in_bounds_characters_per_second():
    assert MAX_CHARS_PER_S == 40 and SHORT_SEGMENT_ALLOWANCE_CHARS == 20
    assert speakable_in("x" * 140, 3.0) and not speakable_in("x" * 141, 3.0)
    assert speakable_in("Yes, of course.", 0.2)  # a short segment whose times are a little off
    assert not speakable_in("x" * 21, 0.0) and not speakable_in("x" * 21, -1.0)
    assert not speakable_in("x", float("nan"))


def test_a_text_no_one_could_speak_in_its_segment_is_refused_when_read(tmp_path):
    huge = "a" * 10_000_000
    words = [{"word": " " + "b" * 5000, "start": 7.0, "end": 8.0}]
    segments = write(tmp_path / "s.jsonl", [
        segment_line(0.0, 3.0, huge),
        segment_line(3.0, 6.0, "A fast reader says this in three seconds, barely."),
        json.dumps({"start": 6.0, "end": 9.0, "text": "short", "words": words}).encode(),
    ])
    kept, rejected = read_segments(segments)
    assert [s.id for s in kept] == ["bk:L000002"]
    assert [(r.line, r.reason.value, r.start, r.end, r.detail) for r in rejected] == [
        (1, "length_mismatch", 0.0, 3.0, f"{segments}:1: 10,000,000 characters in 3.0 s"),
        (3, "length_mismatch", 6.0, 9.0, f"{segments}:3: 5,000 characters in 3.0 s"),
    ]


def test_a_curated_text_longer_than_any_clip_could_hold_is_refused_when_read(tmp_path, clips):
    longest = "x" * int(2 * 10.0 * MAX_CHARS_PER_S + SHORT_SEGMENT_ALLOWANCE_CHARS)  # twice the 10 s clip
    transcripts = write(tmp_path / "t.jsonl", [
        curated_line("a.wav", "z" * 10_000_000),
        curated_line("b.wav", longest),
        curated_line("c.wav", longest + "x"),
    ])
    accepted, rejections = read_curated(clips, transcripts)
    assert [ln.line for ln in accepted] == [2]
    assert outcome(rejections) == {
        1: ("length_mismatch", f"{transcripts}:1: 10,000,000 characters, more than a 20 s clip could hold"),
        3: ("length_mismatch", f"{transcripts}:3: 821 characters, more than a 20 s clip could hold"),
    }
    # Longer clips allowed, longer texts allowed.
    accepted, rejections = read_curated_transcripts(clips, transcripts, "bk", max_clip_s=30.0)
    assert [ln.line for ln in accepted] == [2, 3] and [r.line for r in rejections] == [1]


def test_a_clip_named_again_is_rejected_after_the_line_that_took_it(tmp_path, clips):
    os.symlink(clips / "a.wav", clips / "alias.wav")
    transcripts = write(tmp_path / "t.jsonl", [
        curated_line("b.wav", "   "),  # 1 empty: does not take b.wav
        curated_line("a.wav", "the first text"),  # 2
        curated_line("b.wav", "bee"),  # 3 takes b.wav
        curated_line("a.wav", "a conflicting text"),  # 4
        curated_line("./a.wav", "the first text"),  # 5
        curated_line("sub/../a.wav", "again"),  # 6
        curated_line("alias.wav", "again"),  # 7 a symlink to the same file
        curated_line("sub/d.wav", "dee"),  # 8
    ])
    accepted, rejections = read_curated(clips, transcripts)
    assert [(ln.line, ln.audio.name, ln.text) for ln in accepted] == [
        (2, "a.wav", "the first text"), (3, "b.wav", "bee"), (8, "d.wav", "dee")]
    assert outcome(rejections) == {
        1: ("empty_text", f"{transcripts}:1: text is empty"),
        **{n: ("duplicate_audio", f"{transcripts}:{n}: line {n} names the clip of line 2") for n in (4, 5, 6, 7)},
    }
    assert all(r.source.endswith(".wav") for r in rejections)


def test_a_symlink_loop_rejects_its_line_only(tmp_path, clips):
    os.symlink("loop.wav", clips / "loop.wav")
    transcripts = write(tmp_path / "t.jsonl", [curated_line("loop.wav", "x"), curated_line("a.wav", "fine")])
    accepted, rejections = read_curated(clips, transcripts)
    assert [ln.line for ln in accepted] == [2]
    [rejection] = rejections
    assert rejection.line == 1 and rejection.reason.value == "malformed_line"
    assert rejection.detail.startswith(f"{transcripts}:1: 'loop.wav' is not a usable file name")


# Random lines: every non-blank line (counted by b"\n") is accepted or rejected exactly once.

SEPARATORS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r\t\x00\x7f\ufeff\uffff"


def random_text(rng: random.Random, length: int) -> str:
    pools = [
        lambda: chr(rng.randrange(0x20, 0x7f)),
        lambda: chr(rng.randrange(0xa0, 0x800)),
        lambda: chr(rng.randrange(0x4e00, 0x9fff)),
        lambda: chr(rng.randrange(0x1f300, 0x1faff)),
        lambda: chr(rng.randrange(0x300, 0x370)),  # combining marks
        lambda: chr(rng.randrange(0xd800, 0xe000)),  # surrogates
        lambda: chr(rng.randrange(0, 0x20)),
        lambda: rng.choice(SEPARATORS),
        lambda: " ",
    ]
    weights = [40, 10, 10, 5, 3, 2, 2, 4, 10]
    return "".join(rng.choices(pools, weights)[0]() for _ in range(length))


def random_line(rng: random.Random, valid_object) -> bytes:
    kind = rng.choices(["valid", "text", "bytes", "blank", "value", "cut", "deep", "long"],
                       [45, 12, 8, 8, 6, 10, 2, 9])[0]
    if kind == "valid":
        text = random_text(rng, rng.randrange(1, 40))
        line = json.dumps(valid_object(rng, text), ensure_ascii=rng.random() < 0.5)
    elif kind == "text":
        line = random_text(rng, rng.randrange(0, 60))
    elif kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
    elif kind == "blank":
        line = rng.choice(["", " ", "\t \t", "\r", "  \r"])
    elif kind == "value":
        line = rng.choice(["[1, 2]", "3", "null", '"a string"', "true", "NaN"])
    elif kind == "cut":
        line = json.dumps(valid_object(rng, random_text(rng, 20)), ensure_ascii=False)
        line = line[: rng.randrange(len(line))]
    elif kind == "deep":
        line = "[" * rng.randrange(900, 3000)
    else:
        line = json.dumps(valid_object(rng, "x" * rng.randrange(600, 2000)))
    return line.encode("utf-8", "surrogatepass")  # a raw lone surrogate becomes invalid UTF-8


def random_file(path, rng: random.Random, valid_object, lines=300) -> bytes:
    data = BOM if rng.random() < 0.5 else b""
    for _ in range(lines):
        data += random_line(rng, valid_object) + rng.choice([b"\n", b"\n", b"\r\n"])
    if rng.random() < 0.5:
        data = data.removesuffix(b"\n")  # a last line without its newline
    path.write_bytes(data)
    return data


def non_blank_line_numbers(data: bytes) -> set[int]:
    """Counted independently of the reader: lines end at b"\\n", blank means JSON whitespace only."""
    lines = data.split(b"\n")
    numbers = set()
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix(BOM)
        if line.strip(b" \t\r"):
            numbers.add(number)
    return numbers


def curated_object(rng, text):
    return {"audio_file": rng.choice(["a.wav", "b.wav", "c.wav", "sub/d.wav", "missing.wav", "../x.wav"]),
            "text": text}


def segment_object(rng, text):
    start = round(rng.uniform(0, 100), 2)
    return {"start": start, "end": round(start + rng.uniform(-0.5, 8), 2), "text": text}


def assert_each_line_once(accepted_lines, rejections, data):
    rejected_lines = [r.line for r in rejections]
    assert len(set(accepted_lines)) == len(accepted_lines)
    assert len(set(rejected_lines)) == len(rejected_lines)
    assert not set(accepted_lines) & set(rejected_lines)
    assert set(accepted_lines) | set(rejected_lines) == non_blank_line_numbers(data)
    for rejection in rejections:
        assert len(rejection.detail.splitlines()) == 1
        json.dumps(rejection.to_dict(), ensure_ascii=False).encode("utf-8")  # what the stage writes


@pytest.mark.parametrize("seed", range(4))
def test_random_lines_are_each_accepted_or_rejected_once(tmp_path, clips, seed):
    rng = random.Random(seed)
    transcripts = tmp_path / "t.jsonl"
    data = random_file(transcripts, rng, curated_object)
    accepted, rejections = read_curated(clips, transcripts)
    assert_each_line_once([ln.line for ln in accepted], rejections, data)
    assert len({ln.audio.resolve() for ln in accepted}) == len(accepted)
    for line in accepted:
        json.dumps({"text": line.text}, ensure_ascii=False).encode("utf-8")
    reasons = {r.reason.value for r in rejections}
    assert {"malformed_line", "duplicate_audio", "length_mismatch", "missing_file"} <= reasons

    segments = tmp_path / "s.jsonl"
    data = random_file(segments, rng, segment_object)
    kept, rejected = read_segments(segments)
    assert_each_line_once([int(s.id.removeprefix("bk:L")) for s in kept], rejected, data)
    for segment in kept:
        json.dumps(segment.to_dict(), ensure_ascii=False).encode("utf-8")
