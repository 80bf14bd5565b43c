"""Answer extraction on tables of our own responses: which text is the final answer."""

from __future__ import annotations

import pytest

from filters import extract_answer, find_answer, last_boxed
from filters.extract import boxed_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{42}", "42"),  # the plain case
        (r"\boxed{1} then \boxed{2}", "2"),  # last_boxed alone: the last box
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),  # nested braces balance
        (r"\boxed{\left\{1,2\right\}}", r"\left\{1,2\right\}"),  # escaped braces do not count
        (r"\fbox{7}", "7"),  # \fbox is a box too
        (r"\boxed {5}", "5"),  # space before the brace
        (r"\boxed 5.", "5"),  # brace-less form takes the next token
        (r"\boxed{3} and later \boxed{4", "3"),  # a truncated last box loses to an earlier complete one
        (r"no box here, 12", None),  # nothing boxed
        (r"\boxed{}", ""),  # an empty box is found (extract_answer then reports no answer)
        (r"\boxedx{3}", None),  # a longer command name is not \boxed
        (r"$\boxed{x^{2}}$", "x^{2}"),  # braces inside braces inside math
        (r"\boxed{a} } stray", "a"),  # a stray closing brace after the box is ignored
        ("{ unclosed \\boxed{9}", "9"),  # an unclosed brace before the box does not swallow it
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (r"\boxed{2}, \boxed{3}", "2, 3"),  # several boxes on one line form one answer
        (r"x = \boxed{2} or \boxed{3}", "2, 3"),  # a hedge on one line: joined, so it matches no single gold
        ("\\boxed{2}\nrechecking...\n\\boxed{3}", "3"),  # a box on a later line supersedes earlier ones
        (r"\boxed{2} and again \boxed{2}", "2"),  # the same box twice is one answer
        (r"\boxed{\boxed{5}}", "5"),  # a box in a box
        (r"\boxed{1}\boxed{2", "1"),  # the unclosed last box is skipped
        (r"inside \boxed{}, for example \boxed{42}.", "42"),  # an empty box adds nothing to the line
    ],
)
def test_boxed_answer_joins_boxes_on_the_last_line(text, expected):
    assert boxed_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # markers, in prose
        ("Adding gives 12.\nThe final answer is 12.", "12"),  # "The final answer is", period dropped
        ("The final answer is $\\frac{3}{4}$.", r"\frac{3}{4}"),  # the formula inside the sentence
        ("So the answer is 3.5 because 7/2 = 3.5.", "3.5"),  # a decimal point is not a sentence end
        ("The answer is 12. This is because 3 * 4 = 12.", "12"),  # the explanation after is dropped
        ("x = 12 so\nAnswer: 13", "13"),  # an "Answer:" line beats an intermediate "= 12"
        ("Answer: 1\nlater... Answer: 2", "2"),  # the last statement wins
        ("**Answer:** 73", "73"),  # markdown around the marker
        ("The answer is **73**.", "**73**"),  # emphasis kept here, dropped by normalisation
        ("**Final Answer**: 7", "7"),  # bold marker, colon after the emphasis
        ("Final Answer:\n\n42\n", "42"),  # answer on the line after the marker
        ("FINAL ANSWER: 8", "8"),  # markers are case-insensitive
        ("The answer is: $x = 4$", "x = 4"),  # colon after "is", math delimiters
        ("The answer is \\(5\\)", "5"),  # \( \) delimiters
        ("We get 5 + 6 = 11, therefore the answer is 11; done", "11"),  # semicolon ends the statement
        ("The final answer is 1,000,000.", "1,000,000"),  # thousands separators survive
        ("The answer is $\\frac{1}{2}$ dollars.", r"\frac{1}{2}"),  # the formula, not the unit word
        ("To answer this, compute 4 + 4 = 8.\nThe answer is 8", "8"),  # "To answer this" is no marker
        ("Final answer: -3", "-3"),  # a sign survives
        ("The answer is x^2+1 since we expanded", "x^2+1"),  # "since" starts an explanation
        # boxes beat markers and patterns
        (r"The answer is 9. \boxed{10}", "10"),  # a box beats a stated answer
        (r"Answer: 5" + "\n" + r"\boxed{6}", "6"),  # even an earlier-looking marker line
        # think / answer tags
        ("<think>3 + 4 = 8?</think>The answer is 7.", "7"),  # only the part after </think> counts
        ("<think>maybe \\boxed{8}</think>\\boxed{7}", "7"),  # a box inside the reasoning is not final
        ("<think>so \\boxed{8}</think>I am not sure.", "I am not sure."),  # reasoning boxes never count
        ("<think>long reasoning 3 + 4 = 7", None),  # thinking never closed: no final answer
        ("<answer>12</answer>", "12"),  # an answer tag, bare content
        ("<answer>\\boxed{12}</answer>", "12"),  # a box inside the tag
        ("<answer>The answer is 12.</answer>", "12"),  # a marker inside the tag
        ("<answer>1</answer> then <answer>2</answer>", "2"),  # the last tag
        ("reasoning\n<answer>\n\\frac{1}{2}\n</answer>", r"\frac{1}{2}"),  # multi-line tag content
        ("blah</think>12", "12"),  # a bare answer after </think>
        # bare answers
        ("42", "42"),  # a bare answer is taken whole
        (r"\frac{1}{2}", r"\frac{1}{2}"),  # bare LaTeX
        ("x = 3", "x = 3"),  # a bare assignment (normalisation takes the value)
        ("  7  ", "7"),  # surrounding whitespace
        ("", None),  # nothing at all
        ("   \n  ", None),  # only whitespace
        ("Let me think.\n3 + 4 = 7\nso 7", None),  # several lines, no marker: no answer
        ("Step 1: 2 + 2 = 4.\nStep 2: 4 * 3 = 12.", None),  # intermediate results are never taken
        ("x" * 201, None),  # one line but longer than a bare answer
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text, mode="strict") == expected  # the stated-answer rules


