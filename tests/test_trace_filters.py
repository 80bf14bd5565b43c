"""Trace filters on tables of traces written the way models write them: the exact reason each one gives,
and the curate stage's counts by (unit, reason) when they run in order."""

from __future__ import annotations

from collections import Counter

import pytest

from filters import find_answer
from filters.curation import Draws, Trace, curate_problem
from filters.trace_filters import (
    DEFAULT_TRACE_FILTERS,
    TRACE_FILTERS,
    FormatFilter,
    RepetitionFilter,
    ScriptMixFilter,
    SeveralBoxesFilter,
    ThinkFormatFilter,
    TokenLengthFilter,
    TrivialReasoningFilter,
    TruncatedFilter,
)

PENCILS = "Sam buys 4 pencils at $3 each and pays with a $20 bill. How much change does he get?"

# Qwen-style: a short boxed chain of thought with a displayed formula.
QWEN_SHORT = r"""To find the change, we first find the cost of the pencils.

Sam buys 4 pencils at \$3 each:
\[
4 \times 3 = 12
\]

He pays with \$20, so his change is \(20 - 12 = 8\) dollars.

Therefore, Sam gets \(\boxed{8}\) dollars in change."""

# Qwen-style, longer: restates `ab = 48` and `d = 10` while checking, and fills lines with `\[` and `\]`.
QWEN_RESTATING = r"""Let the side lengths be \(a\) and \(b\).

From the perimeter:
\[
2(a + b) = 28 \implies a + b = 14
\]

From the area:
\[
ab = 48
\]

The diagonal \(d\) satisfies \(d^2 = a^2 + b^2\). We expand:
\[
a^2 + b^2 = (a + b)^2 - 2ab
\]
Substituting the values:
\[
a^2 + b^2 = 14^2 - 2 \cdot 48
\]
\[
= 196 - 96
\]
\[
= 100
\]
So \(d^2 = 100\), and
\[
d = 10
\]

Check: the sides are the roots of \(t^2 - 14t + 48 = 0\), that is \(t = 6\) and \(t = 8\).
\[
ab = 48
\]
\[
d^2 = 36 + 64 = 100
\]
\[
d = 10
\]

The length of the diagonal is \(\boxed{10}\)."""

# A case check: the same words around new numbers on every line, for n = 1 … 12.
CASE_CHECK = (
    "We need the smallest positive n such that n^2 + 1 is divisible by 29. We check each n in turn.\n"
    + "\n".join(f"n = {n}: n^2 + 1 = {n * n + 1}, which is not divisible by 29." for n in range(1, 12))
    + "\nn = 12: n^2 + 1 = 145 = 5 * 29, which is divisible by 29.\n\nThe smallest such n is \\boxed{12}."
)

# Llama-style: numbered steps and "The final answer is".
LLAMA_STEPS = r"""## Step 1: Find the cost of the pencils
Each pencil costs $3, so 4 pencils cost 4 * 3 = $12.

## Step 2: Find the change
Sam pays with a $20 bill, so his change is 20 - 12 = $8.

The final answer is: $\boxed{8}$"""

# DeepSeek-R1-style: reasoning in <think>, then the answer.
R1_THINK = r"""<think>
Okay, so Sam buys 4 pencils at $3 each. That's 4 times 3, which is 12 dollars. He pays with a 20-dollar bill,
so the change is 20 minus 12. Let me check: 12 + 8 = 20. Yes, 8 dollars.
</think>

Sam spends \(4 \times 3 = 12\) dollars, so his change is \(20 - 12 = \boxed{8}\) dollars."""

