"""The merge/split rules as pure functions."""

import random

from tts_assets.manifest.schema import Reason
from tts_assets.segments.merge import plan_spans
from tts_assets.settings import MergeRules
from tts_assets.segments.model import Segment, Word

RULES = MergeRules(max_gap_s=0.5, merge_below_s=2.0, max_clip_s=10.0, min_clip_s=2.0, pad_s=0.15)


def seg(seg_id, start, end, text="word", words=None):
    if words is None:
        words = (Word(" " + text, start, end),)
    return Segment(seg_id, start, end, text, tuple(words))


def words_every(start, count, length=0.4, gap=0.1, gaps=None):
    """`count` words of `length` s; `gaps` maps a word index to the pause before it."""
    out, t = [], start
    for i in range(count):
        t += (gaps or {}).get(i, gap if i else 0.0)
        out.append(Word(f" w{i}", round(t, 3), round(t + length, 3)))
        t += length
    return out


def test_short_neighbours_merge_while_gap_small_and_under_two_seconds():
    plan = plan_spans([seg("a", 0.0, 1.0), seg("b", 1.3, 2.2), seg("c", 2.5, 5.0)], RULES)
    # a+b = 2.2 s >= 2 s, so c starts a new span even though the gap is 0.3 s.
    assert [s.segment_ids for s in plan.spans] == [["a", "b"], ["c"]]


def test_no_merge_across_a_long_pause_and_isolated_short_segment_is_rejected():
    plan = plan_spans([seg("a", 0.0, 1.0), seg("b", 2.1, 4.5)], RULES)  # 1.1 s > max_short_merge_gap_s
    assert [s.segment_ids for s in plan.spans] == [["b"]]
    assert [(r.segment_ids, r.reason) for r in plan.rejections] == [(["a"], Reason.TOO_SHORT)]


def test_merge_never_grows_past_the_maximum():
    plan = plan_spans([seg("a", 0.0, 1.5), seg("b", 1.7, 10.5)], RULES)
    assert [s.segment_ids for s in plan.spans] == [["b"]]
    assert plan.rejections[0].segment_ids == ["a"]


def test_long_segment_is_split_at_its_largest_pause_not_dropped():
    words = words_every(0.0, 30, gaps={12: 0.9, 20: 0.4})  # 15.x s with a 0.9 s pause before w12
    plan = plan_spans([Segment("long", 0.0, words[-1].end, "x", tuple(words))], RULES)
    assert not plan.rejections
    assert len(plan.spans) == 2
    first, second = plan.spans
    assert first.pieces[0].words[-1].word == " w11" and second.pieces[0].words[0].word == " w12"
    assert all(s.end - s.start <= RULES.max_clip_s for s in plan.spans)
    assert first.text.split() == [f"w{i}" for i in range(12)]


def test_split_never_leaves_a_too_short_piece():
    words = words_every(0.0, 24, gaps={23: 2.0})  # the biggest pause is before the last word
    plan = plan_spans([Segment("long", 0.0, words[-1].end, "x", tuple(words))], RULES)
    assert not plan.rejections
    assert all(s.end - s.start >= RULES.min_clip_s for s in plan.spans)


def test_unsplittable_long_segment_is_rejected_with_reason():
    plan = plan_spans([Segment("long", 0.0, 14.0, "no word times")], RULES)
    assert not plan.spans
    assert plan.rejections[0].reason is Reason.TOO_LONG
    assert "no word timings" in plan.rejections[0].detail


def test_empty_text_rejected():
    plan = plan_spans([seg("e", 0.0, 3.0, text="  ", words=())], RULES)
    assert plan.rejections[0].reason is Reason.EMPTY_TEXT


def test_no_merge_across_a_chapter_break():
    plan = plan_spans([seg("a", 0.0, 1.5), seg("b", 1.7, 4.0)], RULES, hard_breaks=[1.6])
    assert [s.segment_ids for s in plan.spans] == [["b"]]


def test_cuts_are_padded_but_stop_at_mid_gap():
    plan = plan_spans([seg("a", 1.0, 4.0), seg("b", 4.2, 7.0)], RULES)
    a, b = plan.spans
    assert a.cut_start == 0.85 and a.cut_end == 4.1
    assert b.cut_start == 4.1 and b.cut_end == 7.15


def test_random_segments_every_id_accounted_once_and_no_cut_inside_a_word():
    rng = random.Random(7)
    for trial in range(50):
        segments, t = [], 0.0
        for i in range(40):
            t += rng.choice([0.05, 0.2, 0.4, 0.7, 1.5])
            n = rng.randint(1, 40)
            words = words_every(t, n, length=rng.uniform(0.1, 0.5), gap=rng.uniform(0.0, 0.6))
            text = "" if rng.random() < 0.05 else "x"
            segments.append(Segment(f"s{i}", t, words[-1].end, text, tuple(words)))
            t = words[-1].end
        plan = plan_spans(segments, RULES)
        accepted = [i for s in plan.spans for i in s.segment_ids]
        rejected = [i for r in plan.rejections for i in r.segment_ids]
        assert not set(accepted) & set(rejected), trial
        assert set(accepted) | set(rejected) == {s.id for s in segments}, trial
        assert len(rejected) == len(set(rejected)), trial
        all_words = [w for s in segments for w in s.words]
        for span in plan.spans:
            assert span.end - span.start <= RULES.max_clip_s + 1e-9
            assert span.end - span.start >= RULES.min_clip_s - 1e-9
            for cut in (span.cut_start, span.cut_end):
                assert not any(w.start < cut < w.end for w in all_words), (trial, cut)


def test_a_short_tail_joins_the_clip_before_it():
    plan = plan_spans([seg("a", 0.0, 4.0), seg("tail", 4.1, 4.6), seg("b", 6.0, 9.0)], RULES)
    assert [s.segment_ids for s in plan.spans] == [["a", "tail"], ["b"]]
    assert not plan.rejections


def test_padding_stops_at_a_touching_neighbour():
    plan = plan_spans([seg("a", 0.0, 4.0), seg("b", 4.0, 7.0)], RULES)
    a, b = plan.spans
    assert a.cut_end == 4.0 and b.cut_start == 4.0
