"""Text normalisation shared by the verifiers: the forms that exact match compares and that the number
and LaTeX parsers start from."""

from __future__ import annotations

import re

# Wrappers that carry no meaning for the value: \text{..}, \mathrm{..}, \mbox{..} keep their content.
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b|~")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])\s*|\\(?:displaystyle|textstyle)\b\s*")
_FRAC_ALIASES = re.compile(r"\\[dt]frac\b")
_MATH_DELIMITERS = re.compile(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*(?:=|\\in(?![A-Za-z]))\s*(?=\S)")
_MARKDOWN_EMPHASIS = re.compile(r"^(\*\*|__|\*|_)(.+)\1$")
# Words that are maths when written without a backslash: `2 pi` is not "2 units of pi", `sin x` is not prose.
MATH_WORDS = frozenset(
    "pi ln sin cos tan cot sec csc log exp sqrt max gcd lcm mod det arcsin arccos arctan sinh cosh tanh "
    "inf sup lim infty infinity".split()
)
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
# Unicode maths that models write in prose, as the LaTeX the parsers know.
_UNICODE = str.maketrans(
    {
        "−": "-",
        "–": "-",
        "×": r"\times ",
        "·": r"\cdot ",
        "÷": "/",
        "π": r"\pi ",
        "∞": r"\infty ",
        "≤": r"\le ",
        "≥": r"\ge ",
        "≠": r"\ne ",
        "√": r"\sqrt",
        "∪": r"\cup ",
        "∅": r"\emptyset ",
        "\u00a0": " ",
    }
)


def normalize_text(answer: str) -> str:
    """A canonical string form: no math delimiters, text wrappers, spacing or sizing commands."""
    text = answer.translate(_UNICODE).strip()
    previous = None
    while previous != text:  # wrappers nest: $\text{\textbf{5}}$
        previous = text
        text = _MARKDOWN_EMPHASIS.sub(r"\2", text.rstrip(".").strip())
        text = _MATH_DELIMITERS.sub("", text).strip()
        text = _TEXT_WRAPPER.sub(r"\1", text)
    text = _SPACING.sub(" ", text)
    text = _SIZING.sub("", text)
    text = _FRAC_ALIASES.sub(r"\\frac", text)
    text = _BARE_PI.sub(r"\\pi", text)
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".").strip()


def strip_assignment(text: str) -> str:
    """`x = 3` → `3`, `x \\in [0, 1]` → `[0, 1]`: the value a single-variable answer assigns."""
    return _ASSIGNMENT.sub("", text, count=1)
