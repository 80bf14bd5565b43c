"""Words and word n-grams: the one reading of text that similarity units share (the `diverse` selector,
near-dedup, decontamination), so "the same words" means the same thing in all of them."""

from __future__ import annotations

import re

# Chinese and Japanese are written without spaces: each Han or kana character is a word of its own, or a
# whole sentence would be one word and no n-gram of it would ever match another text.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_UNSPACED}]|[^\\W{_UNSPACED}]+")


def words(text: str) -> list[str]:
    """The lowercased `\\w+` tokens of `text` (one per Han or kana character): punctuation, LaTeX braces
    and spacing do not count."""
    return _WORD.findall(text.lower())


def word_shingles(text: str, ngram: int) -> frozenset[str]:
    """The set of `ngram`-word runs of `text`; a text shorter than `ngram` words is one shingle, so short
    texts still compare."""
    tokens = words(text)
    if len(tokens) < ngram:
        return frozenset([" ".join(tokens)] if tokens else [])
    return frozenset(" ".join(tokens[at : at + ngram]) for at in range(len(tokens) - ngram + 1))
