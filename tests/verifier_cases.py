"""Verifier cases in the styles real language models write answers: a corpus of our own.

Every row was written by hand for this repository, in the voices of model families as we know them:
Minerva ("Final Answer: The final answer is $X$. I hope it is correct."), GSM8K solutions (`#### 72`,
closing `A: 26` lines, `<<3*4=12>>` calculator notes), Qwen-Math and DeepSeek-R1 (`<think>...</think>`
then a `\\boxed{}`), Llama and Mistral chat prose with markdown, multilingual chat models (CJK
punctuation, units glued to numbers), multiple-choice prose, display maths, chat-template debris and
sign-offs. No row was taken or adapted from another project's tests.

Each category is a list of `(gold, response, lenient, strict)`:

- `gold` is the dataset's gold answer (plain or LaTeX, sometimes boxed); `response` is a model's whole
  output or a bare answer.
- `lenient` is the verdict of a grader who reads the response like a careful human: the stated final
  answer if there is one, otherwise the value the closing sentence or closing display states. Working
  earlier in the text never counts; chat-template debris (`<|im_start|>user ...`, `<|endoftext|>`,
  `<|eot_id|>`, `</s>`) and sign-offs ("I hope it is correct.", "I hope this helps!") are ignored; a
  `<think>` that never closes has no answer, and only the text after `</think>` counts.
- `strict` is the verdict when only a stated answer counts: a box (`\\boxed{}`, `\\fbox{}`), an answer
  marker in any language ("The final answer is", "Answer:", `####`, a closing `A:` line, "答案：",
  "Réponse :", "Ответ:", ...), `<answer>` tags, a choice letter in prose when the gold is a letter, or a
  response that is one short line (a bare answer, taken whole). Conclusion words ("So", "Therefore",
  "所以", "donc", "also", "поэтому"), a bold span or the last number alone state nothing: such a
  response is CANNOT_TELL in strict. Where strict finds a stated answer it judges it as lenient does.

The labels are ground truth as a careful human grader gives them, not what any version of the code
returns. CORRECT: the answer matches the gold; INCORRECT: an answer was found and it is wrong (a hedge
between values is wrong); CANNOT_TELL: no answer was found, never counted as wrong.
"""

from __future__ import annotations

from filters import Status

C, W, U = Status.CORRECT, Status.INCORRECT, Status.CANNOT_TELL


def _lines(*lines: str) -> str:
    """A multi-line response, one argument per line (raw strings keep the LaTeX readable)."""
    return "\n".join(lines)