# A small model's loop on one line, ended by a stop token rather than by max_tokens.
LOOP_SENTENCE = (
    "Sam pays 20 dollars and the pencils cost 12 dollars, so he gets 8 dollars back. "
    + "So the answer is 8. " * 14
)
# The same paragraph written again and again.
LOOP_PARAGRAPHS = "First, 4 pencils cost 4 * 3 = 12 dollars.\n\n" + "\n\n".join(
    ["To find the change, we subtract the cost from 20: 20 - 12 = 8. So the change is 8 dollars."] * 5
)
# A thinking loop of two lines.
LOOP_LINES = (
    "<think>\nThe pencils cost 4 * 3 = 12 dollars.\n"
    + "Wait, 12 + 8 = 20.\nSo the change is 8.\n" * 6
    + "</think>\n\nThe change is \\boxed{8}."
)
# The same loop in Chinese: each Han character is a word, so the n-gram checks see it.
LOOP_CHINESE = "铅笔一共12美元，找零是20 - 12 = 8美元。" + "所以答案是8。" * 12
# One long sentence derived twice, word for word, inside a long paragraph.
DERIVED_TWICE = (
    "Let the width be w, so the length is 2w + 3 and the perimeter is 2(w + 2w + 3) = 6w + 6. "
    "Setting the perimeter equal to 42 gives 6w + 6 = 42, so 6w = 36 and w = 6, which makes the length 15. "
    "Hmm, let me make sure I used the right formula for the perimeter of a rectangle here. "
    "Setting the perimeter equal to 42 gives 6w + 6 = 42, so 6w = 36 and w = 6, which makes the length 15. "
    "The area is then 6 * 15 = 90 square units. \\boxed{90}"
)
# A whole long derivation line restated at the end among shorter lines.
RESTATED_LONG_LINE = (
    "We use the formula for the sum of an arithmetic series with first term 3, difference 4, 20 terms.\n"
    "The last term is 3 + 19 * 4 = 79.\n"
    "Sum = 20 * (3 + 79) / 2 = 20 * 82 / 2 = 10 * 82 = 820, since the average term is (3 + 79) / 2 = 41.\n"
    "Check the count of terms: from 3 to 79 in steps of 4.\n"
    "(79 - 3) / 4 + 1 = 20.\n"
    "Good.\n"
    "Check the average: 41.\n"
    "Check the product: 20 * 41 = 820.\n"
    "Everything agrees.\n"
    "Sum = 20 * (3 + 79) / 2 = 20 * 82 / 2 = 10 * 82 = 820, since the average term is (3 + 79) / 2 = 41.\n"
    "\\boxed{820}"
)
# A long paragraph restated at the end among short paragraphs.
COMMITTEES = (
    "The number of ways to choose a committee of 3 from 10 people is C(10, 3) = 10 * 9 * 8 / 6 = 120, "
    "because the order of the members does not matter and each group of 3 is counted 3! = 6 times."
)
RESTATED_LONG_PARAGRAPH = (
    f"{COMMITTEES}\n\nCheck: 10 * 9 * 8 = 720.\n\nThen 720 / 6 = 120.\n\nSo there are 120 committees.\n\n"
    f"{COMMITTEES}\n\n\\boxed{{120}}"
)


def trace(text: str, index: int = 0, problem: str = PENCILS, **fields: object) -> Trace:
    return Trace(problem_id="p", index=index, problem=problem, text=text, **fields)


@pytest.mark.parametrize(
    "finish_reason, expected",
    [
        ("length", "truncated"),  # cut off at max_tokens
        ("stop", None),  # ended by itself
        (None, None),  # the engine gave no reason: nothing to judge
    ],
)
def test_truncated(finish_reason, expected):
    assert TruncatedFilter().drop_reason(trace(QWEN_SHORT, finish_reason=finish_reason)) == expected


@pytest.mark.parametrize(
    "asked_format, found_by, expected",
    [
        ("boxed", "boxed", None),  # boxed as asked
        ("boxed", "bare", "not_boxed"),  # `13 + 20 = 33` under a boxed prompt: why the filter exists
        ("boxed", "marker", "not_boxed"),  # "The answer is 8." instead of the box
        ("boxed", "last_number", "not_boxed"),  # only a closing sentence's number
        ("answer_line", "marker", None),  # "Answer: 8"
        ("answer_line", "pattern", None),  # the data set's own regex for its answer line
        ("answer_line", "boxed", "no_answer_line"),  # a box where a line was asked
        ("answer_line", "last_equation", "no_answer_line"),  # only a closing equation
        (None, "last_number", None),  # the prompt asked for no format
        ("json", "bare", None),  # a format this filter does not know is not judged
    ],
)
def test_format_by_found_by(asked_format, found_by, expected):
    judged = trace("...", asked_format=asked_format, found_by=found_by)
    assert FormatFilter().drop_reason(judged) == expected


