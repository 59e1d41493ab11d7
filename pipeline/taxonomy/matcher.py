"""Whole-phrase matching of free text against value → phrases rules (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_TOKEN = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> tuple[str, ...]:
    """Lower-case word tokens; punctuation and case are ignored ("T-Shirts" → t, shirts)."""
    return tuple(_TOKEN.findall(text.lower()))


def _forms(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A phrase and its plurals on the last word (shoe → shoes, dress → dresses)."""
    *head, last = tokens
    return [tokens, (*head, last + "s"), (*head, last + "es")]


class PhraseMatcher:
    """Finds which values' phrases occur in a text, longest match first.

    Matching is over tokens, so "top" never matches inside "topwear". Where phrases overlap,
    the longest one at a position wins and the tokens it covers are consumed ("t-shirt"
    hides the "shirt" in it). ``ignore`` phrases are consumed first and map to nothing.
    """

    def __init__(self, rules: Mapping[str, Sequence[str]], ignore: Sequence[str] = ()):
        exact: dict[tuple[str, ...], str | None] = {normalize(p): None for p in ignore}
        for value, phrases in rules.items():
            for phrase in phrases:
                tokens = normalize(phrase)
                if tokens in exact and exact[tokens] != value:
                    owner = "ignore" if exact[tokens] is None else repr(exact[tokens])
                    raise ValueError(f"phrase {phrase!r} is listed under both {owner} and {value!r}")
                exact[tokens] = value
        self._table = dict(exact)
        for tokens, target in exact.items():  # plurals never override an explicit phrase
            for form in _forms(tokens)[1:]:
                self._table.setdefault(form, target)
        self._longest = max((len(k) for k in self._table), default=1)

    def match(self, text: str) -> set[str]:
        """The set of values whose phrases occur in ``text`` (empty: no match)."""
        tokens = normalize(text)
        found: set[str] = set()
        i = 0
        while i < len(tokens):
            for size in range(min(self._longest, len(tokens) - i), 0, -1):
                key = tokens[i : i + size]
                if key in self._table:
                    value = self._table[key]
                    if value is not None:
                        found.add(value)
                    i += size
                    break
            else:
                i += 1
        return found