FREE_TEXT = [
    (
        "24",
        _lines(
            "Priya's hens lay 14 eggs a day. She uses 2 for breakfast and gives 4 away, so 14 - 2 - 4 = 8 are left.",
            "She sells them at $3 each, so she makes 8 * 3 = $24 every day.",
        ),
        C,
        U,
    ),  # GSM8K-style prose, the value in the closing sentence (and dollar signs that are money)
    (
        "24",
        _lines("The base of the triangle is 8 and its height is 6.", "Thus, the area is 24 square units."),
        C,
        U,
    ),  # "Thus" closes the working but is no answer marker
    (
        "24",
        _lines("The base of the triangle is 8 and its height is 6.", "Thus, the area is 48 square units."),
        W,
        U,
    ),  # forgot the one half: wrong in the closing sentence
    (
        "18",
        _lines(
            "Tom starts with 15 marbles and his sister gives him 3 more.",
            "So Tom now has 18 marbles, which is 3 more than he started with.",
        ),
        C,
        U,
    ),  # the answer, then an explanatory clause with a later number
    (
        "15",
        _lines(
            "Tom starts with 15 marbles and his sister gives him 3 more.",
            "So Tom now has 18 marbles, 3 more than his original 15.",
        ),
        W,
        U,
    ),  # the gold appears last in the clause, but the stated value is 18
    (
        r"(-\infty, -2]",
        _lines(
            r"Completing the square, $y = -(x-1)^2 - 2$.",
            r"Since $-(x-1)^2 \le 0$ for every $x$, the largest value is $-2$.",
            r"So $y \le -2$ is what we get.",
        ),
        C,
        U,
    ),  # the last formula of the closing sentence, an inequality for an interval gold
    (
        r"(-\infty, -2]",
        _lines(
            r"Completing the square, $y = -(x-1)^2 - 2$.",
            r"So $y \ge -2$ is what we get.",
        ),
        W,
        U,
    ),  # the inequality turned the wrong way
    (
        "12",
        _lines(
            "Each box holds 4 pencils and there are 3 boxes.",
            "That gives either 12 or 15 pencils, depending on whether the loose ones count.",
        ),
        W,
        U,
    ),  # a hedge between two values is not a pass
    (
        "7",
        _lines(
            r"Let the number be $n$. Then $3n + 5 = 26$, so $3n = 21$.",
            r"Dividing both sides by 3, we find $n = 7$.",
        ),
        C,
        U,
    ),  # the last formula of the closing sentence, not the divisor before it
    (
        "7",
        _lines(
            r"Let the number be $n$. Then $3n + 5 = 26$, so $3n = 21$.",
            r"Dividing both sides by 3 gives $n = 6$.",
        ),
        W,
        U,
    ),  # an arithmetic slip in the last step
    (
        r"\frac{3}{4}",
        _lines(
            "Three of the four equally likely outcomes are favourable.",
            "Hence the probability is",
            r"\[",
            r"P = \frac{3}{4}.",
            r"\]",
        ),
        C,
        U,
    ),  # a closing display on its own lines
    (
        r"\frac{3}{4}",
        _lines(
            "Three of the four equally likely outcomes are favourable.",
            "Hence the probability is",
            r"\[",
            r"P = \frac{4}{3}.",
            r"\]",
        ),
        W,
        U,
    ),  # an inverted fraction in the closing display
    (
        "57",
        _lines(
            "## Step 1: Count the stickers",
            "Maya starts with 85 stickers and gives away 28.",
            "",
            "## Step 2: Subtract",
            "85 - 28 = 57",
            "",
            "So she has **57** stickers left.",
        ),
        C,
        U,
    ),  # Llama-style steps; a bold final statement is read, but it is no marker
    (
        "57",
        _lines(
            "## Step 1: Count the stickers",
            "Maya starts with 85 stickers and gives away 28.",
            "",
            "## Step 2: Subtract",
            "85 - 28 = 67",
            "",
            "So she has **67** stickers left.",
        ),
        W,
        U,
    ),  # a borrowing slip in bold
    (
        "30",
        _lines(
            "He buys 5 packs at 6 dollars each: 5*6=<<5*6=30>>30 dollars.",
            "So he spends 30 dollars in total.",
        ),
        C,
        U,
    ),  # calculator notes without a #### line
    (
        "45",
        _lines(
            "The train covers 180 km in 4 hours.",
            "Its average speed is 45 km/h, which is 15 km/h slower than the bus.",
        ),
        C,
        U,
    ),  # a comparison clause after the value
    (
        "150",
        _lines(
            "The car travels at 50 miles per hour for 3 hours.",
            "In total it covers 150 miles (about 241 km).",
        ),
        C,
        U,
    ),  # a conversion in parentheses is not the answer
    (
        "150",
        _lines(
            "The car travels at 50 miles per hour for 3 hours.",
            "In total it covers 53 miles.",
        ),
        W,
        U,
    ),  # added instead of multiplied
    (
        "8",
        _lines(
            "I first thought the count was 6, but that misses the two corner squares.",
            "The total is 8, not 6.",
        ),
        C,
        U,
    ),  # a rejected value after the stated one
    (
        "6",
        _lines(
            "I first thought the count was 6, but that misses the two corner squares.",
            "The total is 8, not 6.",
        ),
        W,
        U,
    ),  # the rejected value is the gold: still wrong
    (
        "12",
        _lines(
            "She has 4 cups and the recipe needs 16.",
            "She needs twelve more cups.",
        ),
        C,
        U,
    ),  # a value written as a word
    (
        "9",
        _lines(
            "There were 14 apples and 5 were eaten, so 14 - 5 = 9.",
            "So there are 9 apples left in the basket.",
            "I hope this helps!",
        ),
        C,
        U,
    ),  # a sign-off after the closing sentence
    (
        "9",
        _lines(
            "There were 14 apples and 5 were eaten, so 14 + 5 = 19.",
            "So there are 19 apples left in the basket.",
            "I hope this helps!",
        ),
        W,
        U,
    ),  # wrong, with the same sign-off
    (
        "2x+3",
        _lines(
            r"Combining like terms in $5x + 7 - 3x - 4$:",
            r"this simplifies to $2x + 3$.",
        ),
        C,
        U,
    ),  # an expression as the last formula
    (
        "2x+3",
        _lines(
            r"Combining like terms in $5x + 7 - 3x - 4$:",
            r"this simplifies to $2x + 11$.",
        ),
        W,
        U,
    ),  # a sign slip in the expression
    (
        "(-3, 2)",
        _lines(
            r"The parabola $y = x^2 + x - 6$ opens upward with roots $-3$ and $2$, so it is negative between them.",
            r"So the solution set is $(-3, 2)$.",
        ),
        C,
        U,
    ),  # an interval as the last formula
    (
        "(-3, 2)",
        _lines(
            r"The parabola $y = x^2 + x - 6$ opens upward with roots $-3$ and $2$.",
            r"So the inequality holds for $-3 \le x \le 2$.",
        ),
        W,
        U,
    ),  # closed ends where the gold is open
    (
        "Monday",
        _lines(
            "15 days is 2 weeks and 1 day.",
            "So 15 days after Sunday it will be Monday.",
        ),
        C,
        U,
    ),  # a word answer closing the sentence
    (
        "Monday",
        _lines(
            "15 days is 2 weeks and 1 day.",
            "So 15 days after Sunday it will be Tuesday.",
        ),
        W,
        U,
    ),  # the wrong weekday
    (
        "3600",
        _lines(
            "There are 60 seconds in a minute and 60 minutes in an hour.",
            r"Therefore an hour has $60 \times 60 = 3600$ seconds.",
        ),
        C,
        U,
    ),  # a worked equation states its value last
    (
        "3600",
        _lines(
            "There are 60 seconds in a minute and 60 minutes in an hour.",
            r"Therefore an hour has $60 \times 60 = 360$ seconds.",
        ),
        W,
        U,
    ),  # the stated value is wrong even though its left side is the gold
    (
        "14",
        _lines(
            "The rectangle is 4 cm by 3 cm, so its perimeter is 2(4 + 3) = 14.",
            "So the perimeter is 14 cm.",
            "Would you like me to draw it?",
        ),
        C,
        U,
    ),  # a closing offer is not part of the answer
    (
        "5",
        _lines(
            r"Both $x = 5$ and $x = -5$ satisfy $x^2 = 25$, but a side length must be positive.",
            r"So $x = 5$.",
        ),
        C,
        U,
    ),  # two candidates earlier, one kept at the end
    (
        "5",
        _lines(
            r"Both $x = 5$ and $x = -5$ satisfy $x^2 = 25$.",
            r"So $x = \pm 5$.",
        ),
        W,
        U,
    ),  # kept the negative root of a length
    (
        r"20\%",
        _lines(
            "The price fell from $50 to $40, a drop of $10.",
            "That is a 20% decrease.",
        ),
        C,
        U,
    ),  # a percentage after money amounts
    (
        r"20\%",
        _lines(
            "The price fell from $50 to $40, a drop of $10.",
            "That is a 25% decrease.",
        ),
        W,
        U,
    ),  # divided by the new price
    (
        r"\frac{5}{12}",
        _lines(
            "There are 12 equally likely outcomes and 5 of them are favourable.",
            "So the probability is 5/12.",
        ),
        C,
        U,
    ),  # a plain slash fraction in prose
    (
        r"\frac{5}{12}",
        _lines(
            "There are 12 equally likely outcomes and 5 of them are favourable.",
            "So the probability is 7/12.",
        ),
        W,
        U,
    ),  # the complement
    (
        "x = 4",
        _lines(r"Subtract 3 from both sides: $2x = 8$.", r"So $x = 4$."),
        C,
        U,
    ),  # an assignment gold
    (
        "x = 4",
        _lines(r"Subtract 3 from both sides: $2x = 8$.", r"So $x = -4$."),
        W,
        U,
    ),  # a sign error
    (
        r"\frac{\sqrt{3}}{2}",
        _lines(
            r"The reference angle of $120^\circ$ is $60^\circ$, and sine is positive in the second quadrant.",
            r"So $\sin 120^\circ = \frac{\sqrt{3}}{2}$.",
        ),
        C,
        U,
    ),  # the right-hand side of the closing formula
    (
        r"\frac{\sqrt{3}}{2}",
        _lines(
            r"The reference angle of $120^\circ$ is $60^\circ$.",
            r"So $\sin 120^\circ = -\frac{\sqrt{3}}{2}$.",
        ),
        W,
        U,
    ),  # the quadrant sign wrong
    (
        "15",
        _lines(
            "We choose 2 of the 6 people, and order does not matter.",
            r"Therefore, the number of ways is $\binom{6}{2} = 15$.",
        ),
        C,
        U,
    ),  # a binomial worked to its value
    (
        "15",
        _lines(
            "We choose 2 of the 6 people.",
            r"Therefore, the number of ways is $6 \cdot 5 = 30$.",
        ),
        W,
        U,
    ),  # counted ordered pairs
    (
        "7.50",
        _lines(
            "Each ticket costs $2.50 and she buys 3.",
            "She pays 3 x $2.50 = $7.50 altogether.",
        ),
        C,
        U,
    ),  # money with cents in the closing sentence
    (
        "7.50",
        _lines(
            "Each ticket costs $2.50 and she buys 3.",
            "She pays 2 x $2.50 = $5.00 altogether.",
        ),
        W,
        U,
    ),  # a wrong count of tickets
    (
        "10",
        _lines(
            r"The interior angles sum to $1440^\circ$, which means $(n-2) \cdot 180 = 1440$.",
            r"Solving gives $n = 10$, so the polygon has 10 sides.",
        ),
        C,
        U,
    ),  # value in a formula and again in words
    (
        "10",
        _lines(
            r"The interior angles sum to $1440^\circ$, which means $(n-2) \cdot 180 = 1440$.",
            r"Solving gives $n - 2 = 8$, so the polygon has 8 sides.",
        ),
        W,
        U,
    ),  # stopped one step early
    (
        r"-\frac{1}{2}",
        _lines("The slope is rise over run.", r"Here that is \(\frac{-3}{6} = -\frac{1}{2}\)."),
        C,
        U,
    ),  # inline \( \) maths
    (
        r"-\frac{1}{2}",
        _lines("The slope is rise over run.", r"Here that is \(\frac{3}{6} = \frac{1}{2}\)."),
        W,
        U,
    ),  # lost the sign
    (
        r"16\pi",
        _lines("The radius is 4, so", r"$$A = \pi r^2 = 16\pi$$"),
        C,
        U,
    ),  # a closing $$ display
    (
        r"16\pi",
        _lines("The radius is 4, so", r"$$A = \pi r^2 = 8\pi$$"),
        W,
        U,
    ),  # used 2r instead of r squared
    (
        "5050",
        _lines(
            "Pairing the first and last terms gives 50 pairs that each sum to 101.",
            r"$50 \cdot 101 = 5050$",
        ),
        C,
        U,
    ),  # a closing line that is only a formula
    (
        "5050",
        _lines(
            "Pairing the first and last terms gives 50 pairs that each sum to 101.",
            r"$50 \cdot 101 = 5150$",
        ),
        W,
        U,
    ),  # a wrong product
    (
        "1250",
        _lines("The laptop costs $1,000 and the tax is 25%.", "The total cost is $1,250."),
        C,
        U,
    ),  # a currency amount with a separator closes the text
    (
        "3",
        _lines(
            "It seems the remainder should be 3.",
            "Let me double-check: 5 * 4 = 20 and 23 - 20 = 3.",
        ),
        C,
        U,
    ),  # a closing check that ends on the same value
    (
        "12",
        _lines(
            "The problem doesn't say how many apples were in the basket at the start.",
            "Could you clarify?",
        ),
        U,
        U,
    ),  # no value at all: cannot tell, never wrong
]