@pytest.mark.parametrize(
    "text, asked_format, expected",
    [
        (QWEN_SHORT, "boxed", None),  # the box the prompt asked for
        ("13 + 20 = 33", "boxed", "not_boxed"),  # bare, no box
        ("Adding the two gives 13 + 20 = 33.\nThe final answer is 33.", "boxed", "not_boxed"),  # Llama-style
        ("Adding the two gives 13 + 20 = 33.\nAnswer: 33", "answer_line", None),  # the line asked for
        ("Adding the two gives 13 + 20 = 33.\n\n**Answer:** 33", "answer_line", None),  # in markdown
        ("Adding the two gives 13 + 20 = 33.\n#### 33", "answer_line", None),  # GSM8K's marker reads the same
        (r"Adding the two gives 13 + 20 = \boxed{33}.", "answer_line", "no_answer_line"),  # a box, no line
        ("Adding the two gives 13 + 20 = 33.", "answer_line", "no_answer_line"),  # a closing sentence only
    ],
)
def test_format_on_what_the_verifier_finds(text, asked_format, expected):
    found = find_answer(text)
    assert found is not None
    judged = trace(text, asked_format=asked_format, found_by=found.how)
    assert FormatFilter().drop_reason(judged) == expected


@pytest.mark.parametrize(
    "params, text, completion_tokens, problem, expected",
    [
        ({"min_tokens": 5}, "8", 3, PENCILS, "too_short"),  # the teacher's count is below the floor
        ({"max_tokens": 512}, QWEN_SHORT, 600, PENCILS, "too_long"),  # the teacher's count is over
        ({"max_tokens": 512}, QWEN_SHORT, 80, PENCILS, None),  # within bounds
        ({"max_tokens": 10}, QWEN_SHORT, None, PENCILS, "too_long"),  # no engine count: whitespace words
        ({"max_tokens": 100}, QWEN_SHORT, None, PENCILS, None),  # no engine count, within bounds
        ({}, "", 0, PENCILS, "too_short"),  # an empty trace, by the default floor of one token
        ({"max_problem_tokens": 10}, QWEN_SHORT, 600, PENCILS, "problem_too_long"),  # problem first
        ({"max_problem_tokens": 20}, QWEN_SHORT, 80, PENCILS, None),  # the 19-word problem fits
    ],
)
def test_token_length_without_tokenizer(params, text, completion_tokens, problem, expected):
    judged = trace(text, problem=problem, completion_tokens=completion_tokens)
    assert TokenLengthFilter(**params).drop_reason(judged) == expected


def test_token_length_counts_with_the_students_tokenizer(embedded_model):
    # SmolLM2 writes each digit as a token: 4 words (and 4 engine tokens here) are 29 tokens of the student's.
    judged = trace("The product is 123456789012345678901234.", completion_tokens=4)
    assert TokenLengthFilter(max_tokens=10).drop_reason(judged) is None
    tokenized = TokenLengthFilter(tokenizer=str(embedded_model), max_tokens=10)
    assert tokenized.drop_reason(judged) == "too_long"
    assert TokenLengthFilter(tokenizer=str(embedded_model), max_tokens=40).drop_reason(judged) is None
    long_problem = trace(QWEN_SHORT, problem=PENCILS + " 1234567890" * 3, completion_tokens=4)
    bounded = TokenLengthFilter(tokenizer=str(embedded_model), max_problem_tokens=40)
    assert bounded.drop_reason(long_problem) == "problem_too_long"  # 22 words, 58 tokens


@pytest.mark.parametrize(
    "text, expected",
    [
        (QWEN_SHORT, None),  # a short chain of thought: too few lines and words for any check
        (QWEN_RESTATING, None),  # restated equation lines and many `\[`, `\]` lines are not a loop
        (CASE_CHECK, None),  # a case check repeats its words around new numbers: not a loop
        (LLAMA_STEPS, None),  # numbered steps
        (R1_THINK, None),  # thinking, then the answer
        (LOOP_SENTENCE, "top_2gram"),  # one sentence looped on a single line
        (LOOP_PARAGRAPHS, "repeated_paragraphs"),  # one paragraph written five times
        (LOOP_LINES, "repeated_lines"),  # two lines looped inside <think>
        (LOOP_CHINESE, "top_3gram"),  # a loop in Chinese, read a character at a time
        (DERIVED_TWICE, "duplicated_5gram"),  # a long sentence written twice in one paragraph
        (
            RESTATED_LONG_LINE,
            "repeated_line_chars",
        ),  # one long line of eleven restated: few lines, many chars
        (RESTATED_LONG_PARAGRAPH, "repeated_paragraph_chars"),  # the same, for a paragraph of six
    ],
)
def test_repetition(text, expected):
    assert RepetitionFilter().drop_reason(trace(text)) == expected


