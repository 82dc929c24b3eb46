"""English: numbers, ordinals, currency, percentages, units, fractions, decades, clock times,
symbols and abbreviations, spelled out."""

from __future__ import annotations

import re
import unicodedata

from tts_assets.text.number_words import MAX_NUMBER_DIGITS, num2words, ordinals

# These always come before another word (a name, the other side), so their period never ends a
# sentence; the period of the others does when nothing or a capital follows.
PREFIXES = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "prof": "professor",
    "capt": "captain", "col": "colonel", "gen": "general", "lt": "lieutenant", "sgt": "sergeant",
    "rev": "reverend", "hon": "honourable", "vs": "versus",
}
ABBREVIATIONS = {
    **PREFIXES, "sr": "senior", "jr": "junior", "etc": "et cetera", "vol": "volume", "ch": "chapter",
    "approx": "approximately",
}

# symbol: one, many, and the hundredth's one and many (None: its amounts are read as one number).
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", None, None),
              "¢": ("cent", "cents", None, None)}
SCALES = r"(?:\s?(thousand|million|billion|trillion)\b)?"

UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "min": ("minute", "minutes"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"),
}
_UNIT = "|".join(re.escape(unit) for unit in sorted(UNITS, key=len, reverse=True))  # "km/h" before "km"

# "½", "¾", "⅛": NFKC makes "1⁄2" of them, and "91⁄2" of "9½", so they are read before it.
VULGAR_FRACTIONS = "".join(ch for ch in map(chr, range(0x00BC, 0x2190))
                           if unicodedata.decomposition(ch).startswith("<fraction>"))
SYMBOLS = {"+": "plus", "=": "equals"}

_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_DIGITS = re.compile(r"\d+(?:[,.]\d+)*")  # with its thousands separators and decimal point


def _digit_by_digit(match: re.Match) -> str:
    """English numbers longer than MAX_NUMBER_DIGITS are read digit by digit, as people read card
    numbers (and as num2words can: it overflows on a few hundred digits)."""
    number = match.group(0)
    if sum(ch.isdigit() for ch in number) <= MAX_NUMBER_DIGITS:
        return number
    return " ".join("point" if ch == "." else ch for ch in number if ch != ",")


def _cardinal(text: str, lang: str) -> str:
    value = text.replace(",", "")
    number = float(value) if "." in value else int(value)
    return num2words(number, lang=lang)


def _fraction(match: re.Match, lang: str) -> str:
    """"9½" → "nine and a half", "¾" → "three quarters", "⅛" → "an eighth"; with the unit or "%"
    that follows, which the number rules after NFKC no longer see as a number's."""
    whole, fraction, unit = match.groups()
    numerator, _, denominator = unicodedata.normalize("NFKC", fraction).partition("\u2044")
    count, parts = int(numerator), int(denominator)
    name = {2: "half", 4: "quarter"}.get(parts) or num2words(parts, lang=lang, to="ordinal")
    if count != 1:
        name = f"{num2words(count, lang=lang)} {'halves' if parts == 2 else name + 's'}"
    else:
        name = f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
    if whole:
        name = f"{num2words(int(whole), lang=lang)} and {name}"
    if unit:
        name += " percent" if unit == "%" else f" {UNITS[unit][1 if whole else 0]}"  # "a quarter mile"
    return name


def _currency(amount: str, symbol: str, scale: str | None, lang: str) -> str:
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    if scale or sub_one is None:  # "$1.5 million": one point five million dollars
        scale = f" {scale}" if scale else ""
        return f"{_cardinal(amount, lang)}{scale} {one if amount == '1' and not scale else many}"
    whole, _, fraction = amount.replace(",", "").partition(".")
    words = f"{num2words(int(whole), lang=lang)} {one if int(whole) == 1 else many}"
    cents = int(fraction[:2].ljust(2, "0")) if fraction else 0
    if cents:
        words += f" and {num2words(cents, lang=lang)} {sub_one if cents == 1 else sub_many}"
    return words


def _unit(match: re.Match, lang: str) -> str:
    one, many = UNITS[match.group(2)]
    return f"{_cardinal(match.group(1), lang)} {one if match.group(1) == '1' else many}"


def _number(text: str, lang: str) -> str:
    plain = text.replace(",", "")
    if re.fullmatch(r"1[1-9]\d\d|20\d\d", plain) and "," not in text:
        return num2words(int(plain), lang=lang, to="year")  # 1850 → eighteen fifty
    return _cardinal(text, lang)


