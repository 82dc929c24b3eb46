"""Text normalization: what the reader says, spelled out."""

import pytest

from tts_assets.text.normalize import normalize_text, spoken_words


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("Mr. Bennet and Mrs. Long met Dr. Smith.", "Mister Bennet and Missus Long met Doctor Smith."),
        ("It cost $12.50, not $1.", "It cost twelve dollars and fifty cents, not one dollar."),
        ("£3 million", "three million pounds"),
        ("She came 2nd, he came 21st.", "She came second, he came twenty first."),
        ("In 1850 there were 3,000 people.", "In eighteen fifty there were three thousand people."),
        ("Up 45% on No. 7", "Up forty five percent on Number seven"),
        ("He said no.", "He said no."),
        ("3.5 times", "three point five times"),
        ("\u201cWell,\u201d she said \u2014 \u2018quite\u2019 so\u2026", "\"Well,\" she said - 'quite' so..."),
        ("Salt & pepper", "Salt and pepper"),
        ("Card 4012888888881881.", "Card four zero one two eight eight eight eight eight eight eight eight one eight "
                                   "eight one."),  # past 15 digits, digit by digit (num2words overflows)
    ],
)
def test_normalize(text, spoken):
    assert normalize_text(text) == spoken


def test_spoken_words_have_no_digits_or_punctuation():
    words = spoken_words(normalize_text("On May 3rd, 1999, Mr. O'Brien paid $5.05 (45%)!"))
    assert words == ["on", "may", "third", "nineteen", "ninety", "nine", "mister", "o'brien", "paid",
                     "five", "dollars", "and", "five", "cents", "forty", "five", "percent"]