MARKERS = [
    (
        "42",
        _lines(r"Multiplying the two factors, $6 \times 7$ gives the product.", "Answer $ 42 $"),
        C,
        C,
    ),  # "Answer" without a colon, inline maths with spaces
    (
        "x+1",
        _lines(
            r"Factor the numerator as $(x+1)(x-1)$ and cancel $(x-1)$.",
            "Answer",
            r"\[ x+1 \]",
        ),
        C,
        C,
    ),  # "Answer" alone, display maths on the next line
    (
        "x+1",
        _lines(
            r"Factor the numerator as $(x+1)(x-1)$ and cancel $(x+1)$.",
            "Answer",
            r"\[ x-1 \]",
        ),
        W,
        W,
    ),  # cancelled the wrong factor
    (
        "12",
        _lines("Testing k = 10 and k = 11 fails; k = 12 works.", "Final Answer: the smallest $k$ is 12"),
        C,
        C,
    ),  # the value after the marker, not the variable
    (
        "12",
        _lines("Testing k = 10 and k = 11 fails; k = 13 works.", "Final Answer: the smallest $k$ is 13"),
        W,
        W,
    ),  # a wrong value in the same shape
    (
        "12",
        _lines("We have 3 rows of 4 chairs.", "The answer is: **12**"),
        C,
        C,
    ),  # a colon after the marker and bold value
    (
        "5",
        _lines(
            "### Solution",
            r"We solve $2x - 3 = 7$ to get $x = 5$.",
            "",
            "### Final Answer",
            "",
            r"$\boxed{5}$",
        ),
        C,
        C,
    ),  # a markdown heading and a boxed value under it
    (
        "5",
        _lines(
            "### Solution",
            r"We solve $2x - 3 = 7$ to get $x = 2$.",
            "",
            "### Final Answer",
            "",
            r"$\boxed{2}$",
        ),
        W,
        W,
    ),  # wrong under the heading
    (
        r"\frac{1}{4}",
        _lines(
            r"The two events are independent, so the probability is $\frac{1}{2} \cdot \frac{1}{2} = \frac{1}{4}$.",
            r"Final Answer: The final answer is $\frac{1}{4}$. I hope it is correct.",
        ),
        C,
        C,
    ),  # Minerva's closing line
    (
        r"\frac{1}{4}",
        _lines(
            r"The two events are independent, so the probability is $\frac{1}{2} + \frac{1}{2}$.",
            r"Final Answer: The final answer is $1$. I hope it is correct.",
        ),
        W,
        W,
    ),  # Minerva's closing line, wrong
    (
        "9",
        _lines(
            r"The other leg is $\sqrt{15^2 - 12^2} = \sqrt{81}$.",
            r"Final Answer: The final answer is $9$ cm. I hope it is correct.",
        ),
        C,
        C,
    ),  # a unit after the maths in Minerva's line
    (
        "48",
        _lines(
            "Omar picked 36/3 = <<36/3=12>>12 apples on Sunday.",
            "He picked 36+12 = <<36+12=48>>48 apples in all.",
            "#### 48",
        ),
        C,
        C,
    ),  # GSM8K reference style
    (
        "48",
        _lines(
            "Omar picked 36/3 = <<36/3=12>>12 apples on Sunday.",
            "He picked 36+12 = <<36+12=46>>46 apples in all.",
            "#### 46",
        ),
        W,
        W,
    ),  # GSM8K style, an addition slip
    (
        "26",
        _lines("There are 13 pairs of socks and each pair has 2 socks, so 13 * 2 = 26.", "A: 26"),
        C,
        C,
    ),  # a closing few-shot "A:" line
    (
        "26",
        _lines("There are 13 pairs of socks and each pair has 2 socks, so 13 + 2 = 15.", "A: 15"),
        W,
        W,
    ),  # the "A:" line, wrong
    (
        "57",
        _lines("85 - 28 = 57 stickers remain.", "", "**Answer:** 57"),
        C,
        C,
    ),  # bold marker
    (
        "57",
        _lines("85 - 32 = 53 stickers remain.", "", "**Answer:** 53"),
        W,
        W,
    ),  # bold marker, wrong
    (
        "3.5",
        _lines(r"Dividing 7 by 2 gives the length.", r"**Final Answer:** $\frac{7}{2}$"),
        C,
        C,
    ),  # a fraction against a decimal gold
    (
        "8",
        _lines(
            "## Step 1: Halve 16",
            "16 / 2 = 8",
            "",
            r"The final answer is: $\boxed{8}$",
        ),
        C,
        C,
    ),  # Llama 3's closing line
    (
        "8",
        _lines(
            "## Step 1: Halve 16",
            "16 / 2 = 6",
            "",
            r"The final answer is: $\boxed{6}$",
        ),
        W,
        W,
    ),  # Llama 3's closing line, wrong
    (
        "15",
        _lines("Five rows of three seats make fifteen seats.", "Therefore, the answer is 15."),
        C,
        C,
    ),  # "the answer is" after a conclusion word
    (
        "15",
        _lines("Five rows of three seats.", "So the answer is 16."),
        W,
        W,
    ),  # "the answer is", wrong
    (
        "18",
        _lines("Answer: 18", "", "Explanation: 15 + 3 = 18, which is 3 more than the 15 we started with."),
        C,
        C,
    ),  # the answer first, an explanation with later numbers after it
    (
        "40",
        _lines("Answer: 40", "", "Here's why: each of the 8 boxes holds 5 items, and 8 × 5 = 40."),
        C,
        C,
    ),  # an early marker wins over the working that follows
    (
        "40",
        _lines("8 × 5 = 40 items in total.", "Answer: 45"),
        W,
        W,
    ),  # right working, wrong stated answer
    (
        r"\frac{3}{4}",
        _lines("Three quarters of the pizza is left.", "Final answer: 3/4"),
        C,
        C,
    ),  # lower-case marker, slash fraction
    (
        r"\frac{3}{4}",
        _lines("One quarter of the pizza is eaten.", "FINAL ANSWER: 1/4"),
        W,
        W,
    ),  # capitals, and the complement
    (
        "-2",
        _lines(r"From $3x + 6 = 0$ we get $x = -2$.", r"Answer: $x = -2$"),
        C,
        C,
    ),  # an assignment after the marker
    (
        "-2",
        _lines(r"From $3x + 6 = 0$ we get $x = 2$.", "Answer: x = 2"),
        W,
        W,
    ),  # a sign error after the marker
    (
        r"2\sqrt{3}",
        _lines(
            "The height of the equilateral triangle with side 4 is √(16 − 4) = √12.",
            "The final answer is 2√3",
        ),
        C,
        C,
    ),  # a unicode root
    (
        "28",
        _lines("Adding the four sides: 8 + 6 + 8 + 6 = 28.", "**Final answer:** The perimeter is 28 cm."),
        C,
        C,
    ),  # a sentence after the marker
    (
        "28",
        _lines("Adding all four sides: 8 + 6 + 8 + 6 = 28.", "", "The perimeter is **28 cm**."),
        C,
        U,
    ),  # a bold final statement is no marker
    (
        "28",
        _lines("Adding the sides: 8 + 6 + 8 + 6 = 24.", "", "The perimeter is **24 cm**."),
        W,
        U,
    ),  # bold and wrong, still no marker
    (
        "7",
        _lines(r"Subtracting gives $x - 2 = 5$.", "", "## Answer", "", r"\(x = 7\)"),
        C,
        C,
    ),  # an "Answer" heading
    (
        r"\frac{3}{8}",
        _lines("There are 8 outcomes and 3 have exactly two heads.", r"\[\boxed{\frac{3}{8}}\]"),
        C,
        C,
    ),  # a boxed display
    (
        "12",
        _lines("Half of 24 is 12.", r"The answer is $\boxed{12}$ apples."),
        C,
        C,
    ),  # a box inside a marker sentence, unit after
    (
        r"\frac{\pi}{3}",
        _lines(
            r"Since $\cos\theta = \frac{1}{2}$ on $[0, \pi]$,",
            "Final Answer:",
            "",
            "$$",
            r"\frac{\pi}{3}",
            "$$",
        ),
        C,
        C,
    ),  # the marker, then a $$ display on later lines
    (
        r"\frac{\pi}{3}",
        _lines(
            r"Since $\sin\theta = \frac{1}{2}$ on $[0, \frac{\pi}{2}]$,",
            "Final Answer:",
            "",
            "$$",
            r"\frac{\pi}{6}",
            "$$",
        ),
        W,
        W,
    ),  # the marker and display, wrong angle
    (
        "12",
        _lines("Answer: 10", "", "Wait, I forgot the two in the corner.", "Answer: 12"),
        C,
        C,
    ),  # a later stated answer revises the first
    (
        "10",
        _lines("Answer: 10", "", "Wait, I forgot the two in the corner.", "Answer: 12"),
        W,
        W,
    ),  # the revised-away value is the gold: wrong
    (
        "64",
        _lines("4 cubed is 4 × 4 × 4.", "The answer is 64. I hope this helps!"),
        C,
        C,
    ),  # a marker sentence with a sign-off after it
    (
        "64",
        _lines("The cube has edge 4.", "Answer: 64 (since 4^3 = 64)"),
        C,
        C,
    ),  # a justification in parentheses after the value
    (
        "64",
        _lines("The cube has edge 4.", "Answer: 16 (since 4^2 = 16)"),
        W,
        W,
    ),  # squared instead of cubed
    (
        "3x^2+2x",
        _lines(r"Differentiate $x^3 + x^2$ term by term.", r"Answer: $3x^2 + 2x$"),
        C,
        C,
    ),  # an expression after the marker
    (
        "3x^2+2x",
        _lines(r"Differentiate $x^3 + x^2$ term by term.", r"Answer: $3x^2 + 2$"),
        W,
        W,
    ),  # a wrong derivative of x squared
    (
        "32",
        _lines("Each fold doubles the layers, five folds in all.", "The answer is 2^5 = 32."),
        C,
        C,
    ),  # a worked power after the marker
    (
        "32",
        _lines("Each fold doubles the layers, five folds in all.", "The answer is 2^5 = 36."),
        W,
        W,
    ),  # the stated value is wrong even though 2^5 is the gold
    (
        "1200",
        _lines("She saves 100 dollars a month for 12 months: 100*12=<<100*12=1200>>1200.", "#### 1,200"),
        C,
        C,
    ),  # a separator after ####
    (
        "2.5",
        _lines("Five halves of a cup are needed.", r"The answer is \(\frac{5}{2}\)."),
        C,
        C,
    ),  # inline maths after the marker
    (
        "40",
        _lines("Checking: 40 + 40/4 = 50, which matches.", "So the answer is indeed 40."),
        C,
        C,
    ),  # a filler word between marker and value
    (
        "3",
        _lines("The primes below 6 are 2, 3 and 5.", "**Answer**: 3"),
        C,
        C,
    ),  # bold word, colon outside the bold
    (
        "14",
        _lines(
            "I first added 5 and 7, but the two extra chairs count too.",
            "The answer is not 12; it is 14.",
        ),
        C,
        C,
    ),  # a rejected value inside the marker sentence
    (
        "12",
        _lines(
            "I first added 5 and 7, but the two extra chairs count too.",
            "The answer is not 12; it is 14.",
        ),
        W,
        W,
    ),  # the rejected value is the gold: wrong
    (
        "7",
        _lines("The shop sells 7 cakes an hour.", "Thus the final answer is 7 cakes."),
        C,
        C,
    ),  # "the final answer is" mid-sentence
]

