"""Numbers of the languages besides English, spelled as each writes them; any other language keeps
its digits."""

from __future__ import annotations

import re

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


def spell_out(text: str, lang: str) -> str:
    """Spell ordinals ("21st") and the numbers of a language of NUMBER_STYLES as it writes them, with
    "%" where PERCENT has its word; leave the digits of any number that could be misread, and of any
    other language."""
    text = ordinals(text, lang)
    base = re.split(r"[-_]", lang.lower())[0]
    base = LANGUAGE_ALIASES.get(base, base)
    if base not in NUMBER_STYLES:
        return text
    thousands, decimal = NUMBER_STYLES[base]
    # A number glued to letters ("MP3", "1er") is left; in Japanese, written without spaces, only
    # to Latin ones: "1,000円" is "千円".
    word = "A-Za-z0-9_" if base == "ja" else "\\w"
    grouped = rf"\d{{1,3}}(?:[{re.escape(thousands)}]\d{{3}})+|"
    fraction = rf"(?:{re.escape(decimal)}\d+)?" if base in SPOKEN_DECIMALS else ""
    period = r"(?!\.)" if base in ORDINAL_PERIOD else r"(?!\.[^\W\d_])"  # "3.Mai", "3.º"
    unit = rf"(?!\s*(?i:{_LOCAL_UNITS})(?![{word}]))"
    number = re.compile(
        rf"(?<![{word}.,:/])(?<!\d\s)((?:{grouped}\d+){fraction}){period}{unit}(?![{word}:/]|[.,]\d|\s\d)(\s?%)?"
    )

    def spoken(match: re.Match) -> str:
        written, percent = match.groups()
        whole, _, fraction_digits = written.partition(decimal) if decimal in written else (written, "", "")
        whole = re.sub(rf"[{re.escape(thousands)}]", "", whole)
        year_like = whole == written and re.fullmatch(r"1[1-9]\d\d", whole)
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

    return number.sub(spoken, text)