@pytest.mark.parametrize(
    "text, patterns, expected",
    [
        ("The result is 12.", [r"result is\s*(\S+?)\.?$"], "12"),  # a configured pattern, first group
        ("x = 3 so\nRESULT 5\n", [r"^RESULT\s*(.+)$"], "5"),  # line anchors work (MULTILINE)
        ("RESULT 1\nRESULT 2", [r"^RESULT\s*(.+)$"], "2"),  # the last match wins
        (r"The result is 9. \boxed{10}", [r"result is (\d+)"], "10"),  # a box beats every pattern
        ("nothing\nhere", [r"result is (\d+)"], None),  # no match: no answer
        ("Final: 8\nok", [r"nope (\d)", r"Final: (\d)"], "8"),  # the first pattern that matches is used
        ("#### 72\nthanks", [r"####\s*(\S+)"], "72"),  # GSM8K-style answer line
        ("Result 3\nAnswer: 4", [r"Result (\d)"], "3"),  # a configured pattern beats built-in markers
        ("value: 15\nend", [r"value: \d+"], "value: 15"),  # no group: the whole match
    ],
)
def test_extract_answer_patterns(text, patterns, expected):
    assert extract_answer(text, patterns) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I think it's B", "B"),  # a letter in prose
        ("Looking at the options, it is (D).", "D"),  # "it is (D)"
        ("Answer: (C)", "(C)"),  # an answer line keeps its parentheses; normalisation reads the letter
        ("The correct option is A.", "A"),  # "option is A"
        ("A and B are wrong, so the choice is C", "C"),  # the last stated choice
        ("(A) is tempting but (B) is right.\n", "B"),  # parenthesised letters: the last one
        ("reasoning...\nE\n", "E"),  # a letter alone on its line
        ("A train leaves at noon.\nIt arrives late.", None),  # "A" as an article is not a choice
        (r"\boxed{D}", "D"),  # a box beats everything
        ("Hmm.\nI would say it's K", None),  # only A-J are choice letters
    ],
)
def test_extract_choice_letters(text, expected):
    assert extract_answer(text, choices=True) == expected


def test_choice_letters_only_with_a_choice_gold():
    assert extract_answer("Hmm.\nI think it's B") is None  # without a letter gold, prose is not an answer