def test_repetition_guards_are_parameters():
    # Four lines with one restated: the line check only runs from min_lines lines.
    text = "x + y = 10\nx - y = 4\nx = 7\nx = 7"
    assert RepetitionFilter().drop_reason(trace(text)) is None
    assert RepetitionFilter(min_lines=4).drop_reason(trace(text)) is None  # 1 of 4 repeats: 0.25 <= 0.3
    assert RepetitionFilter(min_lines=3).drop_reason(trace("x = 7\nx = 7\ny = 3")) == "repeated_lines"


def test_repetition_shares_from_yaml_lists_become_tuples():
    shares = RepetitionFilter(top_ngram_shares=[0.5, 0.5]).top_ngram_shares
    assert shares == (0.5, 0.5)
    # One share bounds the 2-gram alone: the loop's top 2-gram (0.35) passes, its repeated 5-grams do not.
    assert RepetitionFilter(top_ngram_shares=[0.5]).drop_reason(trace(LOOP_SENTENCE)) == "duplicated_5gram"


@pytest.mark.parametrize(
    "text, expected",
    [
        (R1_THINK, None),  # one block, then the answer
        ("Sam gets \\boxed{8} dollars.", "no_think"),  # a model that does not think
        ("Okay, 4 times 3 is 12.\n</think>\n\\boxed{8}", "no_think"),  # the opening tag left in the prompt
        ("<think>\nOkay, 4 times 3 is 12, and 20 minus 12 is", "unclosed_think"),  # cut off while thinking
        ("</think>\n\\boxed{8}\n<think>\nWait", "unclosed_think"),  # closed before it opened
        ("<think>\n12\n</think>\n<think>\n8\n</think>\n\\boxed{8}", "several_think"),  # two blocks
        ("<think>\n12 <think> 8 </think>\n</think>\n\\boxed{8}", "several_think"),  # nested
        ("<think>\nOkay, 20 - 12 = 8.\n</think>\n\n", "no_answer_after_think"),  # thought, never answered
    ],
)
def test_think_format(text, expected):
    assert ThinkFormatFilter().drop_reason(trace(text)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (QWEN_SHORT, None),  # one box
        ("So \\(x = \\boxed{5}\\).\n\nFinal answer: \\(\\boxed{5}\\)", None),  # the same box restated
        ("\\boxed{ 5 }\n\nSo the answer is \\boxed{5}.", None),  # the same content, other spacing
        ("\\boxed{\\boxed{5}}\n\\boxed{5}", None),  # a box in a box states the same answer
        (
            "Put the answer in \\boxed{}.\nThe sum is \\boxed{7}.",
            None,
        ),  # an empty box in prose states nothing
        ("So \\(x = \\boxed{2}\\) and \\(y = \\boxed{3}\\).", None),  # a multi-part answer on one line
        (
            "x: \\boxed{2}\ny: \\boxed{3}\nSo \\((x, y)\\) is \\boxed{2}, \\boxed{3}.",
            None,
        ),  # parts, then joined
        ("Either \\boxed{2} or \\boxed{3}.", None),  # a hedge on one line: joined, it matches no gold
        (
            "<think>\nMaybe \\boxed{6}? No.\n</think>\nThe answer is \\boxed{8}.",
            None,
        ),  # a candidate in thought
        (
            "The answer is \\boxed{2}.\nWait, recheck: 4 - 1 = 3.\nThe answer is \\boxed{3}.",
            "several_boxed_answers",
        ),  # an answer boxed, then superseded
        ("\\boxed{12}\n\nSo the change is \\boxed{8}.", "several_boxed_answers"),  # an intermediate boxed
    ],
)
def test_several_boxes(text, expected):
    assert SeveralBoxesFilter().drop_reason(trace(text)) == expected