def _clock(match: re.Match, lang: str) -> str:
    """"8:30" → "eight thirty", "8:05" → "eight oh five", "8:00" → "eight o'clock"."""
    hours, minutes = num2words(int(match.group(1)), lang=lang), int(match.group(2))
    if minutes == 0:
        return f"{hours} o'clock"
    return f"{hours} {'oh ' if minutes < 10 else ''}{num2words(minutes, lang=lang)}"


def _plural_number(digits: str, lang: str) -> str:
    """"100s" → "hundreds", "1000s" → "thousands", "2s" → "twos", "6s" → "sixes"; decades are
    the same plural: "1990s" → "nineteen nineties", "'90s" → "nineties"."""
    words = _number(digits, lang)
    if words.startswith("one ") and set(digits[1:]) == {"0"}:
        words = words.removeprefix("one ")
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith(("x", "s")) else "s")
    return f"{head} {last}".strip()


def _glued(match: re.Match) -> str:
    """Letters and digits in one token apart: "MP3" → "M P 3"; capitals up to three are an acronym
    spelled letter by letter, longer runs ("COVID19") and lowercase are read as words."""
    runs = re.findall(r"\d+|\D+", match.group(0))
    return " ".join(" ".join(run) if run.isupper() and len(run) <= 3 else run for run in runs)


def _abbreviation(match: re.Match) -> str:
    word = match.group(1)
    spoken = ABBREVIATIONS[word.lower()]
    spoken = spoken.capitalize() if word[0].isupper() else spoken
    rest = match.string[match.end():].lstrip(" \t\n\"')]")
    ends_sentence = word.lower() not in PREFIXES and (not rest or rest[0].isupper())
    return spoken + "." if ends_sentence else spoken


def fractions(text: str, lang: str) -> str:
    """Spell vulgar fractions ("9½", "¾ mile", "½%"); run before NFKC, which splits them."""
    return re.sub(rf"(?:(\d+)\s?)?([{VULGAR_FRACTIONS}])(?:\s?({_UNIT}|%)(?!\w))?",
                  lambda m: _fraction(m, lang), text)


def spell_out(text: str, lang: str) -> str:
    """Spell the numbers, symbols and abbreviations of NFKC text whose ranges are protected. The
    order matters: each rule sees only the digits the earlier ones left."""
    text = _DIGITS.sub(_digit_by_digit, text)
    text = re.sub(  # 2.0.1 → two point zero point one
        r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w.]*\d)",
        lambda m: " point ".join(num2words(int(part), lang=lang) for part in m.group(0).split(".")), text,
    )
    symbols = re.escape("".join(CURRENCIES))
    text = re.sub(rf"([{symbols}])\s?({_NUMBER}){SCALES}",
                  lambda m: _currency(m.group(2), m.group(1), m.group(3), lang), text)
    text = re.sub(rf"(?<![\w.])({_NUMBER})\s?([{symbols}])",
                  lambda m: _currency(m.group(1), m.group(2), None, lang), text)
    text = re.sub(r"\b(N)o\.\s?(?=\d)", lambda m: "Number " if m.group(1) == "N" else "number ", text,
                  flags=re.IGNORECASE)
    text = re.sub(r"#\s?(?=\d)", "number ", text)
    text = re.sub(r"(" + _NUMBER + r")\s?%", lambda m: f"{_cardinal(m.group(1), lang)} percent", text)
    text = re.sub(rf"(?<![\w.])({_NUMBER})\s?({_UNIT})(?!\w)", lambda m: _unit(m, lang), text)
    text = ordinals(text, lang)
    text = re.sub(r"(?<![\w.,])'?(\d+)'?s\b", lambda m: _plural_number(m.group(1), lang), text)
    text = re.sub(r"(?<![\w.:])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])", lambda m: _clock(m, lang), text)
    text = re.sub(r"\b\w*(?:[^\W\d_]\d|\d[^\W\d_])\w*", _glued, text)
    text = re.sub(r"(?<![\w.])" + _NUMBER + r"(?![\w])", lambda m: _number(m.group(0), lang), text)
    text = re.sub(r"\s*([+=])\s*", lambda m: f" {SYMBOLS[m.group(1)]} ", text)
    text = re.sub(
        r"\b(" + "|".join(ABBREVIATIONS) + r")\.(?=[\s,;:!?)\"']|$)", _abbreviation, text,
        flags=re.IGNORECASE,
    )
    return text.replace("&", " and ")