def test_extraction_is_linear_on_huge_responses():
    import time

    text = "\\boxed{" * 20_000 + "step 1 = 2\n" * 10_000 + "The answer is 5."
    started = time.monotonic()
    assert extract_answer(text) == "5"  # no box closes: the marker decides
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "text, answer, how",
    [
        (r"so \boxed{42}", "42", "boxed"),  # a box is a box in both modes
        (
            "Final Answer: The final answer is $12$. I hope it is correct.",
            "12",
            "marker",
        ),  # Minerva's closing
        ("Final Answer: the smallest $k$ is 12", "12", "marker"),  # the value, not the variable named first
        ("Answer $ 42 $", "42", "marker"),  # "Answer" with no colon before inline maths
        ("Checking.\nAnswer\n\\[ x+1 \\]", "x+1", "marker"),  # ... and before display maths on the next line
        ("Work.\n#### 72", "72", "marker"),  # GSM8K's answer line
        ("Natalia sold 24 clips in May.\nA: 72", "72", "marker"),  # a closing `A:` line
        ("### Final Answer\nThe total cost is $12.", "$12", "marker"),  # a heading, then a sentence
        ("答案是 7页。", "7页", "marker"),  # Chinese marker, CJK full stop, unit glued on
        ("Ответ: 12 рублей.", "12 рублей", "marker"),  # Russian marker
        ("So the answer is indeed 40.", "40", "marker"),  # a filler word after the marker
        ("The answer is not 12; it is 14.", "14", "marker"),  # a corrected statement
        ("Answer: 64 (since 4^3 = 64)", "64", "marker"),  # a parenthetical explanation is not the answer
        ("42", "42", "bare"),  # a bare answer
        ("Janet sells 9 eggs.\nShe makes 9 * 2 = $18 every day.", "$18", "last_number"),  # GSM8K prose
        ("So $y \\le -2$ is what we get.", "y \\le -2", "last_math"),  # the closing formula
        ("Thus the solutions are $x = 2$ and $x = 3$.", "x = 2, x = 3", "last_math"),  # joined formulas
        ("Therefore,\n\\[\nx = 5\n\\]\nI hope this helps!", "x = 5", "last_math"),  # display maths, sign-off
        ("Hence y = 2x + 3z.", "2x + 3z", "last_equation"),  # a formula in plain text
        ("The total is 18, which is 3 more than 15.", "18", "last_number"),  # not the explaining clause
        ("In total it covers 150 miles (about 241 km).", "150", "last_number"),  # not the aside
        ("The total is 8, not 6.", "8", "last_number"),  # not the negated value
        ("所以小明一共有120颗。", "120", "last_number"),  # a Chinese closing sentence
        ("So it ends at 2:30.", "2:30", "last_number"),  # a clock time is one value
        ("So the probability is 5/12.", "5/12", "last_number"),  # a fraction before the full stop
        ("She has 4 cups.\nShe needs twelve more cups.", "12", "last_number"),  # a number word
        ("The answer is 5<|im_end|>\n<|im_start|>user\nNext: \\boxed{9}", "5", "marker"),  # a new turn is cut
        (
            "So 8 tiles.\n\nHuman: and 5 by 5?\n\nAssistant: 25 tiles.",
            "8",
            "last_number",
        ),  # a plain-text turn
        ("I think it is 7\nbut unsure", None, None),  # the closing line states nothing
        ("open('x', 'w').write('1') or 3", None, None),  # code states nothing
        ("<think>so the answer is 7", None, None),  # thinking never closed
    ],
)
def test_lenient_extraction_and_how_it_was_found(text, answer, how):
    found = find_answer(text, mode="lenient")
    assert ((found.answer, found.how) if found else (None, None)) == (answer, how)


@pytest.mark.parametrize(
    "text",
    [
        "Janet sells 9 eggs.\nShe makes 9 * 2 = $18 every day.",  # a value with no statement
        "We solve it.\nSo $y \\le -2$ is what we get.",  # a closing formula
        "She has 4 cups.\nShe needs twelve more cups.",  # a number word
    ],
)
def test_strict_extraction_takes_stated_answers_only(text):
    assert find_answer(text, mode="strict") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("So 15 days after Sunday it will be Monday.", "Monday"),  # a words gold: the words it ends on
        ("The meeting moved, so it is on Friday.", "Friday"),  # after "on"
    ],
)
def test_lenient_reads_closing_words_for_a_words_gold(text, expected):
    assert extract_answer(text, words=True) == expected
    assert extract_answer(text) != expected  # without a words gold, words are not an answer


def test_lenient_reads_a_hedge_between_choices_as_two_answers():
    assert extract_answer("It's either B or C.", choices=True) == "B, C"


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="strict, lenient"):
        find_answer("42", mode="loose")


@pytest.mark.parametrize("mode", ["strict", "lenient"])
@pytest.mark.parametrize(
    "text",
    [
        " " * 200_000 + "5",  # a long run of whitespace
        "1 " * 100_000,  # numbers all the way
        "$" * 100_000,  # unpaired dollar signs
        "$a b c " * 30_000,  # dollar signs around prose
        "the answer is " * 20_000,  # markers all the way
        "I hope it is correct. " * 20_000,  # sign-offs all the way
        "### Final Answer\n" * 30_000,  # headings with nothing under them
        "= " * 100_000,  # equations with no sides
        "x is " * 50_000,  # copulas with nothing named
    ],
    ids=[
        "spaces",
        "numbers",
        "dollars",
        "dollar-prose",
        "markers",
        "sign-offs",
        "headings",
        "equals",
        "copulas",
    ],
)
def test_both_modes_stay_linear_on_decoys(text, mode):
    import time

    started = time.monotonic()
    find_answer(text, mode=mode)
    assert time.monotonic() - started < 2.0