MULTILINGUAL = [
    (
        "7",
        _lines("小明每天读 5 页，读了 3 天，一共读了 15 页。", "这本书有 22 页，所以还剩 22 - 15 = 7页。"),
        C,
        U,
    ),  # Chinese, a unit glued to the value, "所以" is no marker
    (
        "7",
        _lines("小明每天读 5 页，读了 3 天，一共读了 15 页。", "答案：7页"),
        C,
        C,
    ),  # Chinese marker with a full-width colon
    (
        "7",
        _lines("小明每天读 5 页，读了 3 天，一共读了 15 页。", "答案：8页"),
        W,
        W,
    ),  # Chinese marker, wrong
    (
        "120",
        _lines("每袋有 24 颗糖，共 5 袋。", "24 × 5 = 120，所以一共有120颗。"),
        C,
        U,
    ),  # Chinese prose ending "120颗。"
    (
        "120",
        _lines("每袋有 24 颗糖，共 5 袋。", "24 × 4 = 96，因此一共有96颗。"),
        W,
        U,
    ),  # "因此" is no marker; the value is wrong
    (
        "15",
        _lines("3 支笔，每支 5 元，共 3 × 5 元。", "答案是15元。"),
        C,
        C,
    ),  # "答案是" with a glued currency word
    (
        "15",
        _lines("3 支笔，每支 5 元。", "最终答案：15"),
        C,
        C,
    ),  # "最终答案"
    (
        "15",
        _lines("3 支笔，每支 5 元。", "最终答案：8"),
        W,
        W,
    ),  # "最终答案", added instead of multiplied
    (
        r"\frac{1}{3}",
        _lines("骰子有 6 个面，其中 5 和 6 两个面符合条件。", r"所以概率为 $\frac{1}{3}$。"),
        C,
        U,
    ),  # Chinese prose, closing inline maths
    (
        r"\frac{1}{3}",
        _lines("骰子有 6 个面，其中 4、5、6 三个面符合条件。", r"所以概率为 $\frac{1}{2}$。"),
        W,
        U,
    ),  # Chinese prose, wrong probability
    (
        "36",
        _lines("正方形的边长是 6 厘米。", "因此，答案是 38。"),
        W,
        W,
    ),  # "答案是" after "因此", wrong
    (
        "9",
        _lines("27 ÷ 3 = 9", "答案: 9"),
        C,
        C,
    ),  # a half-width colon after 答案
    (
        "4",
        _lines("原计划 3 小时，路上耽误了 1 小时。", "所以他需要 4 小时，比原计划多 1 小时。"),
        C,
        U,
    ),  # a comparison clause with a later number
    (
        "6",
        _lines("两个数的和是 10，差是 2。", r"所以答案为 $\boxed{6}$。"),
        C,
        C,
    ),  # a box in a Chinese sentence
    (
        "3",
        _lines("りんごが 8 個あり、5 個食べました。", "残りは 8 - 5 = 3個です。"),
        C,
        U,
    ),  # Japanese prose, a counter glued to the value
    (
        "3",
        _lines("りんごが 8 個あり、5 個食べました。", "答え：3個"),
        C,
        C,
    ),  # Japanese marker
    (
        "3",
        _lines("りんごが 8 個あり、5 個食べました。", "答え：13個"),
        W,
        W,
    ),  # Japanese marker, added instead of subtracted
    (
        "12",
        _lines("長方形の周の長さは 2 × (4 + 2) です。", "よって、答えは 12 です。"),
        C,
        C,
    ),  # "答えは" ("the answer is")
    (
        "12",
        _lines("長方形の周の長さは 2 × (4 + 3) です。", "したがって、長さは 14 cm です。"),
        W,
        U,
    ),  # Japanese conclusion word only, wrong
    (
        "45",
        _lines("Le train parcourt 180 km en 4 heures.", "Donc sa vitesse moyenne est de 45 km/h."),
        C,
        U,
    ),  # French prose, "donc" is no marker
    (
        "45",
        _lines("Le train parcourt 180 km en 4 heures.", "Réponse : 45 km/h"),
        C,
        C,
    ),  # French marker with a space before the colon
    (
        "45",
        _lines("Le train parcourt 180 km en 4 heures et demie.", "La réponse est 40 km/h."),
        W,
        W,
    ),  # "La réponse est", wrong
    (
        r"\frac{2}{3}",
        _lines("Il y a 6 boules dont 4 rouges.", r"La probabilité vaut donc $\frac{4}{6} = \frac{2}{3}$."),
        C,
        U,
    ),  # French prose, a worked fraction
    (
        "2450.50",
        _lines(
            "Le prix hors taxes est de 2 042,08 € et la TVA ajoute 408,42 €.",
            "Le total est donc de 2 450,50 €.",
        ),
        C,
        U,
    ),  # French number format: space thousands, decimal comma, euro after
    (
        "8",
        _lines("Juan tiene 20 canicas y regala 12.", "Por lo tanto, le quedan 8 canicas."),
        C,
        U,
    ),  # Spanish prose
    (
        "8",
        _lines("Juan tiene 20 canicas y regala 12.", "Respuesta: 8 canicas"),
        C,
        C,
    ),  # Spanish marker
    (
        "8",
        _lines("Juan tiene 20 canicas y regala 11.", "La respuesta es 9."),
        W,
        W,
    ),  # "La respuesta es", wrong
    (
        "-3",
        _lines(r"Despejando, $2x = -6$.", r"La respuesta es $x = -3$."),
        C,
        C,
    ),  # Spanish marker with an assignment
    (
        "6",
        _lines(
            "La base mide 3 m y la altura 4 m.",
            "Entonces el área del triángulo también es 6 metros cuadrados.",
        ),
        C,
        U,
    ),  # "también" is no marker
    (
        "64",
        _lines(
            "Ein Würfel mit der Kantenlänge 4 cm hat das Volumen 4^3.",
            "Also beträgt das Volumen 64 cm³.",
        ),
        C,
        U,
    ),  # German prose, "Also" is no marker
    (
        "64",
        _lines("Ein Würfel mit der Kantenlänge 4 cm hat das Volumen 4^3.", "Antwort: 64 cm³"),
        C,
        C,
    ),  # German marker
    (
        "64",
        _lines("Ein Würfel mit der Kantenlänge 4 cm.", "Die Antwort ist 48 cm³."),
        W,
        W,
    ),  # "Die Antwort ist", wrong
    (
        "64",
        _lines(
            "Ein Würfel mit der Kantenlänge 4 cm hat die Seitenfläche 4^2.",
            "Also ist das Volumen 16 cm³.",
        ),
        W,
        U,
    ),  # German prose, a face area instead of the volume
    (
        "25",
        _lines("Периметр квадрата равен 20 см, значит сторона 5 см.", "Поэтому площадь равна 25 см²."),
        C,
        U,
    ),  # Russian prose, "Поэтому" is no marker
    (
        "25",
        _lines("Периметр квадрата равен 20 см, значит сторона 5 см.", "Ответ: 25 см²"),
        C,
        C,
    ),  # Russian marker
    (
        "25",
        _lines("Периметр квадрата равен 20 см.", "Ответ: 20 см²"),
        W,
        W,
    ),  # Russian marker, the perimeter repeated
    (
        "12",
        _lines("لدى أحمد 4 صناديق، وفي كل صندوق 3 كرات.", "الإجابة: 12"),
        C,
        C,
    ),  # Arabic marker
    (
        "12",
        _lines("لدى أحمد 4 صناديق، وفي كل صندوق 3 كرات.", "الإجابة: 7"),
        W,
        W,
    ),  # Arabic marker, added instead of multiplied
    (
        "12",
        _lines("لدى أحمد 4 صناديق، وفي كل صندوق 3 كرات.", "إذن عدد الكرات هو 12."),
        C,
        U,
    ),  # Arabic prose without a marker
    (
        "50",
        _lines("एक पेन की कीमत 10 रुपये है, तो 5 पेन की कीमत 5 × 10 रुपये।", "उत्तर: 50 रुपये"),
        C,
        C,
    ),  # Hindi marker
    (
        "50",
        _lines("एक पेन की कीमत 10 रुपये है, तो 4 पेन की कीमत 4 × 10 रुपये।", "उत्तर: 40 रुपये"),
        W,
        W,
    ),  # Hindi marker, wrong count
    (
        "50",
        _lines("एक पेन की कीमत 10 रुपये है।", "अतः 5 पेन की कुल कीमत 50 रुपये है।"),
        C,
        U,
    ),  # Hindi prose ending with a danda
    (
        "9",
        _lines("Maria tinha 15 laranjas e deu 6.", "Resposta: 9 laranjas"),
        C,
        C,
    ),  # Portuguese marker
    (
        "9",
        _lines("Maria tinha 15 laranjas e deu 6.", "Resposta: 21 laranjas"),
        W,
        W,
    ),  # Portuguese marker, added instead of subtracted
    (
        "9",
        _lines("Maria tinha 15 laranjas e deu 6.", "Portanto, sobraram 9 laranjas."),
        C,
        U,
    ),  # Portuguese prose
    (
        "32",
        _lines(r"Il perimetro è $2 \cdot (10 + 6)$ cm.", "Risposta: 32 cm"),
        C,
        C,
    ),  # Italian marker
    (
        "32",
        _lines(r"Il rettangolo misura 10 cm per 6 cm.", "Risposta: 60 cm"),
        W,
        W,
    ),  # Italian marker, the area instead of the perimeter
    (
        "14",
        _lines("사과가 9개 있고 5개를 더 샀습니다.", "정답: 14개"),
        C,
        C,
    ),  # Korean marker, a counter glued to the value
    (
        "14",
        _lines("사과가 9개 있고 5개를 먹었습니다.", "정답: 4개"),
        W,
        W,
    ),  # Korean marker, wrong
    (
        "14",
        _lines("사과가 9개 있고 5개를 더 샀습니다.", "따라서 사과는 모두 14개입니다."),
        C,
        U,
    ),  # Korean prose, "따라서" is no marker
]