@pytest.mark.parametrize(
    "text, answer, expected",
    [
        ("\\boxed{33}", "33", "trivial_reasoning"),  # the box alone
        ("The answer is 33.", "33", "trivial_reasoning"),  # the statement alone
        ("13 + 20 = 33", "13 + 20 = 33", "trivial_reasoning"),  # bare: the verifier read the whole line
        ("The final answer is: $\\boxed{33}$", "33", "trivial_reasoning"),  # Llama's closing line alone
        (
            "Final Answer: The final answer is $33$. I hope it is correct.",
            "33",
            "trivial_reasoning",
        ),  # Minerva
        ("So 13 + 20 = 33.\nThe answer is \\boxed{33}.", "33", "trivial_reasoning"),  # one equation: 4 words
        ("<think>\nThe answer is 33.\n</think>\n\n\\boxed{33}", "33", "trivial_reasoning"),  # empty thinking
        (
            "The answer is 33.\n\nI hope it helps!",
            None,
            "trivial_reasoning",
        ),  # no answer given: last sentence
        ("We add 13 and 20 to get 33.\n\\boxed{33}", "33", None),  # one sentence of explanation: 8 words
        ("3 × 4 = 12\n12 − 5 = 7\nThe answer is 7.", "7", None),  # two chained equations: 6 words
        (QWEN_SHORT, "8", None),  # a short two-step chain of thought
        (LLAMA_STEPS, "8", None),  # numbered steps
        (R1_THINK, "8", None),  # thinking counts as work
        (
            "小明有13个苹果，又买了20个。\n13 + 20 = 33\n答案是 \\boxed{33}。",
            "33",
            None,
        ),  # Han: a word a character
    ],
)
def test_trivial_reasoning(text, answer, expected):
    assert TrivialReasoningFilter().drop_reason(trace(text, answer=answer)) == expected


CHINESE_PROBLEM = "小明买了4支铅笔，每支3元，付了20元。应找回多少元？"
JAPANESE_PROBLEM = "鉛筆を4本買いました。1本3円です。20円払うと、おつりはいくらですか。"


@pytest.mark.parametrize(
    "problem, text, expected",
    [
        (PENCILS, QWEN_SHORT, None),  # English for an English problem
        (
            PENCILS,
            (
                "First, we find the total cost. Each pencil costs 3 dollars, so 4 pencils cost 3 × 4 = 12 dollars. "
                "然后我们需要计算找零。他付了20美元，所以找零是 20 - 12 = 8 美元。\n\n答案是 \\boxed{8}"
            ),
            "script_mix",
        ),  # drifts into Chinese mid-way
        (
            PENCILS,
            "Стоимость карандашей: 4 × 3 = 12 долларов. Сдача: 20 - 12 = 8 долларов. Ответ: \\boxed{8}",
            "script_mix",
        ),  # answered in Russian
        (
            PENCILS,
            R1_THINK.replace("Yes, 8 dollars.", "Yes, 8 的 dollars."),
            None,
        ),  # one stray Han character in a long trace: under the share
        (
            "A wheel of radius 3 turns through an angle θ = π/3. How far does a point on its rim travel?",
            "The arc length is s = rθ, with θ = π/3 and r = 3. So s = 3 · π/3 = π. The point travels \\boxed{\\pi}.",
            None,
        ),  # Greek letters are maths
        (
            CHINESE_PROBLEM,
            "铅笔的总价是 $4 \\times 3 = 12$ 元。\n应找回 $20 - 12 = 8$ 元。\n\n答案：\\(\\boxed{8}\\)",
            None,
        ),  # Chinese with LaTeX: the commands are no Latin words
        (
            "一个正方形的边长是 5 厘米，求它的面积。",
            "<think>\n边长 x = 5 cm，面积 S = x^2 = 25。\n</think>\n\n正方形的面积是 25 cm²，即 \\boxed{25}。",
            None,
        ),  # Chinese with think tags, variables and a unit: a few Latin letters
        (
            CHINESE_PROBLEM,
            "The pencils cost 4 × 3 = 12 yuan, so the change is 20 − 12 = 8 yuan. \\boxed{8}",
            "script_mix",
        ),  # a Chinese problem answered in English
        (
            JAPANESE_PROBLEM,
            "鉛筆の代金は 4 × 3 = 12 円です。おつりは 20 − 12 = 8 円です。\n答え：\\boxed{8}",
            None,
        ),  # Japanese: kana and Han, as in the problem
        (
            CHINESE_PROBLEM,
            "鉛筆の代金は 4 × 3 = 12 元です。おつりは 20 − 12 = 8 元です。\n答え：\\boxed{8}",
            "script_mix",
        ),  # a Chinese problem answered in Japanese: the kana is foreign
        (
            "$2^{10} - 1 = ?$",
            "我们计算 $2^{10} = 1024$，所以结果是 \\boxed{1023}。",
            None,
        ),  # no letters: not judged
    ],
)
def test_script_mix(problem, text, expected):
    assert ScriptMixFilter().drop_reason(trace(text, problem=problem)) == expected


