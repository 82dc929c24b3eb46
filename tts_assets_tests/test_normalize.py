"""Text normalization: what the reader says, spelled out."""

import pytest

from tts_assets.text.normalize import normalize_text, spoken_words, unspoken


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
        ("At 8:30, 8:05 or 10:00.", "At eight thirty, eight oh five or ten o'clock."),
        ("There were 100s of them, 1000s even, in the 2s and 6s.",
         "There were hundreds of them, thousands even, in the twos and sixes."),
        ("Card 4012888888881881.", "Card four zero one two eight eight eight eight eight eight eight eight one eight "
                                   "eight one."),  # past 15 digits, digit by digit (num2words overflows)
        ("He was 9½, she ¼ and ¾ of a mile off.",  # before NFKC, which makes "91⁄2" of "9½"
         "He was nine and a half, she a quarter and three quarters of a mile off."),
        ("⅛ of it, 2½ kg at 4½%", "an eighth of it, two and a half kilograms at four and a half percent"),
        ("$1.5 million", "one point five million dollars"),
        ("¥500 or 50¢ or 5 €", "five hundred yen or fifty cents or five euros"),
        ("Version 2.0.1 is out.", "Version two point zero point one is out."),
        ("The 1,000th guest", "The one thousandth guest"),
        ("In the 1990s, the '90s, the 1800s.", "In the nineteen nineties, the nineties, the eighteen hundreds."),
        ("10km, 5 kg, 1 km/h", "ten kilometers, five kilograms, one kilometer per hour"),
        ("It was 98.6°, then 20°C.", "It was ninety eight point six degrees, then twenty degrees Celsius."),
        ("MP3 on A4 for COVID19", "M P three on A four for COVID nineteen"),  # long capitals read as a word
        ("#1 fan", "number one fan"),
        ("2 + 2 = 4", "two plus two equals four"),
        ("Eggs, jam, etc. The end", "Eggs, jam, et cetera. The end"),  # the period also ends the sentence
        ("Eggs, jam, etc.", "Eggs, jam, et cetera."),
        ("Eggs, etc., and jam", "Eggs, et cetera, and jam"),
        ("Smith vs. Jones and Mr. Brown", "Smith versus Jones and Mister Brown"),  # a name follows these
    ],
)
def test_normalize(text, spoken):
    assert normalize_text(text) == spoken


def test_spoken_words_have_no_digits_or_punctuation():
    words = spoken_words(normalize_text("On May 3rd, 1999, Mr. O'Brien paid $5.05 (45%)!"))
    assert words == ["on", "may", "third", "nineteen", "ninety", "nine", "mister", "o'brien", "paid",
                     "five", "dollars", "and", "five", "cents", "forty", "five", "percent"]


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


def test_normalized_text_has_nothing_unspoken():
    text = normalize_text("In the 1990s, MP3 files of #1 hits cost ¥500 (10km at 98.6°) + 5¢ = 9½%.")
    assert text == ("In the nineteen nineties, M P three files of number one hits cost five hundred yen (ten "
                    "kilometers at ninety eight point six degrees) plus five cents equals nine and a half percent.")
    assert unspoken(text) == []


def test_languages_whose_numbers_are_not_spelled_keep_their_digits():
    """num2words lacks Malayalam and loops forever on some Amharic numbers: only the languages of
    NUMBER_STYLES are spelled, and any other keeps its digits, so the clip is rejected."""
    assert unspoken(normalize_text("5 ആപ്പിളുകൾ", "ml")) == ["5"]
    assert unspoken(normalize_text("123456789 ብር", "am")) == ["123456789"]
    assert normalize_text("ആപ്പിളുകൾ.", "ml") == "ആപ്പിളുകൾ."


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
        ("es", "Tiene 1.150 habitantes.", "Tiene mil ciento cincuenta habitantes."),
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
        ("fr", "Le 1er janvier.", ["1er"]),
        ("de", "Es wog 2,5 kg und lief 10 km.", ["2,5", "10"]),  # "Kilogramm": units are spelled in English only
        ("ko", "3시에.", ["3시에."]),
        ("de", "Es kamen 10 000 Leute, Zimmer 007.", ["10", "000", "007."]),  # grouped as it is not written here
        ("de", "Er ist 1,80 groß.", ["1,80"]),  # "eins achtzig" or "eins Komma acht null"
        ("de", "Wir treffen uns am 3. Dann am 3.Mai.", ["3.", "3.Mai."]),
        ("es", "Vive en el 3.º piso.", ["3.o"]),
        ("de", "Von 1990-2000 bei -5 Grad.", ["1990-2000", "-5"]),
        ("en", "From 1990-2000, 3 - 4 times at -5 degrees.", ["1990-2000,", "3", "4", "-5"]),
        ("sv", "År 1850.", ["1850."]),  # "artonhundrafemtio", which num2words cannot say
        ("de", "Es wog 2,5  Kg, 3 Mio. Euro.", ["2,5", "3"]),
        ("de", "Die Zahl 0,30000000000000004.", ["0,30000000000000004."]),
        ("es", "Hay 1 casa, 21 años y 200 personas.", ["1", "21", "200"]),  # una/un, veintiún/a, doscientas
        ("fr", "Il y a 21 maisons.", ["21"]),
        ("pt", "São 2 casas.", ["2"]),
        ("de", "Es war 1 Hund.", ["1"]),  # ein, eine, eins
        ("sv", "Det var 1 bil.", ["1"]),
    ],
)
def test_numbers_that_could_be_misread_keep_their_digits_for_rejection(lang, text, left):
    assert unspoken(normalize_text(text, lang)) == left