THINK_AND_BOXES = [
    (
        "14",
        _lines(
            "<think>",
            r"First guess: 3 + 4 + 5 = \boxed{12}? No wait, I forgot the 2.",
            "3 + 4 + 5 + 2 = 14.",
            "</think>",
            r"The total is \(\boxed{14}\).",
        ),
        C,
        C,
    ),  # a box inside the thinking never counts
    (
        "12",
        _lines(
            "<think>",
            r"First guess: 3 + 4 + 5 = \boxed{12}? No wait, I forgot the 2.",
            "3 + 4 + 5 + 2 = 14.",
            "</think>",
            r"The total is \(\boxed{14}\).",
        ),
        W,
        W,
    ),  # the thinking's box is the gold, the final box is not
    (
        "5",
        _lines("<think>", "Solve 2x + 1 = 11: 2x = 10, x = 5.", r"So \boxed{5}."),
        U,
        U,
    ),  # the thinking never closed: no answer
    (
        "6",
        _lines("<think>", "Hmm, 2 * 3 = 6.", "Final Answer: 6"),
        U,
        U,
    ),  # an unclosed think with a marker inside: still no answer
    (
        "5",
        _lines("<think>", "2x = 10 so x = 5.", "</think>"),
        U,
        U,
    ),  # nothing after the thinking
    (
        "5",
        _lines("<think>", "2x = 10 so x = 5.", "</think>", "", r"Solving $2x + 1 = 11$ gives $x = 5$."),
        C,
        U,
    ),  # prose after the thinking, no marker
    (
        "5",
        _lines("<think>", "2x = 10 so x = 5.", "</think>", "", r"Solving $2x + 1 = 11$ gives $x = 6$."),
        W,
        U,
    ),  # the right value only in the thinking
    (
        "20",
        _lines("<think>", "4 rows of 5 seats, 4*5 = 20.", "</think>", "The answer is 20."),
        C,
        C,
    ),  # a marker after the thinking
    (
        "2, 3",
        _lines(r"The quadratic factors as $(x-2)(x-3) = 0$.", r"So $x = \boxed{2}$ and $x = \boxed{3}$."),
        C,
        C,
    ),  # two boxes joined by "and" for two solutions
    (
        "2, 3",
        r"\boxed{x_1=2} \text{ and } \boxed{x_2=3}",
        C,
        C,
    ),  # labelled boxes joined in \text{}
    (
        "2, 3",
        _lines(r"The quadratic factors as $(x-2)(x+3) = 0$.", r"So $x = \boxed{2}$ and $x = \boxed{-3}$."),
        W,
        W,
    ),  # one of two boxed solutions wrong
    (
        "3",
        _lines(r"The roots of $x^2 - 5x + 6$ are", r"\boxed{2} and \boxed{3}"),
        W,
        W,
    ),  # two boxed values against one gold: not a pass
    (
        "9",
        _lines(r"\boxed{8}", "", "Wait, I dropped a term. Recomputing: 4 + 5 = 9.", "", r"\boxed{9}"),
        C,
        C,
    ),  # a later box revises an earlier one
    (
        "8",
        _lines(r"\boxed{8}", "", "Wait, I dropped a term. Recomputing: 4 + 5 = 9.", "", r"\boxed{9}"),
        W,
        W,
    ),  # the revised-away box is the gold
    (
        r"\frac{3}{4}",
        _lines(
            "To find the probability, we count the favourable outcomes: 3 of the 4.",
            "",
            r"Thus, the probability is \(\boxed{\frac{3}{4}}\).",
        ),
        C,
        C,
    ),  # Qwen-Math's closing box
    (
        r"\frac{3}{4}",
        _lines(
            "To find the probability, we count the favourable outcomes.",
            "",
            r"Thus, the probability is \(\boxed{\dfrac{4}{3}}\).",
        ),
        W,
        W,
    ),  # Qwen-Math style, an impossible probability
    (
        "27",
        _lines(
            "<think>",
            "3 cubed... 3*3 = 9, 9*3 = 27. Yes.",
            "</think>",
            "",
            "**Step 1:** The volume of a cube is the edge cubed.",
            "",
            "**Final Answer**",
            r"\[",
            r"\boxed{27}",
            r"\]",
        ),
        C,
        C,
    ),  # DeepSeek-R1 layout
    (
        "27",
        _lines(
            "<think>",
            "3 cubed... 3*3 = 9, 9*3 = 27. Yes.",
            "</think>",
            "",
            "**Final Answer**",
            r"\[",
            r"\boxed{9}",
            r"\]",
        ),
        W,
        W,
    ),  # DeepSeek-R1 layout, the final box disagrees with the thinking
    (
        "10",
        _lines("The sides are 2, 3 and 5.", r"Hence $\fbox{10}$."),
        C,
        C,
    ),  # \fbox
    (
        r"\frac{\sqrt{2}}{2}",
        _lines(r"At $45^\circ$ the cosine is", r"$\boxed{\frac{\sqrt{2}}{2}}$"),
        C,
        C,
    ),  # nested braces in the box
    (
        "4",
        _lines("120 km at 30 km/h takes", r"\boxed{4 \text{ hours}}"),
        C,
        C,
    ),  # a unit inside the box
    (
        "4",
        _lines("Solving for the time,", r"\boxed{t = 4}"),
        C,
        C,
    ),  # an assignment inside the box
    (
        "6",
        _lines(r"For part (b), $\boxed{6}$.", "", "Note: this is 2 more than the 4 we found for part (a)."),
        C,
        C,
    ),  # a note with other numbers after the box
    (
        "4",
        _lines(r"For part (b), $\boxed{6}$.", "", "Note: this is 2 more than the 4 we found for part (a)."),
        W,
        W,
    ),  # the note's number is the gold: still wrong
    (
        "5",
        _lines("<think>", "x = 5", "</think>", r"\boxed{}"),
        U,
        U,
    ),  # an empty box states nothing
    (
        "2, -2",
        _lines(r"Taking square roots of $x^2 = 4$:", r"$x = \boxed{\pm 2}$"),
        C,
        C,
    ),  # plus-minus in a box
    (
        "1, 4",
        _lines(r"Factoring $x^2 - 5x + 4$,", r"$x = \boxed{1}, \boxed{4}$"),
        C,
        C,
    ),  # boxes on one line separated by a comma
]