def test_curate_counts_the_first_dropping_unit():
    units = [(name, TRACE_FILTERS[name]()) for name in DEFAULT_TRACE_FILTERS]
    traces = [
        trace(QWEN_SHORT, 0, asked_format="boxed", found_by="boxed", answer="8"),
        trace(LOOP_SENTENCE, 1, asked_format="boxed", found_by="marker", finish_reason="length"),
        trace("13 + 20 = 33", 2, asked_format="boxed", found_by="bare", answer="13 + 20 = 33"),
        trace(
            "\\boxed{12}\n\nSo the change is \\boxed{8}.",
            3,
            asked_format="boxed",
            found_by="boxed",
            answer="8",
        ),
        trace(LOOP_PARAGRAPHS + "\n\n\\boxed{8}", 4, asked_format="boxed", found_by="boxed", answer="8"),
        trace("The answer is \\boxed{8}.", 5, asked_format="boxed", found_by="boxed", answer="8"),
        trace(
            R1_THINK.replace("Let me check", "让我检查一下，找零应该是八美元，因为"),
            6,
            found_by="boxed",
            answer="8",
        ),
        trace(R1_THINK, 7, correct=False, verdict_reason="wrong_answer"),
        trace(LLAMA_STEPS, 8, asked_format="boxed", found_by="boxed", answer="8"),
    ]
    curated = curate_problem(traces, Draws(drawn=9, correct=8), units, [])
    assert [kept.index for kept in curated.kept] == [0, 8]
    assert Counter((unit, reason) for _, unit, reason in curated.dropped) == {
        ("truncated", "truncated"): 1,  # also unboxed and looping: the first unit names it
        ("format", "not_boxed"): 1,  # bare, and trivial too
        ("several_boxes", "several_boxed_answers"): 1,
        ("repetition", "repeated_paragraphs"): 1,
        ("trivial_reasoning", "trivial_reasoning"): 1,
        ("script_mix", "script_mix"): 1,
        ("verifier", "wrong_answer"): 1,
    }
    assert {dropped.index: reason for dropped, _, reason in curated.dropped} == {
        1: "truncated",
        2: "not_boxed",
        3: "several_boxed_answers",
        4: "repeated_paragraphs",
        5: "trivial_reasoning",
        6: "script_mix",
        7: "wrong_answer",
    }


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("token_length", {"min_tokens": -1}, "min_tokens"),
        ("token_length", {"min_tokens": 100, "max_tokens": 50}, "max_tokens"),  # under the floor
        ("token_length", {"max_tokens": "4k"}, "max_tokens"),
        ("token_length", {"max_problem_tokens": 0}, "max_problem_tokens"),
        ("token_length", {"tokenizer": "/nonexistent/tokenizer"}, "tokenizer"),
        ("token_length", {"min_tokens": True}, "min_tokens"),  # a YAML `yes` is no count
        ("repetition", {"max_duplicate_line_fraction": 1.5}, "max_duplicate_line_fraction"),
        ("repetition", {"max_duplicate_paragraph_fraction": -0.1}, "max_duplicate_paragraph_fraction"),
        ("repetition", {"max_duplicate_line_char_fraction": "0.2"}, "max_duplicate_line_char_fraction"),
        ("repetition", {"max_duplicate_paragraph_char_fraction": 2}, "max_duplicate_paragraph_char_fraction"),
        ("repetition", {"top_ngram_shares": [0.2, 1.2]}, "top_ngram_shares"),
        ("repetition", {"duplicated_ngram_shares": 0.15}, "duplicated_ngram_shares"),  # a number, not a list
        ("repetition", {"duplicated_ngram_shares": "0.15"}, "duplicated_ngram_shares"),
        ("repetition", {"min_lines": 0}, "min_lines"),
        ("repetition", {"min_paragraphs": 2.5}, "min_paragraphs"),
        ("repetition", {"min_words": 0}, "min_words"),
        ("trivial_reasoning", {"min_words": 0}, "min_words"),
        ("script_mix", {"max_foreign_share": 1.1}, "max_foreign_share"),
    ],
)
def test_bad_params_name_the_field(name, params, field):
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        TRACE_FILTERS[name](**params)


def test_every_registered_filter_builds_with_its_defaults():
    for name, cls in TRACE_FILTERS.items():
        assert cls().drop_reason(trace(QWEN_SHORT, answer="8")) in (None, "no_think")
        assert cls.__doc__, name
    assert set(DEFAULT_TRACE_FILTERS) <= set(TRACE_FILTERS)
    assert "think_format" not in DEFAULT_TRACE_FILTERS  # only reasoning models write <think>
