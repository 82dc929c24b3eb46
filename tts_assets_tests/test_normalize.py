"""Text normalization: what the reader says, spelled out (NeMo for English, French and Spanish, in
test_nemo_languages; our rules elsewhere)."""

import os
import subprocess
import sys

import pytest

from tts_assets.text.nemo import grammar_cache_dir
from tts_assets.text.normalize import normalize_text, spoken_readings, spoken_words, unspoken


@pytest.mark.parametrize(
    "text, spoken",
    [  # in the style of NeMo's English test suite (tests/nemo_text_processing/en/data_text_normalization)
        ("On July 25, 2012 they met.", "On july twenty fifth, twenty twelve they met."),
        ("In the 1980s it rained.", "In the nineteen eighties it rained."),
        ("It cost $12.50, not $1.", "It cost twelve dollars fifty cents, not one dollar."),
        ("They raised $2.5 million.", "They raised two point five million dollars."),
        ("She came 111th.", "She came one hundred eleventh."),
        ("Nancy lived at 1428 Elm St. It was a strange place.",
         "Nancy lived at fourteen twenty eight Elm Street. It was a strange place."),
        ("We left at 1:59 p.m. sharp.", "We left at one fifty nine PM sharp."),
        ("It weighs 12kg.", "It weighs twelve kilograms."),
        ("Add 4 1/2 lbs of flour.", "Add four and a half pounds of flour."),
        ("Up 45% today.", "Up forty five percent today."),
        ("Mr. Bennet met Dr. Smith.", "mister Bennet met doctor Smith."),
        ("He was 9½, she ¾ of a mile off.", "He was nine and a half, she three quarters of a mile off."),
        ("x^2 at @home", "x squared at at home"),
        ("Salt & pepper", "Salt and pepper"),
        ("\u201cWell,\u201d she said \u2014 \u2018quite\u2019 so\u2026", "\"Well,\" she said - 'quite' so..."),
        ("He said no.", "He said no."),
    ],
)
def test_english_is_read_as_nemo_reads_it(text, spoken):
    assert normalize_text(text) == spoken


@pytest.mark.parametrize(
    "text, readings",
    [
        ("It cost $5.50.", {"it cost five dollars fifty cents", "it cost five fifty"}),
        ("In 1865 they came.", {"in eighteen sixty five they came", "in one thousand eight hundred sixty five they came"}),
        ("Chapter IV", {"chapter iv", "chapter four"}),  # NeMo's one reading leaves Roman numerals as letters
        ("Room 123", {"room one hundred and twenty three", "room one twenty three"}),
    ],
)
def test_a_written_number_has_the_readings_a_reader_may_say(text, readings):
    found = spoken_readings(text)
    assert found[0] == normalize_text(text)  # NeMo's deterministic reading first
    assert readings <= {" ".join(spoken_words(r)) for r in found}
    assert len(found) <= 8 and len({tuple(spoken_words(r)) for r in found}) == len(found)


def test_text_without_digits_or_symbols_has_one_reading():
    assert spoken_readings("Mr. Bennet met Dr. Smith.") == ["mister Bennet met doctor Smith."]


def test_spoken_words_have_no_digits_or_punctuation():
    words = spoken_words(normalize_text("On May 3rd, 1999, Mr. O'Brien paid $5.05 (45%)!"))
    assert words == ["on", "may", "third", "nineteen", "ninety", "nine", "mister", "o'brien", "paid",
                     "five", "dollars", "five", "cents", "forty", "five", "percent"]


def test_spoken_words_are_letters_of_any_script():
    assert spoken_words("Naïve café-goers, O'Brien's résumé.") == ["naïve", "café", "goers", "o'brien's", "résumé"]
    assert spoken_words(normalize_text("«Привет, мир!» — пять раз.", "ru")) == ["привет", "мир", "пять", "раз"]
    # A virama or vowel sign is a combining mark, which \w leaves out: the word stays whole.
    assert spoken_words("हिन्दी बार") == ["हिन्दी", "बार"]


@pytest.mark.parametrize(
    "text, left",
    [
        ('He paid five dollars - "fine," (he said)... Really?', []),
        ("¿Qué? ¡Sí! 日本語。", []),
        ("x^2 on @home #tag and/or 3 snake_case x²", ["x^2", "@home", "#tag", "and/or", "3", "snake_case", "x²"]),
    ],
)
def test_unspoken_finds_what_is_still_not_words(text, left):
    assert unspoken(text) == left


def test_what_nemo_leaves_unread_is_found_for_rejection():
    assert unspoken(normalize_text("If a < b, see ∞.")) == ["<", "∞."]
    assert all(unspoken(reading) for reading in spoken_readings("If a < b, see ∞."))