LABELLED_AND_SYSTEMS = [
    ("(4,1)", "(a,b)=(4,1)", C, C),  # a labelled tuple against a bare tuple
    ("(4,1)", "(a, b) = (1, 4)", W, W),  # the labelled tuple swapped
    ("(3,1),(6,4)", "a=3,b=1;a=6,b=4", C, C),  # two labelled solutions separated by ;
    ("(3,1),(6,4)", "a=3,b=1;a=6,b=5", W, W),  # one labelled value wrong
    ("2, 3", "x_1=2, x_2=3", C, C),  # indexed roots
    ("2, 3", "x_1=2, x_2=-3", W, W),  # an indexed root with the wrong sign
    ("7, 2", "PQ=7, RS=2", C, C),  # labelled lengths
    ("7, 2", "PQ=7, RS=3", W, W),  # a wrong labelled length
    (r"\frac{2}{\sqrt{5}}", r"\frac{PQ}{RS}=\frac{2}{\sqrt5}", C, C),  # a labelled ratio, brace-less \sqrt
    (r"\frac{2}{\sqrt{5}}", r"\frac{PQ}{RS}=\frac{2\sqrt5}{5}", C, C),  # rationalised
    (r"\frac{2}{\sqrt{5}}", r"\frac{PQ}{RS}=\frac{\sqrt5}{2}", W, W),  # the ratio inverted
    ("40", r"m\angle ABC = 40^\circ", C, C),  # an angle measure with degrees
    ("40", r"m\angle ABC = 50^\circ", W, W),  # the complement
    ("5", "f(2)=5", C, C),  # a function value
    ("5", "f(2)=7", W, W),  # a wrong function value
    ("(2,-1)", "x=2, y=-1", C, C),  # a labelled system against a point
    ("(2,-1)", "x=-1, y=2", W, W),  # the values swapped between the variables
    ("(2, 3, -1)", "x = 2, y = 3, z = -1", C, C),  # three labelled unknowns
    ("(2, 3, -1)", "x = 2, y = -1, z = 3", W, W),  # y and z swapped
    ("48", "a_5 = 48", C, C),  # a sequence term
    ("155", "S_{10} = 155", C, C),  # a partial sum with a braced index
    ("155", "S_{10} = 145", W, W),  # a wrong partial sum
    (r"4\sqrt{3}", r"AB = 4\sqrt3", C, C),  # a labelled surd
    (r"4\sqrt{3}", r"AB = 3\sqrt4", W, W),  # 3 sqrt 4 is 6
    ("-2", "k = -2", C, C),  # a parameter
    ("-2", "k=2", W, W),  # a parameter with the sign lost
    (r"\frac{1}{6}", r"P(A) = \frac16", C, C),  # a probability label
    (r"\frac{1}{6}", r"P(A) = \frac{5}{6}", W, W),  # the complement
    ("x=2, y=-1", "(x, y) = (2, -1)", C, C),  # a labelled tuple against a labelled system
    ("1, -2, 3", "a=1, b=-2, c=3", C, C),  # coefficients by name
    ("a=1, b=3, c=4", "a=1, b=2, c=4", W, W),  # one coefficient wrong
    ("12", r"v = 12\text{ m/s}", C, C),  # a labelled value with a unit
    (r"\frac{3}{5}", r"\sin\theta = \frac35", C, C),  # a trigonometric label
    ("x^2+1", "h(x)=x^2+1", C, C),  # a function definition against its body
    ("x^2+1", "h(x)=x^2-1", W, W),  # a sign in the body
    ("(1,2,3)", "(a,b,c)=(1,2,3)", C, C),  # a labelled triple
    ("(1,2,3)", "(a,b,c)=(1,3,2)", W, W),  # a labelled triple out of order
    ("(3, 7)", "p=3, q=7", C, C),  # a labelled pair against a tuple
    ("(3, 7)", "p=7, q=3", W, W),  # the labels swapped
    ("2n+1", "T_n = 2n+1", C, C),  # a general term
    ("2n+1", "T_n = 2n-1", W, W),  # the general term off by two
    ("9", r"\max f(x) = 9", C, C),  # a maximum label
    (
        "(2,-1)",
        _lines(
            r"Adding the equations eliminates $y$: $3x = 6$, so $x = 2$.",
            r"Substituting back gives $y = -1$.",
            r"So $x = 2$, $y = -1$.",
        ),
        C,
        U,
    ),  # a system stated in prose across two formulas of the closing line
    (
        "(2,-1)",
        _lines(r"Adding the equations eliminates $y$: $3x = 6$.", r"Answer: $x = 2,\ y = -1$"),
        C,
        C,
    ),  # a labelled system after a marker
    (
        "(2,-1)",
        _lines(r"Adding the equations eliminates $y$: $3x = 6$.", r"Answer: $x = 2,\ y = 1$"),
        W,
        W,
    ),  # a labelled system after a marker, one sign wrong
]

JOINED_ANSWERS = [
    ("2, -3", r"x=2 \quad x=-3", C, C),  # two roots separated by \quad
    ("2, -3", "x = 2 or x = -3", C, C),  # joined by "or"
    ("2, -3", "x=2; x=-3", C, C),  # joined by ;
    ("2, -3", "$x = 2$ and $x = -3$", C, C),  # two maths spans joined by "and"
    ("2, -3", r"x=2 \quad x=3", W, W),  # \quad, one sign wrong
    ("2, -3", "x = -2 or x = 3", W, W),  # both signs flipped
    ("-3", "x = 2 or x = -3", W, W),  # an extra root against a single gold
    (
        "2, -3",
        _lines(r"Factoring gives $(x-2)(x+3) = 0$.", r"The solutions are $x = 2$ and $x = -3$."),
        C,
        U,
    ),  # joined roots in a closing sentence
    (
        "2, -3",
        _lines(r"Factoring gives $(x-2)(x+3) = 0$.", "Answer: x = -3 or x = 2"),
        C,
        C,
    ),  # joined roots after a marker, in the other order
    ("2, -3", r"\boxed{2} \text{ or } \boxed{-3}", C, C),  # boxes joined by "or"
    ("1, 5, 7", "1; 5; 7", C, C),  # three values separated by ;
    ("1, 5, 7", "1; 5", W, W),  # a missing value
    (r"\frac{1}{2}, -1", r"x=\frac12 \text{ or } x=-1", C, C),  # a fraction root, "or" in \text{}
    (r"\pm 3", r"x = 3 \text{ and } x = -3", C, C),  # plus-minus gold against two roots
    (r"\pm 3", "x = 3", W, W),  # one of the two roots only
    ("3, 4", "3 and 4", C, C),  # bare values joined by "and"
    ("x_1=1, x_2=5", r"x_1=1 \quad\text{and}\quad x_2=5", C, C),  # indexed roots with \quad and \text
    ("-1, 2", r"x\in\{-1,2\}", C, C),  # membership in a set of roots
    ("-1, 2", r"x = -1 \quad \text{or} \quad x = -2", W, W),  # a wrong root after \quad or
    ("0, 4", r"x = 0,\ x = 4", C, C),  # a comma and a LaTeX space
    (r"1 \pm \sqrt{2}", r"x = 1 + \sqrt{2} \text{ or } x = 1 - \sqrt{2}", C, C),  # surd roots written out
    (r"1 \pm \sqrt{2}", r"x = -1 \pm \sqrt{2}", W, W),  # a sign in the centre
]

RATIOS_AND_TIMES = [
    (
        "5:12",
        _lines("There are 15 boys and 36 girls; dividing both by 3 gives the ratio.", "Answer: 5:12"),
        C,
        C,
    ),  # a ratio after a marker
    (
        "5:12",
        _lines("There are 15 boys and 36 girls.", "Answer: 12:5"),
        W,
        W,
    ),  # a reversed ratio
    ("3:8", "S_1:S_2=3:8", C, C),  # a labelled ratio
    ("3:8", "S_1:S_2=8:3", W, W),  # a labelled ratio reversed
    (r"\frac{3}{8}", "3:8", C, C),  # a ratio against a fraction gold
    ("3:8", r"\frac{3}{8}", C, C),  # a fraction against a ratio gold
    ("3:8", "3:5", W, W),  # a different ratio
    ("10:00", "1:00", W, W),  # clock times are times, not ratios
    ("2:30", "4:60", W, W),  # 4:60 is no time, and not 2:30
    ("2:30", "1:15", W, W),  # the same quotient, a different time
    (
        "2:30",
        _lines("The movie starts at 1:15 and runs 75 minutes.", "So it ends at 2:30."),
        C,
        U,
    ),  # a time closing the sentence, another time earlier
    (
        "2:30",
        _lines("The movie starts at 1:15 and runs 65 minutes.", "So it ends at 2:20."),
        W,
        U,
    ),  # a wrong time in prose
    (
        "9:45",
        _lines("She leaves at 9:15 and walks for 30 minutes, arriving at 9:45.", "Answer: 9:45"),
        C,
        C,
    ),  # a time after a marker
    (
        "9:45",
        _lines("She leaves at 9:15 and walks for an hour.", "Answer: 10:15"),
        W,
        W,
    ),  # a wrong time after a marker
    ("1:2:3", "a:b:c = 1:2:3", C, C),  # a three-part labelled ratio
    ("1:2:3", "a:b:c = 1:3:2", W, W),  # a three-part ratio out of order
    ("2:1", r"\boxed{2:1}", C, C),  # a boxed ratio
    ("2:1", r"\boxed{1:2}", W, W),  # a boxed ratio reversed
]

