"""What a username, an email address and a password must be: one set of rules for the web
forms and the `flask create-user` command.

Addresses have only ASCII before the @: mail to others needs SMTPUTF8 on every server on the
way, which a sign-up cannot find out, and look-alike letters (a Cyrillic `о` in `bоb`) would
give two accounts addresses that read the same. Domains may be internationalised.
Passwords must be hard to guess: zxcvbn (Dropbox's estimator, offline) scores each against its
lists of common passwords, words and names, and against the account's own name and address.

Names and addresses that only look alike are one identity too: Unicode TR39's confusable
skeleton (`skeleton()`) maps each character to the one it is confused with, so `r00t`,
`rооt` (Cyrillic о) and `root` share one, as do `ada@copy.example` and an all-Cyrillic
`ada@сору.example`; the database keeps each account's skeletons under unique constraints.

Each check takes what a person typed and returns it in canonical form, or raises
InvalidValue with a message to show them. Names and addresses are compared in canonical
form (Unicode NFKC, then case-folded), so `Ada`, `ADA` and a full-width `Ａｄａ` are one
person; the database stores that form under a unique constraint.
"""

import functools
import re
import unicodedata

USERNAME_PATTERN = re.compile(r"[a-z0-9_.-]{3,64}")  # matched whole: no newline sneaks in
PASSWORD_MIN, PASSWORD_MAX = 8, 128
# zxcvbn's scores: 3 is "safely unguessable" (about 10^8 guesses and more), as Flask-Security asks.
PASSWORD_MIN_SCORE = 3
# zxcvbn's time grows fast with the length (0.4 s for 72 random characters, on a busy machine):
# it sees the first 32, and a password whose first 32 characters are hard to guess is.
ZXCVBN_MAX = 32
TOO_GUESSABLE = (
    "This password is too easy to guess: it is a common one, or close to your username or "
    "email address. Try a few uncommon words together."
)
EMAIL_MAX = 254
# No field of the forms needs more (the longest, a password, has PASSWORD_MAX): a longer value
# is refused before any other check. Whole forms are capped too (MAX_FORM_MEMORY_SIZE).
FIELD_MAX = 1024


# Names that read as the site speaking: nobody signs up as them (`flask create-user` may). A
# name is compared without its dots, dashes, underscores and trailing digits: `ad.min_2` too.
RESERVED_NAMES = frozenset(
    {
        "abuse", "admin", "administrator", "api", "help", "hostmaster", "info", "mail",
        "moderator", "noreply", "owner", "postmaster", "root", "security", "staff", "support",
        "system", "webmaster", "www",
    }
)  # fmt: skip
# Letters of these scripts may share a domain label (Unicode TR39's "highly restrictive"
# level: Japanese, Chinese and Korean writing mix them); any other mix is refused.
SCRIPT_MIXES = [
    {"LATIN", "CJK", "HIRAGANA", "KATAKANA"},
    {"LATIN", "CJK", "BOPOMOFO"},
    {"LATIN", "CJK", "HANGUL"},
]


class InvalidValue(ValueError):
    """A value a person typed breaks a rule; str() is the message to show them."""


def canonical(text: str) -> str:
    """The form in which two spellings of one name compare equal."""
    text = unicodedata.normalize("NFKC", text.strip()).casefold()
    return unicodedata.normalize("NFKC", text)


def refuse_control_characters(text: str) -> str:
    """NUL, newlines, escapes...: no field of this app has a use for them."""
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise InvalidValue("Control characters are not allowed.")
    return text


RESERVED = "That username is reserved. Please choose another."


def check_username(text: str, allow_reserved: bool = False) -> str:
    refuse_control_characters(text)
    name = canonical(text)
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidValue("Use 3 to 64 letters, digits, '.', '_' or '-'.")
    if not allow_reserved and reserved(name):
        raise InvalidValue(RESERVED)
    return name


def reserved(name: str) -> bool:
    """Whether a canonical name reads as the site speaking (RESERVED_NAMES)."""
    return re.sub(r"[._-]", "", name).rstrip("0123456789") in RESERVED_NAMES


def scripts(label: str) -> set[str]:
    """The scripts of a label's letters, by their Unicode names (LATIN SMALL LETTER A...)."""
    return {unicodedata.name(char, "?").split()[0] for char in label if char.isalpha()}


def single_script(label: str) -> bool:
    """Unicode TR39's test against look-alikes such as `еxample` (a Cyrillic е among Latin
    letters): one script per label, or one of the mixes that CJK writing uses."""
    found = scripts(label)
    return len(found) <= 1 or any(found <= mix for mix in SCRIPT_MIXES)


def skeleton(text: str) -> str:
    """Unicode TR39's skeleton of a canonical name or address, case-folded: equal for two
    strings that differ only by characters that look alike (`0` and `o`, Cyrillic `а`
    and Latin `a`), whichever scripts they are written in."""
    decomposed = unicodedata.normalize("NFD", text)
    prototypes = "".join(map(prototype, decomposed))
    return unicodedata.normalize("NFD", prototypes).casefold()


@functools.cache
def look_alikes(char: str) -> tuple[str, ...]:
    """The character and the single characters Unicode's confusables.txt confuses it with."""
    # Imported here: it loads Unicode's table (1 MB of JSON), for forms and the CLI only.
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(char, greedy=True) or []
    return (char, *(h["c"] for entry in found for h in entry["homoglyphs"] if len(h["c"]) == 1))


@functools.cache
def prototype(char: str) -> str:
    """The character that stands for its set of look-alikes: the one most others are
    confused with (`l` for `1`, `I` and `|`), the lowest code point on a tie."""
    return max(look_alikes(char), key=lambda other: (len(look_alikes(other)), -ord(other)))


def check_email(text: str) -> str:
    refuse_control_characters(text)
    # Imported here: it loads a DNS library, a tenth of the app's start-up, for forms only.
    from email_validator import EmailNotValidError, validate_email

    try:
        # No DNS look-up here: a request must not wait on it, and the link we mail proves it.
        # Canonical form first, so a full-width `ａｄａ` becomes ASCII before the check.
        checked = validate_email(canonical(text), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidValue(str(error)) from None
    if not all(single_script(label) for label in checked.domain.split(".")):
        raise InvalidValue(
            "The domain mixes letters of different alphabets, as look-alike addresses do."
        )
    address = canonical(checked.normalized)
    if len(address) > EMAIL_MAX:
        raise InvalidValue(f"An email address has at most {EMAIL_MAX} characters.")
    return address


def check_password(text: str, username: str | None = None, email: str | None = None) -> str:
    """A new password for the account with that username and address."""
    refuse_control_characters(text)
    if not PASSWORD_MIN <= len(text) <= PASSWORD_MAX:
        raise InvalidValue(f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    # Imported here: its word lists take tens of milliseconds to load, for forms only.
    from zxcvbn import zxcvbn

    # Each name whole and in parts: `ada.lovelace@example.com` also gives `ada` and `lovelace`.
    names = [name for name in (username, email) if name]
    inputs = [part for name in names for part in (name, *re.split(r"\W+", name)) if part]
    if zxcvbn(text[:ZXCVBN_MAX], user_inputs=inputs)["score"] < PASSWORD_MIN_SCORE:
        raise InvalidValue(TOO_GUESSABLE)
    return text