def test_languages_whose_numbers_are_not_spelled_keep_their_digits():
    """num2words lacks Malayalam and loops forever on some Amharic numbers: only the languages of
    NUMBER_STYLES are spelled, and any other keeps its digits, so the clip is rejected."""
    assert unspoken(normalize_text("5 ആപ്പിളുകൾ", "ml")) == ["5"]
    assert unspoken(normalize_text("123456789 ብር", "am")) == ["123456789"]
    assert normalize_text("ആപ്പിളുകൾ.", "ml") == "ആപ്പിളുകൾ."
    assert spoken_readings("5 ആപ്പിളുകൾ", "ml") == ["5 ആപ്പിളുകൾ"]


def test_other_languages_keep_their_symbols_for_rejection_not_english_words():
    spoken = normalize_text("Er zahlte 5 € und 3 Äpfel.", "de")
    assert spoken == "Er zahlte fünf € und drei Äpfel." and unspoken(spoken) == ["€"]


@pytest.mark.parametrize(
    "lang, text, spoken",
    [
        ("de", "Er zahlte 3,5 Millionen und 1.000 Euro, 20 %.",
         "Er zahlte drei Komma fünf Millionen und eintausend Euro, zwanzig Prozent."),
        ("de", "Im Jahr 1850 kamen 1.850 Leute.", "Im Jahr achtzehnhundertfünfzig kamen eintausendachthundertfünfzig Leute."),
        ("nl", "In 1850 waren er 2.500 mensen.", "In achttien honderd vijftig waren er tweeduizendvijfhonderd mensen."),
        ("fr", "Il a 2,5 ans et 10 000 voisins, 50 %.", "Il a deux virgule cinq ans et dix mille voisins, cinquante pour cent."),
        ("fr", "Il a 10\u202f000 voisins.", "Il a dix mille voisins."),
        ("fr", "Le 1er janvier.", "Le premier janvier."),  # NeMo's reading; our rules left "1er"
        ("DE", "Es waren 2.500 Leute.", "Es waren zweitausendfünfhundert Leute."),
        ("nb", "Det var 2,5 prosent, 10 000 mennesker.", "Det var to komma fem prosent, ti tusen mennesker."),
        ("ja", "1,000円です。", "千円です。"),
    ],
)
def test_numbers_of_other_languages_are_read_as_they_are_written(lang, text, spoken):
    assert normalize_text(text, lang) == spoken and unspoken(spoken) == []


@pytest.mark.parametrize(
    "lang, text, left",
    [
        ("de", "Am 3. Mai um 8:30 Uhr.", ["3.", "8:30"]),  # ordinal or sentence end? a clock time
        ("de", "Um 20.15 Uhr.", ["20.15"]),
        ("it", "Ha 3,5 anni.", ["3,5"]),  # num2words drops Italian decimals ("tre")
        ("ru", "В 1850 году, 5 раз.", ["1850", "5"]),  # declined: "в тысяча восемьсот пятидесятом году"
        ("de", "Es wog 2,5 kg und lief 10 km.", ["2,5", "10"]),  # "Kilogramm": declined units are not spelled
        ("ko", "3시에.", ["3시에."]),
        ("de", "Es kamen 10 000 Leute, Zimmer 007.", ["10", "000", "007."]),  # grouped as it is not written here
        ("de", "Er ist 1,80 groß.", ["1,80"]),  # "eins achtzig" or "eins Komma acht null"
        ("de", "Wir treffen uns am 3. Dann am 3.Mai.", ["3.", "3.Mai."]),
        ("de", "Von 1990-2000 bei -5 Grad.", ["1990-2000", "-5"]),
        ("sv", "År 1850.", ["1850."]),  # "artonhundrafemtio", which num2words cannot say
        ("de", "Es wog 2,5  Kg, 3 Mio. Euro.", ["2,5", "3"]),
        ("de", "Die Zahl 0,30000000000000004.", ["0,30000000000000004."]),
        ("fr", "Il y a 21 maisons.", ["21"]),
        ("pt", "São 2 casas.", ["2"]),
        ("ca", "Hi ha 1 casa i 200 persones.", ["1", "200"]),  # una/un, dues-centes/dos-cents
        ("de", "Es war 1 Hund.", ["1"]),  # ein, eine, eins
        ("sv", "Det var 1 bil.", ["1"]),
    ],
)
def test_numbers_that_could_be_misread_keep_their_digits_for_rejection(lang, text, left):
    assert unspoken(normalize_text(text, lang)) == left


def test_compiled_grammars_load_fast_in_a_fresh_process():
    """The grammars are compiled once into the cache (bin/setup --test, or the first use here:
    about a minute); a new process loads them from there."""
    spoken_readings("It cost $5.50.")  # compiles them into the cache if nothing has yet
    assert any(grammar_cache_dir("en").glob("*.far"))
    script = ("import time; from tts_assets.text.nemo import deterministic_normalizer; t = time.perf_counter(); "
              "deterministic_normalizer('en'); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert float(done.stdout.split()[-1]) < 5


def test_the_dagster_code_location_does_not_load_nemo():
    script = "import sys, tts_assets.definitions; print('nemo_text_processing' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.split()[-1] == "False"