MATRICES = [
    (
        r"\begin{pmatrix} 2 & -1 \\ 0 & 3 \end{pmatrix}",
        r"\begin{bmatrix} 2 & -1 \\ 0 & 3 \end{bmatrix}",
        C,
        C,
    ),  # bmatrix against pmatrix
    (
        r"\begin{pmatrix} 2 & -1 \\ 0 & 3 \end{pmatrix}",
        r"\begin{pmatrix} 2 & 0 \\ -1 & 3 \end{pmatrix}",
        W,
        W,
    ),  # the transpose
    (
        r"\begin{pmatrix} 2 & -1 \\ 0 & 3 \end{pmatrix}",
        r"\left[\begin{array}{cc} 2 & -1 \\ 0 & 3 \end{array}\right]",
        C,
        C,
    ),  # an array inside \left[ \right]
    (
        r"\begin{pmatrix} 2 & -1 \\ 0 & 3 \end{pmatrix}",
        r"\begin{Bmatrix} 2 & -1 \\ 0 & 3 \end{Bmatrix}",
        C,
        C,
    ),  # Bmatrix brackets
    (
        r"\begin{pmatrix} \frac{1}{2} & 0 \\ 0 & 2 \end{pmatrix}",
        r"\begin{pmatrix} 0.5 & 0 \\ 0 & 2 \end{pmatrix}",
        C,
        C,
    ),  # entries compared as values
    (
        r"\begin{pmatrix} \frac{1}{2} & 0 \\ 0 & 2 \end{pmatrix}",
        r"\begin{pmatrix} 2 & 0 \\ 0 & \frac12 \end{pmatrix}",
        W,
        W,
    ),  # the diagonal swapped
    (
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        r"\begin{pmatrix} 1 & 2 & 3 & 4 \end{pmatrix}",
        W,
        W,
    ),  # the same entries in a different shape
    (
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \\ 0 & 0 \end{pmatrix}",
        W,
        W,
    ),  # an extra row
    (
        r"\begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}",
        _lines(
            r"Multiplying rows by columns, $A^2$ is",
            r"\[\boxed{\begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}}\]",
        ),
        C,
        C,
    ),  # a boxed matrix in a display
    (
        r"\begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}",
        _lines(
            r"Multiplying rows by columns, $A^2$ is",
            r"\[\boxed{\begin{pmatrix} 7 & 10 \\ 16 & 22 \end{pmatrix}}\]",
        ),
        W,
        W,
    ),  # one wrong entry
    (
        r"\begin{pmatrix} -2 & 1 \\ \frac{3}{2} & -\frac{1}{2} \end{pmatrix}",
        _lines(
            r"The determinant is $1 \cdot 4 - 2 \cdot 3 = -2$.",
            r"So the inverse is $\begin{pmatrix} -2 & 1 \\ \frac{3}{2} & -\frac{1}{2} \end{pmatrix}$.",
        ),
        C,
        U,
    ),  # a matrix closing the prose
    (
        r"\begin{pmatrix} -2 & 1 \\ \frac{3}{2} & -\frac{1}{2} \end{pmatrix}",
        _lines(
            r"The determinant is $1 \cdot 4 - 2 \cdot 3 = -2$.",
            r"So the inverse is $\begin{pmatrix} 2 & -1 \\ -\frac{3}{2} & \frac{1}{2} \end{pmatrix}$.",
        ),
        W,
        U,
    ),  # the determinant's sign dropped
    (
        "-2",
        _lines(
            "The determinant is",
            r"\[\det A = \begin{vmatrix} 1 & 2 \\ 3 & 4 \end{vmatrix} = 4 - 6 = -2.\]",
        ),
        C,
        U,
    ),  # a vmatrix worked to its value
    (
        "-2",
        _lines(
            "The determinant is",
            r"\[\det A = \begin{vmatrix} 1 & 2 \\ 3 & 4 \end{vmatrix} = 6 - 4 = 2.\]",
        ),
        W,
        U,
    ),  # the diagonals subtracted the wrong way
    (
        r"\begin{pmatrix} \frac{\sqrt{2}}{2} & -\frac{\sqrt{2}}{2} \\ \frac{\sqrt{2}}{2} & \frac{\sqrt{2}}{2} \end{pmatrix}",
        r"\begin{pmatrix} \frac{1}{\sqrt2} & -\frac{1}{\sqrt2} \\ \frac{1}{\sqrt2} & \frac{1}{\sqrt2} \end{pmatrix}",
        C,
        C,
    ),  # surd entries in another form
    (
        r"\begin{pmatrix} \frac{\sqrt{2}}{2} & -\frac{\sqrt{2}}{2} \\ \frac{\sqrt{2}}{2} & \frac{\sqrt{2}}{2} \end{pmatrix}",
        r"\begin{pmatrix} \frac{\sqrt{2}}{2} & \frac{\sqrt{2}}{2} \\ -\frac{\sqrt{2}}{2} & \frac{\sqrt{2}}{2} \end{pmatrix}",
        W,
        W,
    ),  # the rotation the other way
    (
        r"\begin{pmatrix} 3 \\ -1 \end{pmatrix}",
        r"\begin{bmatrix} 3 \\ -1 \end{bmatrix}",
        C,
        C,
    ),  # a column vector in brackets
    (
        r"\begin{pmatrix} 3 \\ -1 \end{pmatrix}",
        r"\begin{pmatrix} -1 \\ 3 \end{pmatrix}",
        W,
        W,
    ),  # a column vector's entries swapped
    (
        r"\begin{pmatrix} 0 & 1 \\ 1 & 0 \end{pmatrix}",
        _lines(
            "Swapping the two coordinates is the reflection in y = x.",
            r"Answer: $\begin{pmatrix} 0 & 1 \\ 1 & 0 \end{pmatrix}$",
        ),
        C,
        C,
    ),  # a matrix after a marker
]

RELATIONS = [
    (r"[3, \infty)", r"x \geqslant 3", C, C),  # \geqslant against an interval
    (r"[3, \infty)", r"x \ge 3", C, C),  # \ge
    (r"[3, \infty)", "x >= 3", C, C),  # plain >=
    (r"[3, \infty)", r"x \gt 3", W, W),  # \gt is strict
    (r"(-\infty, 5)", r"x \lt 5", C, C),  # \lt
    (r"(-\infty, 5)", r"x \leq 5", W, W),  # \leq is not strict
    (r"(-\infty, 2) \cup (2, \infty)", r"x \neq 2", C, C),  # \neq as a union of two rays
    (r"(-\infty, 2) \cup (2, \infty)", "x != 2", C, C),  # plain !=
    (r"(-\infty, 2) \cup (2, \infty)", r"x \ne -2", W, W),  # the excluded point is wrong
    (r"x \le -2", r"x \leqslant -2", C, C),  # \leqslant against \le
    (r"x \le -2", r"x \geqslant -2", W, W),  # the other side
    (r"-1 \le x < 4", "[-1, 4)", C, C),  # a chained inequality against an interval
    (r"-1 \le x < 4", "(-1, 4]", W, W),  # both ends the other way
    (r"[2, 5]", r"2 \leqslant x \leqslant 5", C, C),  # a chained \leqslant
    (r"[2, 5]", r"2 < x \leqslant 5", W, W),  # one end open
    (r"(-\infty, -1] \cup [1, \infty)", r"x \le -1 \text{ or } x \ge 1", C, C),  # two rays joined by "or"
    (r"(-\infty, -1] \cup [1, \infty)", r"-1 \le x \le 1", W, W),  # the complement, nearly
    (
        r"[3, \infty)",
        _lines(
            "Squaring both sides is safe because both are non-negative.",
            r"Combining the cases we get $x \geqslant 3$.",
        ),
        C,
        U,
    ),  # an inequality closing the prose
    (r"(0, \infty)", r"x \gt 0", C, C),  # \gt against a ray
    (r"x \geq 1", "x ≥ 1", C, C),  # a unicode relation
    (r"x \geq 1", "x ≤ 1", W, W),  # a unicode relation the other way
]

NUMBER_FORMATS = [
    ("1000", r"1,\!000", C, C),  # a thousands separator with \!
    ("1000", r"1{,}000", C, C),  # a braced comma
    ("12500", r"12\,500", C, C),  # a thin space
    ("2450.50", "2,450.50€", C, C),  # a separator, cents and the euro after
    ("1250", "$1,250", C, C),  # a dollar sign before
    ("300", "¥300", C, C),  # yen
    ("45", "₹45", C, C),  # rupee
    ("12", "12 m²", C, C),  # a unicode squared unit
    ("5", "5cm", C, C),  # a glued unit
    ("30", "30km/h", C, C),  # a glued compound unit
    (r"25\%", "25%", C, C),  # percent signs in two notations
    ("25", r"25\%", C, C),  # a gold without the percent sign
    ("5", "Final Answer: 5\\", C, C),  # a stray trailing backslash
    ("5", "5\\", C, C),  # a bare value with a stray trailing backslash
    ("36", r"\boxed{36\text{ cm}^2}", C, C),  # a squared unit in \text{}
    ("1000", r"1,\!100", W, W),  # a separator, wrong value
    ("2450.50", "2,540.50€", W, W),  # transposed digits with euro
    ("12500", r"12\,050", W, W),  # a thin space, wrong value
    ("1250", "$1,205", W, W),  # transposed digits with dollar
    ("45", "₹54", W, W),  # transposed digits with rupee
    ("12", "21 m²", W, W),  # transposed digits with a unit
    (r"25\%", "35%", W, W),  # a wrong percentage
    ("36", r"\boxed{6\text{ cm}^2}", W, W),  # the side instead of the area
    ("2500000", "2,500,000", C, C),  # two separators
    ("18", r"\$18.00", C, C),  # a LaTeX dollar with zero cents
    ("0.75", "7.5%", W, W),  # a percent that is a tenth of the value
    ("90", r"90\ \text{km/h}", C, C),  # a LaTeX space before a \text unit
    ("3.5", r"3.5 \text{ hours}", C, C),  # a decimal with a \text unit
    ("1000", "10^3", C, C),  # a power of ten
    (
        "4500",
        _lines("Three months at 1,500 dollars each comes to 4,500 dollars.", "Answer: $4,500"),
        C,
        C,
    ),  # a dollar amount after a marker
    (
        "4500",
        _lines("Three months at 15,000 dollars each.", "Answer: $45,000"),
        W,
        W,
    ),  # a dollar amount, off by a factor of ten
    (
        "85",
        _lines(
            "She earns $12.50 an hour for 6 hours, plus a $10 tip.",
            "So in total she earns 12.50 × 6 + 10 = 85 dollars.",
        ),
        C,
        U,
    ),  # money in prose with stray dollar signs
]

