"""NeMo text normalization beyond English: French and Spanish read as NeMo reads them, but for what
NeMo's one reading gets wrong, which keeps its digits (rejected); the grammars compiled once into
the cache and reused. bin/setup --test compiles French (about a minute); Spanish (two to three
minutes, over CI's budget) is tested where its grammars are compiled (`python -m tts_assets.text.nemo es`)."""

import os
import subprocess
import sys

import pytest

from tts_assets.text.nemo import grammar_cache_dir
from tts_assets.text.normalize import normalize_text, spoken_readings, unspoken


@pytest.mark.parametrize(
    "text, spoken",
    [  # our num2words rules left "1er", "2e", "-5", "1 000 000" and "12,5" as digits
        ("Le 14 juillet 1789, il faisait -5 degrés.",
         "Le quatorze juillet mille sept cent quatre-vingt-neuf, il faisait moins cinq degrés."),
        ("Au 2e étage, 80 ans et 1 000 000 de francs.",
         "Au deuxième étage, quatre-vingts ans et un million de francs."),
        ("Il a 12,5 %.", "Il a douze virgule cinq pour cent."),
    ],
)
def test_french_is_read_as_nemo_reads_it(text, spoken):
    assert normalize_text(text, "fr") == spoken and unspoken(spoken) == []
    assert spoken_readings(text, "fr") == [spoken]  # the English readings written out are not French


@pytest.mark.parametrize(
    "text, left",
    [  # NeMo says "un chat" for "une chatte" alike, "deux virgule cinq kg", "un neuf neuf zéro ..."
        ("Elle a 1 chat et 71 ans.", ["1", "71"]),
        ("De 1990-2000, il pesait 2,5 kg.", ["1990-2000,", "2,5"]),
    ],
)
def test_french_numbers_nemo_would_misread_keep_their_digits_for_rejection(text, left):
    assert unspoken(normalize_text(text, "fr")) == left


def test_german_keeps_our_rules_where_nemo_reads_wrong():
    """NeMo 1.2.0's German reads "2.500" as "zwei punkt fünf null null" and a year as a count."""
    assert normalize_text("Im Jahr 1850 kamen 2.500 Leute.", "de") == \
        "Im Jahr achtzehnhundertfünfzig kamen zweitausendfünfhundert Leute."


def test_grammars_are_compiled_once_and_loaded_from_the_cache():
    normalize_text("Il a 5 ans.", "fr")  # compiles them into the cache if bin/setup --test has not
    cache = grammar_cache_dir("fr")
    fars = {far: far.stat().st_mtime_ns for far in cache.glob("*.far")}
    assert len(fars) == 2 and (cache / "ready").exists()  # the tagger and the verbalizer
    script = ("import logging, time; logging.basicConfig(level=logging.INFO); "
              "from tts_assets.text.nemo import deterministic_normalizer; t = time.perf_counter(); "
              "deterministic_normalizer('fr'); print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert float(done.stdout.split()[-1]) < 10 and "compiling" not in done.stderr  # a compile takes a minute
    assert "NeMo fr normalizer ready" in done.stderr
    assert {far: far.stat().st_mtime_ns for far in cache.glob("*.far")} == fars  # nothing rewritten


spanish_compiled = pytest.mark.skipif(
    not (grammar_cache_dir("es") / "ready").exists(),
    reason="Spanish grammars not compiled: python -m tts_assets.text.nemo es (2-3 min)")


@spanish_compiled
@pytest.mark.parametrize(
    "text, spoken",
    [  # our num2words rules left "5,50 €", "8:30", "1999", "Sr.", "XIX" as they were written
        ("Pagó 5,50 € el 3 de mayo de 1999 a las 8:30.",
         "Pagó cinco euros cincuenta céntimos el tres de mayo de mil novecientos noventa y nueve "
         "a las ocho y media."),
        ("Pesa 2,5 kg y mide 10 km.", "Pesa dos coma cinco kilogramos y mide diez kilómetros."),
        ("El Sr. García y la Dra. López.", "El señor García y la Doctora López."),
        ("Es el siglo XIX.", "Es el siglo diecinueve."),
        ("Tiene 1.150 habitantes.", "Tiene mil ciento cincuenta habitantes."),
    ],
)
def test_spanish_is_read_as_nemo_reads_it(text, spoken):
    assert normalize_text(text, "es") == spoken and unspoken(spoken) == []


@spanish_compiled
@pytest.mark.parametrize(
    "text, left",
    [  # NeMo says "un casa", "veintiún años", "doscientos personas", "tercero piso"
        ("Hay 1 casa, 21 años y 200 personas.", ["1", "21", "200"]),
        ("Vive en el 3.º piso.", ["3.o"]),
        ("Vive en el n.º 5.", ["5."]),  # NeMo: "n punto o cinco"
        ("De 1990-2000.", ["1990-2000."]),
    ],
)
def test_spanish_numbers_nemo_would_misread_keep_their_digits_for_rejection(text, left):
    assert unspoken(normalize_text(text, "es")) == left
