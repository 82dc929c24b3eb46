"""Numbers of the languages NeMo does not read for us, spelled as each writes them (any other
language keeps its digits); for those it reads, the numbers its one reading gets wrong (`keep_misread`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from tts_assets.text.number_words import MAX_NUMBER_DIGITS, num2words, ordinals

# The languages besides English whose numbers are spelled, and how they write them: (thousands
# separators, decimal mark). "1.000" is a thousand in German and "3,5" three and a half; in French
# "10 000" is ten thousand. Every other language keeps its digits, so the clip is rejected rather
# than kept misread: num2words lacks some, loops forever on others (Amharic), runs Turkish words
# together, and gives one form where a language declines its numerals (Russian "в 1850 году",
# Finnish "5:ssä") or inflects them for gender (Hebrew, Arabic, Korean counters).
NUMBER_STYLES = {**dict.fromkeys(("de", "es", "it", "pt", "nl", "da", "id", "ca"), (".", ",")),
                 **dict.fromkeys(("fr", "sv", "no"), (" ", ",")), "ja": (",", ".")}
LANGUAGE_ALIASES = {"nb": "no"}  # num2words knows Norwegian Bokmål as "no"
# num2words reads a one-digit decimal right in these (it drops Italian decimals, says Catalan "punt");
# a longer one is left: "1,80" is read "eins achtzig" as often as "eins Komma acht null".
SPOKEN_DECIMALS = {"de", "fr", "pt", "nl", "sv", "no", "da", "id", "ja"}
# These write ordinals as "3." ("am 3. Mai", "Ludwig der 14."): a number before a period is left.
ORDINAL_PERIOD = {"de", "da", "no"}
# These read a year as hundreds ("achtzehnhundertfünfzig", as English does); num2words can for the
# first group, not for the second, whose four-digit numbers of 1100-1999 are left.
YEARS_IN_HUNDREDS = {"de", "nl", "da"}
YEARS_UNSPELLED = {"sv", "no"}
PERCENT = {"de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento", "pt": "por cento",
           "nl": "procent", "sv": "procent", "da": "procent", "no": "prosent", "ca": "per cent"}
# Abbreviations after a number, whose word (declined, gendered) these rules do not know: the number is left.
_LOCAL_UNITS = "|".join(re.escape(u) for u in sorted(
    {"km", "m", "cm", "mm", "mi", "ft", "kg", "g", "mg", "lb", "lbs", "oz", "ml", "mph", "km/h", "kph", "min",
     "hr", "hrs", "gb", "mb", "hz", "khz", "°c", "°f", "°", "h", "l", "t", "s", "ha", "w", "kw", "v", "mio.",
     "mrd.", "tsd.", "std.", "min.", "sek.", "jh."},
    key=len, reverse=True))


def _agreement_ambiguous(value: int, base: str) -> bool:
    """Whether the word for `value` depends on what it counts, which num2words cannot know:
    "un/une", "uno/una", "dois/duas", "doscientos/doscientas", "ein/eine", "en/ett"."""
    last_two = value % 100
    if base in ("es", "fr", "it", "pt", "ca", "sv", "no") and value % 10 == 1 and last_two != 11:
        return True
    if base in ("es", "pt", "ca") and value % 1000 >= 200:
        return True
    if base in ("pt", "ca") and value % 10 == 2 and last_two != 12:
        return True
    return base in ("de", "da") and last_two == 1


def _style(lang: str) -> str | None:
    base = re.split(r"[-_]", lang.lower())[0]
    base = LANGUAGE_ALIASES.get(base, base)
    return base if base in NUMBER_STYLES else None


def _number_pattern(base: str) -> re.Pattern:
    """A number as `base` writes it, with "%" after it: not glued to letters, not before a unit."""
    thousands, decimal = NUMBER_STYLES[base]
    # A number glued to letters ("MP3", "1er") is left; in Japanese, written without spaces, only
    # to Latin ones: "1,000円" is "千円".
    word = "A-Za-z0-9_" if base == "ja" else "\\w"
    grouped = rf"\d{{1,3}}(?:[{re.escape(thousands)}]\d{{3}})+|"
    fraction = rf"(?:{re.escape(decimal)}\d+)?" if base in SPOKEN_DECIMALS else ""
    period = r"(?!\.)" if base in ORDINAL_PERIOD else r"(?!\.[^\W\d_])"  # "3.Mai", "3.º"
    unit = rf"(?!\s*(?i:{_LOCAL_UNITS})(?![{word}]))"
    return re.compile(
        rf"(?<![{word}.,:/])(?<!\d\s)((?:{grouped}\d+){fraction}){period}{unit}(?![{word}:/]|[.,]\d|\s\d)(\s?%)?"
    )


def _parts(match: re.Match, base: str) -> tuple[str, str, str | None]:
    """The whole part without separators, the decimal digits, the "%" of a `_number_pattern` match."""
    thousands, decimal = NUMBER_STYLES[base]
    written, percent = match.groups()
    whole, _, fraction_digits = written.partition(decimal) if decimal in written else (written, "", "")
    return re.sub(rf"[{re.escape(thousands)}]", "", whole), fraction_digits, percent


def spell_out(text: str, lang: str) -> str:
    """Spell ordinals ("21st") and the numbers of a language of NUMBER_STYLES as it writes them, with
    "%" where PERCENT has its word; leave the digits of any number that could be misread, and of any
    other language."""
    text = ordinals(text, lang)
    base = _style(lang)
    if base is None:
        return text

    def spoken(match: re.Match) -> str:
        whole, fraction_digits, percent = _parts(match, base)
        year_like = whole == match.group(1) and re.fullmatch(r"1[1-9]\d\d", whole)
        kept = (
            (percent and base not in PERCENT)
            or len(fraction_digits) > 1
            or len(whole) > MAX_NUMBER_DIGITS
            or (len(whole) > 1 and whole.startswith("0"))  # "007", a telephone number
            or (not fraction_digits and _agreement_ambiguous(int(whole), base))
            or (base in YEARS_UNSPELLED and year_like)
        )
        if kept:
            return match.group(0)
        if fraction_digits:
            words = num2words(float(f"{whole}.{fraction_digits}"), lang=base)
        elif base in YEARS_IN_HUNDREDS and year_like:
            words = num2words(int(whole), lang=base, to="year")
        else:
            words = num2words(int(whole), lang=base)
        return words + (f" {PERCENT[base]}" if percent else "")

    return _number_pattern(base).sub(spoken, text)


# What NeMo's one reading of these languages gets wrong, besides agreement. Spanish masculine
# ordinals ending in 1 or 3 lose their last vowel before a noun ("el 3.º piso": "tercer piso") but
# not elsewhere ("el 1.º de mayo": "primero"); NeMo always says "primero", "tercero". NeMo's French
# leaves a unit as written ("2,5 kg": "deux virgule cinq kg").
_NEMO_MISREADS = {
    "es": re.compile(r"(?<![\w.,])\d*[13]\.o\b|(?<=\bn\.o )\d+"),  # "º" is "o" after NFKC; "n.º 5": "n punto o"
    "fr": re.compile(rf"(?<![\w.,])\d+(?:[.,\s]\d+)*(?=\s*(?i:{_LOCAL_UNITS})(?!\w))"),
}


def keep_misread(text: str, lang: str, keep: Callable[[re.Match], str]) -> str:
    """`text` with `keep(match)` in place of what NeMo would misread: each whole number whose word
    depends on what it counts ("1 casa": "una", "200 personas": "doscientas"; NeMo says "un casa",
    "doscientos personas") and what `_NEMO_MISREADS` finds, so the clip is rejected rather than kept
    with a word never said. A year (1100-2099 without separators) counts years: it stays."""
    base = _style(lang)
    if base is None:
        return text

    def kept(match: re.Match) -> str:
        whole, fraction_digits, _ = _parts(match, base)
        year = whole == match.group(1) and re.fullmatch(r"1[1-9]\d\d|20\d\d", whole)
        agrees = (not fraction_digits and not year and len(whole) <= MAX_NUMBER_DIGITS
                  and _agreement_ambiguous(int(whole), base))
        return keep(match) if agrees else match.group(0)

    if base in _NEMO_MISREADS:
        text = _NEMO_MISREADS[base].sub(keep, text)
    return _number_pattern(base).sub(kept, text)