SETS_AND_LISTS = [
    (
        r"\{1, 2, 3\}",
        _lines("Each of 1, 2 and 3 divides 6 and is below 4.", r"Answer: $\{3, 1, 2\}$"),
        C,
        C,
    ),  # a set after a marker, in another order
    (r"\{-2, 2\}", r"\{2, -2\}", C, C),  # set order
    (r"\{-2, 2\}", r"\{2\}", W, W),  # a missing element
    (r"\{1, 4, 9\}", r"\{1, 4, 9, 16\}", W, W),  # an extra element
    ("1, 3, 5", r"\boxed{5, 3, 1}", C, C),  # a boxed list in another order
    ("1, 3, 5", r"\boxed{1, 3}", W, W),  # a boxed list missing a value
    (r"\{(1,2),(2,1)\}", r"\{(2,1),(1,2)\}", C, C),  # a set of pairs in another order
    (r"\{(1,2),(2,1)\}", r"\{(1,2),(1,2)\}", W, W),  # one pair twice, the other missing
    (
        r"\emptyset",
        _lines(
            r"The discriminant is $1 - 8 = -7 < 0$.",
            r"So there are no real solutions, and the solution set is $\varnothing$.",
        ),
        C,
        U,
    ),  # \varnothing closing the prose
    (r"\emptyset", r"\{0\}", W, W),  # the set holding zero is not empty
    (
        "2, 4, 6, 8",
        _lines(
            "The even numbers below 10 are",
            "Answer: 2, 4, 6, and 8",
        ),
        C,
        C,
    ),  # a list with "and"
    ("2, 4, 6, 8", _lines("The even numbers below 10 are", "Answer: 2, 4, 6, 10"), W, W),  # a wrong member
    (r"\{x \mid x > 2\}", r"(2, \infty)", C, C),  # set-builder against an interval
    (r"\{x \mid x > 2\}", r"[2, \infty)", W, W),  # a closed end
    (r"\{a, b\}", r"\{b, a\}", C, C),  # a set of letters
    ("1, 2", r"\boxed{\{1,2\}}", C, C),  # a boxed set against a bare list
]

CHOICES_IN_PROSE = [
    (
        "B",
        _lines("Option (A) double counts the corners, so it is out.", "The correct option is (B)."),
        C,
        C,
    ),  # "The correct option is (B)" after a rejected option
    ("B", "I'd go with C.", W, W),  # a wrong letter in a casual sentence
    ("D", "Answer: (D) 12", C, C),  # a letter with its option's value
    ("D", "Answer: (C) 10", W, W),  # a wrong letter with its value
    ("B", r"The correct answer is **B) 45°**.", C, C),  # bold letter with its value
    (
        "A",
        _lines(
            "Let's test each choice. (B) gives 7, (C) gives 9 and (D) gives 11, none of which satisfy the equation.",
            "Therefore, the answer is A.",
        ),
        C,
        C,
    ),  # other letters tested first
    (
        "A",
        _lines(
            "Let's test each choice. (A) gives 5 and (B) gives 7.",
            "Therefore the correct choice is (D).",
        ),
        W,
        W,
    ),  # the gold letter tested first, another letter chosen
    ("C", "C", C, C),  # a bare letter
    ("C", r"\boxed{C}", C, C),  # a boxed letter
    ("C", r"The final answer is $\boxed{\text{(C)}}$.", C, C),  # a boxed letter in \text{}
    ("C", r"The final answer is $\boxed{\text{(E)}}$.", W, W),  # a wrong boxed letter in \text{}
    (
        "E",
        "I think it's E, since the other four all contradict the given area.",
        C,
        C,
    ),  # a letter and its reason
    (
        "D",
        _lines(
            "Options A and B can be ruled out immediately. Between C and D, only D keeps the sum even.",
            "So I'll pick D.",
        ),
        C,
        C,
    ),  # several letters in the working, one picked
    (
        "C",
        _lines(
            "Options A and B are ruled out. Between C and D, C fails the parity check.",
            "So the answer must be D.",
        ),
        W,
        W,
    ),  # the gold letter named in the working, another one chosen
    ("B", "**Answer: B**", C, C),  # bold marker and letter
    ("B", "**Answer: A**", W, W),  # bold marker, wrong letter
    ("A", "答案是 A。", C, C),  # a Chinese marker with a letter
    ("A", "正确答案是 C。", W, W),  # a Chinese marker, wrong letter
    ("B", "La respuesta correcta es la opción (B).", C, C),  # Spanish
    ("D", "Réponse : C", W, W),  # French, wrong letter
    (
        "B",
        _lines("Both (A) and (B) look plausible, but only (B) matches the units.", "I'd choose (B)."),
        C,
        C,
    ),  # two letters weighed, one chosen
    ("B", "It's either B or C.", W, W),  # a hedge between letters never passes
]

DEBRIS = [
    (
        "42",
        _lines(
            r"6 \times 7 = 42, so the product is $\boxed{42}$.<|im_end|>",
            "<|im_start|>user",
            "Now what is 6 times 9?<|im_end|>",
            "<|im_start|>assistant",
            r"$\boxed{54}$",
        ),
        C,
        C,
    ),  # a hallucinated next turn with its own box
    (
        "54",
        _lines(
            r"6 \times 7 = 42, so the product is $\boxed{42}$.<|im_end|>",
            "<|im_start|>user",
            "Now what is 6 times 9?<|im_end|>",
            "<|im_start|>assistant",
            r"$\boxed{54}$",
        ),
        W,
        W,
    ),  # the hallucinated turn's box is the gold: still wrong
    (
        "18",
        _lines("She sells 9 eggs at 2 dollars each: 9*2=<<9*2=18>>18.", "#### 18<|endoftext|>"),
        C,
        C,
    ),  # an end-of-text token glued to the answer
    (
        "18",
        _lines(
            "She sells 8 eggs at 2 dollars each: 8*2=<<8*2=16>>16.",
            "#### 16<|endoftext|>Question: A farmer has 9 hens that lay 2 eggs each. How many eggs?",
            "Answer: 9*2=18",
            "#### 18",
        ),
        W,
        W,
    ),  # a base model's next question after <|endoftext|> answers the gold
    ("9", "The answer is 9.<|eot_id|>", C, C),  # Llama's end-of-turn token
    (
        "9",
        _lines(
            "There were 14 apples and 5 were eaten.",
            "So there are 9 apples.<|eot_id|><|start_header_id|>user<|end_header_id|>",
            "",
            "What if there were 12?",
        ),
        C,
        U,
    ),  # a hallucinated Llama user turn after the prose answer
    (
        "12",
        _lines(
            "There were 14 apples and 5 were eaten.",
            "So there are 9 apples.<|eot_id|><|start_header_id|>user<|end_header_id|>",
            "",
            "What if there were 12?",
        ),
        W,
        U,
    ),  # the hallucinated turn's number is the gold: still wrong
    (
        "15",
        _lines(
            "Each of the 3 friends gets 5 cookies, so together that's 15.",
            "I hope this helps! Let me know if you need help with part 2!",
        ),
        C,
        U,
    ),  # a sign-off with a number in it
    (
        "2",
        _lines(
            "Each of the 3 friends gets 5 cookies, so together that's 15.",
            "I hope this helps! Let me know if you need help with part 2!",
        ),
        W,
        U,
    ),  # the sign-off's number is the gold: still wrong
    (
        r"\frac{7}{3}",
        r"Final Answer: The final answer is $\frac{7}{3}$. I hope it is correct.<|endoftext|>",
        C,
        C,
    ),  # Minerva's line with an end-of-text token
    (
        r"\frac{7}{3}",
        _lines(
            r"We need $3x = 7$.",
            r"Final Answer: The final answer is $\frac{3}{7}$. I hope it is correct.",
        ),
        W,
        W,
    ),  # Minerva's line, an inverted fraction
    (
        "25",
        _lines(
            r"The square of 5 is $\boxed{25}$.<|im_end|>",
            "<|im_start|>user",
            "What is 5^3?<|im_end|>",
            "<|im_start|>assistant",
            "<think>",
            "5^3 = 125",
        ),
        C,
        C,
    ),  # a hallucinated turn that opens a <think> of its own
    (
        "125",
        _lines(
            r"The square of 5 is $\boxed{25}$.<|im_end|>",
            "<|im_start|>user",
            "What is 5^3?<|im_end|>",
            "<|im_start|>assistant",
            "<think>",
            "5^3 = 125",
        ),
        W,
        W,
    ),  # the hallucinated turn's working is the gold: still wrong
    (
        "8",
        _lines(
            "The floor is 2 by 4, and each tile covers one square.",
            "So she needs 8 tiles.",
            "",
            "Human: What about a 5 by 5 floor?",
            "",
            "Assistant: That needs 25 tiles.",
        ),
        C,
        U,
    ),  # a base model's transcript continuing after the answer
    (
        "3",
        _lines(
            "The remainder is 3.",
            "",
            "I hope it is correct.",
        ),
        C,
        U,
    ),  # a sentence and a sign-off: no marker
    ("64", "Answer: 64<|im_end|>", C, C),  # <|im_end|> glued to the answer
    (
        "64",
        _lines("Answer: 46<|im_end|>", "<|im_start|>user", "Is it 64?<|im_end|>"),
        W,
        W,
    ),  # the user's hallucinated correction is not the model's answer
    ("10", "The answer is 10.</s>", C, C),  # an end-of-sequence tag
]

CATEGORIES: dict[str, list[tuple[str, str, Status, Status]]] = {
    "free_text": FREE_TEXT,
    "markers": MARKERS,
    "multilingual": MULTILINGUAL,
    "think_and_boxes": THINK_AND_BOXES,
    "labelled_and_systems": LABELLED_AND_SYSTEMS,
    "joined_answers": JOINED_ANSWERS,
    "ratios_and_times": RATIOS_AND_TIMES,
    "matrices": MATRICES,
    "relations": RELATIONS,
    "number_formats": NUMBER_FORMATS,
    "sets_and_lists": SETS_AND_LISTS,
    "choices_in_prose": CHOICES_IN_PROSE,
    "debris": DEBRIS,
}
