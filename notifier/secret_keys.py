"""Secret keys: how to make a good one, and whether a configured one is too weak to sign with.

The strength of a key is estimated from its text alone, generously for random keys and
passphrases and harshly for patterns: each character that adds something counts the bits
of the alphabets the key draws on together (lower case 26, upper case 26, digits 10,
ASCII punctuation and space 33, anything else 128). A character adds nothing when it
repeats the one before ("aaaa"), continues a run by one ("abcd", "4321"), or repeats
three characters seen earlier ("hunter2hunter2"). Keys from `new_secret_key` are
estimated at 220 bits or more (the least of 300,000 measured); "correct horse battery
staple" at about 150; "password12345678" at under 50.
"""

from __future__ import annotations

import math
import secrets
import string

MIN_DISTINCT_CHARACTERS = 8
MIN_ESTIMATED_BITS = 64

_ALPHABETS = (
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.digits), 10),
    (frozenset(string.punctuation + " "), 33),
)
_OTHER_ALPHABET = 128
"""What any other character (another script, a control character) is counted as drawn from."""
_REPEAT = 3
"""A character ending this many characters already seen in the key adds nothing."""


def new_secret_key() -> str:
    """A fresh key: 32 random bytes from the operating system, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def weakness(key: str) -> str | None:
    """Why the key is too weak to sign with (a few words), or None when it will do."""
    if not key.strip():
        return "only white space"
    distinct = len(set(key))
    if distinct < MIN_DISTINCT_CHARACTERS:
        kinds = "character" if distinct == 1 else "characters"
        return f"{distinct} different {kinds}; {MIN_DISTINCT_CHARACTERS} or more needed"
    bits = estimated_bits(key)
    if bits < MIN_ESTIMATED_BITS:
        return f"about {bits:.0f} bits of randomness; {MIN_ESTIMATED_BITS} or more needed"
    return None


def estimated_bits(key: str) -> float:
    """The key's strength in bits, as the module docstring explains."""
    return _adding_characters(key) * math.log2(_alphabet_size(key))


def _alphabet_size(key: str) -> int:
    used = set(key)
    size = sum(length for alphabet, length in _ALPHABETS if used & alphabet)
    if any(not any(char in alphabet for alphabet, _ in _ALPHABETS) for char in used):
        size += _OTHER_ALPHABET
    return max(size, 2)


def _adding_characters(key: str) -> int:
    """How many characters neither repeat, nor continue a run, nor repeat an earlier part."""
    count = 0
    for index, char in enumerate(key):
        step = ord(char) - ord(key[index - 1]) if index else None
        previous_step = ord(key[index - 1]) - ord(key[index - 2]) if index >= 2 else None
        repeated = index >= _REPEAT - 1 and key[index - _REPEAT + 1 : index + 1] in key[:index]
        if step == 0 or (step in (-1, 1) and step == previous_step) or repeated:
            continue
        count += 1
    return count
