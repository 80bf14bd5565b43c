"""Text normalisation shared by the verifiers: the forms that exact match compares and that the number
and LaTeX parsers start from."""

from __future__ import annotations

import re

# Wrappers that carry no meaning for the value: \text{..}, \mathrm{..}, \mbox{..} keep their content.
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad\b|~")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])\s*|\\(?:displaystyle|textstyle)\b\s*")
_FRAC_ALIASES = re.compile(r"\\[dt]frac\b")
# Relations as models write them, as the one spelling both readers know.
_RELATIONS = (
    (re.compile(r"\\geqslant|\\geq|\\ge(?![A-Za-z])|>=|\\gg(?![A-Za-z])"), r"\\geq "),
    (re.compile(r"\\leqslant|\\leq|\\le(?![A-Za-z])|<="), r"\\leq "),
    (re.compile(r"\\neq|\\ne(?![A-Za-z])|!="), r"\\neq "),
    (re.compile(r"\\gt(?![A-Za-z])"), ">"),
    (re.compile(r"\\lt(?![A-Za-z])"), "<"),
)
# `x = 2 \quad x = -3`: a spacing command between two assignments separates two answers.
_QUAD_BETWEEN_ANSWERS = re.compile(
    r"\s*\\q?quad\s*(?:(?:and|or)\s*(?:\\q?quad\s*)?)?(?=[A-Za-z](?:_\{?\w+\}?)?\s*=)"
)
_TRAILING_BACKSLASH = re.compile(r"\s*\\+$")
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
        "≤": r"\leq ",
        "≥": r"\geq ",
        "≠": r"\neq ",
        "⩽": r"\leq ",
        "⩾": r"\geq ",
        "√": r"\sqrt",
        "∪": r"\cup ",
        "∅": r"\emptyset ",
        "\u00a0": " ",
        "²": "^2",
        "³": "^3",
        "½": " 1/2",
        "⅓": " 1/3",
        "⅔": " 2/3",
        "¼": " 1/4",
        "¾": " 3/4",
        "∩": r"\cap ",
        # Full-width forms that CJK models write.
        **{chr(0xFF10 + digit): str(digit) for digit in range(10)},
        "．": ".",
        "，": ",",
        "／": "/",
        "＋": "+",
        "－": "-",
        "＝": "=",
        "％": "%",
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
        text = _TEXT_WRAPPER.sub(r" \1 ", text).strip()  # ` \text{and} ` stays a word
    text = _TRAILING_BACKSLASH.sub("", text)  # `5\` left by a line break or a cut-off command
    text = text.replace(",\\!", ",")  # `1,\!000`: a thousands separator, not a list
    if text.count("=") > 1:
        text = _QUAD_BETWEEN_ANSWERS.sub(", ", text)
    text = _SPACING.sub(" ", text)
    text = _SIZING.sub("", text)
    for relation, spelling in _RELATIONS:
        text = relation.sub(spelling, text)
    text = _FRAC_ALIASES.sub(r"\\frac", text)
    text = _BARE_PI.sub(r"\\pi", text)
    text = re.sub(r"\s+\^", "^", text)  # `36 \text{ cm}^2`
    text = text.replace("\\varnothing", "\\emptyset")
    text = text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$")
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(".").strip()


# A name, what a "name = value" answer labels: a symbol with its index and primes (`x`, `x_1`, `a_{n}`,
# `\alpha`, `f'`), points (`AB`, `\overline{AB}`, `m\angle ABC`), a function of names or numbers (`f(2)`,
# `P(A \cap B)`, `\sin\theta`, `\max f(x)`), a ratio of names (`S_1:S_2`, `a:b:c`, `\frac{PQ}{RS}`) or a tuple
# of names (`(x, y)`). Never an expression (`2x`, `x + 5`, `x^2`, `xy`): after `=` it has an equation's
# other side, not its value (`2x + 3y = 12` does not answer 12).
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|rho|sigma"
    "|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Phi|Psi|Omega"
)
_INDEX = r"(?:_(?:\w|\{[\w+\-, ]*\}))?'*"
_SYMBOL = (
    rf"(?:[A-Z]{{2,}}|[A-Za-z]|\\(?:{_GREEK})(?![A-Za-z])"
    rf"|\\(?:overline|overrightarrow|vec|bar|hat|widehat|tilde)\s*\{{\s*(?:[A-Za-z]+|\\(?:{_GREEK}))\s*\}}"
    rf"|(?:m\s*)?\\(?:angle|measuredangle)\s*(?:[A-Z]{{1,3}}|\d|\\(?:{_GREEK})(?![A-Za-z]))){_INDEX}"
)
_FUNCTION = (
    r"\\?(?:sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|sinh|cosh|tanh|log|ln|exp|max|min|gcd|lcm|det)"
    rf"(?![A-Za-z]){_INDEX}"
)
_ARGUMENT = rf"(?:{_SYMBOL}|[-+]?\d+(?:\.\d+)?|\\pi(?![A-Za-z]))"
_ARGUMENTS = rf"\(\s*{_ARGUMENT}(?:\s*(?:,|\||\\mid|\\cap|\\cup|\\setminus)\s*{_ARGUMENT})*\s*\)"
_APPLIED = rf"(?:{_FUNCTION}\s*)?{_SYMBOL}(?:\s*{_ARGUMENTS})?|{_FUNCTION}\s*(?:{_ARGUMENTS}|{_ARGUMENT})"
_NAME = re.compile(
    rf"(?:{_APPLIED})(?:\s*[:/]\s*(?:{_APPLIED}))*"
    rf"|\\frac\s*\{{\s*(?:{_APPLIED})\s*\}}\s*\{{\s*(?:{_APPLIED})\s*\}}"
    rf"|\(\s*(?:{_APPLIED})(?:\s*,\s*(?:{_APPLIED}))+\s*\)"
)


def is_name(text: str) -> bool:
    """Whether `text` names a quantity (`x_1`, `f(2)`, `m\\angle ABC`, `(x, y)`) rather than computing one
    (`2x + 3y`): only a name's `=` gives its value."""
    return bool(_NAME.fullmatch(text.strip()))


def strip_assignment(text: str) -> str:
    """`x = 3` → `3`, `x \\in [0, 1]` → `[0, 1]`: the value a single-variable answer assigns. A chain keeps
    its name (`A = \\pi r^2 = 16\\pi`): without it, `\\pi r^2 = 16\\pi` is an equation, not a value."""
    assignment = _ASSIGNMENT.match(text)
    if assignment is None or "=" in text[assignment.end() :]:
        return text
    return text[assignment.end() :]
