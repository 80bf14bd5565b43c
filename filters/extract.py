"""Find the final answer in a teacher's response."""

from __future__ import annotations

import re
from collections.abc import Sequence

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` or `\\fbox{...}` whose braces balance.

    A box whose braces never close (a truncated response) is skipped, so an earlier complete box wins.
    `\\boxed 5` without braces yields the next token.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} is it")
    '\\\\frac{1}{2}'
    """
    for match in reversed(list(_BOX_COMMAND.finditer(text))):
        rest = text[match.end() :]
        stripped = rest.lstrip()
        if not stripped:
            continue
        if stripped[0] != "{":
            if rest[:1].isspace():  # `\boxed 5`: the argument is the next token
                token = stripped.split(None, 1)[0].rstrip(".$")
                if token:
                    return token
            continue
        depth = 0
        start = len(rest) - len(stripped)
        for index in range(start, len(rest)):
            char = rest[index]
            if char == "{" and (index == 0 or rest[index - 1] != "\\"):
                depth += 1
            elif char == "}" and rest[index - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return rest[start + 1 : index].strip()
    return None


def extract_answer(text: str, patterns: Sequence[str] = ()) -> str | None:
    """The final answer stated in `text`, or None when there is none.

    The last balanced `\\boxed{}` wins; otherwise the last match of the first of `patterns` that matches
    (a regular expression whose first group, or whole match, is the answer).
    """
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in patterns:
        matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
        if matches:
            last = matches[-1]
            answer = (last.group(1) if last.re.groups else last.group(0)).strip()
            if answer:
                return answer
    return None
