"""Dedup at corpus scale: time and memory of `exact` then `near` (datatrove's defaults) over a million
synthetic traces in one process, and how many planted copies each finds.

Traces are generated here, deterministically from their position and streamed (none is kept): 150-300
words of chain-of-thought prose over a Zipf-distributed made-up vocabulary, with numbers, formulas and
the stock phrases real traces share ("Let me check", "So the answer is"), in four styles (`<think>`
tags, LaTeX, markdown steps, terse). A planted share of them copies an earlier original:

- exact: the same text upper-cased or re-spaced (found by `exact`);
- near_1_in_100, near_1_in_50, near_1_in_20: the text with that share of its words replaced (found by
  `near` with probability 1 - (1 - s^8)^14 at 5-gram Jaccard s: about 0.9998, 0.96 and 0.3).

Traces are added in a shuffled order (as the package stage reads them from a journal), and the peak RSS
above what the process held before the finder was built is the finder's (its arrays, `duplicates()`'s
sorts and the answer), since no text is kept.

    .venv/bin/python tests/bench/bench_dedup.py [--traces 1000000] [--seed 0]

Measured on a shared 2-core machine, 1 000 000 traces: 85 829 dropped (40 114 exact, 45 715 near); planted
exact 100%, near 1 in 100 100.0% (20 011 of 20 018), 1 in 50 96.3%, 1 in 20 31.1%; no original dropped;
343 s wall, 291 CPU s (0.29 per 1k), of which `duplicates()` 1.9 s; peak RSS 191 MiB above 123 MiB.
100 000 traces: the same shares, 29 CPU s, peak RSS 20 MiB above.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from filters.dedup import DuplicateFinder, ExactDedup, NearDedup

PLANTED = {"exact": 0.04, "near_1_in_100": 0.02, "near_1_in_50": 0.02, "near_1_in_20": 0.02}
EDIT_RATES = {"near_1_in_100": 100, "near_1_in_50": 50, "near_1_in_20": 20}
STYLES = ("think", "latex", "markdown", "terse")

STOCK = [
    "Let me check this again.",
    "Wait, that is not right.",
    "So the answer is {a}.",
    "Hmm, let me reconsider the second case.",
    "First, we need to find {v}.",
    "Okay, so we have {a} and {b}.",
    "That gives {a} + {b} = {c}.",
    "Therefore {v} = {c}.",
    "Let me verify: {a} times {b} is {p}.",
    "Alternatively, we could count the complement.",
    "This matches the earlier result.",
    "Now substitute back into the equation.",
]
FORMULAS = [
    "${v}^2 + {a}{v} = {c}$",
    r"$\frac{{{a}}}{{{b}}}$",
    r"$\sqrt{{{p}}}$",
    "$({v} - {a})({v} + {b}) = 0$",
    r"$\binom{{{c}}}{{{a}}}$",
]


def vocabulary(seed: int, size: int = 6000) -> tuple[list[str], list[float]]:
    """Made-up words from syllables, with Zipf weights (rank r drawn with weight 1/r)."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "qu", "st", "er", "an"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    weights = [1.0 / rank for rank in range(1, size + 1)]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return ordered, cumulative


class Corpus:
    """Trace `position` of a corpus of `size`, and what it was planted as: "original", "exact", "near_..."."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.words, self.cumulative = vocabulary(seed)
        self.kinds = list(PLANTED)
        self.thresholds = []
        total = 0.0
        for share in PLANTED.values():
            total += share
            self.thresholds.append(total)

    def _rng(self, position: int, salt: int = 0) -> random.Random:
        return random.Random((self.seed * 1_000_003 + position) * 4 + salt)

    def kind(self, position: int) -> str:
        if position < 100:
            return "original"
        draw = self._rng(position, 1).random()
        for kind, threshold in zip(self.kinds, self.thresholds, strict=True):
            if draw < threshold:
                return kind
        return "original"

    def source(self, position: int) -> int:
        """The original a planted copy copies: an earlier one, up to 200 000 positions back."""
        source = self._rng(position, 2).randrange(max(0, position - 200_000), position)
        while self.kind(source) != "original":
            source -= 1
        return source

    def text(self, position: int) -> tuple[str, str]:
        kind = self.kind(position)
        if kind == "original":
            return kind, self._original(position)
        original = self._original(self.source(position))
        rng = self._rng(position, 3)
        if kind == "exact":
            if rng.random() < 0.5:
                return kind, original.upper()
            return kind, "  " + original.replace(" ", "  ").replace("\n", "\n\n") + "\n"
        return kind, self._edited(original, EDIT_RATES[kind], rng)

    def _original(self, position: int) -> str:
        rng = self._rng(position)
        style = STYLES[rng.randrange(len(STYLES))]
        target = rng.randint(150, 300)
        variable = rng.choice("xyznkmabt")
        sentences: list[str] = []
        count = 0
        step = 1
        while count < target:
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            numbers = {"a": a, "b": b, "c": a + b, "p": a * b, "v": variable}
            draw = rng.random()
            if draw < 0.25:
                sentence = rng.choice(STOCK).format(**numbers)
            else:
                length = rng.randint(6, 16)
                words = rng.choices(self.words, cum_weights=self.cumulative, k=length)
                if draw < 0.45:
                    words.insert(rng.randrange(length), rng.choice(FORMULAS).format(**numbers))
                words[0] = words[0].capitalize()
                sentence = " ".join(words) + rng.choice(".,;:?")
            if style == "markdown" and rng.random() < 0.15:
                sentence = f"\n\n**Step {step}.** {sentence}"
                step += 1
            elif rng.random() < 0.1:
                sentence = "\n\n" + sentence
            sentences.append(sentence)
            count += len(sentence.split())
        body = " ".join(sentences)
        answer = rng.randint(1, 10_000)
        if style == "think":
            return f"<think>\n{body}\n</think>\nThe answer is \\boxed{{{answer}}}."
        if style == "latex":
            return f"{body}\n\\[\n{variable} = {answer}\n\\]\nTherefore $\\boxed{{{answer}}}$."
        if style == "markdown":
            return f"{body}\n\n**Answer:** $\\boxed{{{answer}}}$"
        return f"{body} \\boxed{{{answer}}}"

    def _edited(self, text: str, one_in: int, rng: random.Random) -> str:
        tokens = text.split(" ")
        edits = max(1, round(len(tokens) / one_in))
        for at in rng.sample(range(len(tokens)), edits):
            tokens[at] = rng.choices(self.words, cum_weights=self.cumulative)[0]
        return " ".join(tokens)


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    corpus = Corpus(args.traces, args.seed)
    order = list(range(args.traces))
    random.Random(args.seed).shuffle(order)
    units = [("exact", ExactDedup()), ("near", NearDedup())]
    import datasketch  # noqa: F401  (imported before the baseline: the finder imports it, and numpy, lazily)
    import numpy  # noqa: F401

    baseline = peak_rss_mib()

    started = time.perf_counter()
    finder = DuplicateFinder(units, size=args.traces, target="traces")
    generating = adding = adding_cpu = 0.0
    for done, position in enumerate(order, 1):
        tick = time.perf_counter()
        _, text = corpus.text(position)
        tock, tock_cpu = time.perf_counter(), time.process_time()
        finder.add(position, text)
        adding += time.perf_counter() - tock
        adding_cpu += time.process_time() - tock_cpu
        generating += tock - tick
        if done % 100_000 == 0:
            print(f"  added {done:,} in {time.perf_counter() - started:.0f} s", flush=True)
    resolving, resolving_cpu = time.perf_counter(), time.process_time()
    duplicates = finder.duplicates()
    resolving, resolving_cpu = time.perf_counter() - resolving, time.process_time() - resolving_cpu
    total = time.perf_counter() - started - generating
    peak = peak_rss_mib()

    planted = {
        position: kind for position in range(args.traces) if (kind := corpus.kind(position)) != "original"
    }
    by_reason = Counter(duplicate.reason for duplicate in duplicates.values())
    planted_counts = Counter(planted.values())
    found = Counter(kind for position, kind in planted.items() if position in duplicates)
    unplanted = sum(1 for position in duplicates if position not in planted)
    print(f"items              {args.traces:,}")
    print(f"duplicates found   {len(duplicates):,} ({', '.join(f'{r} {n:,}' for r, n in by_reason.items())})")
    for kind in PLANTED:
        share = found[kind] / planted_counts[kind] if planted_counts[kind] else 0.0
        print(f"  planted {kind:<14} {found[kind]:,} of {planted_counts[kind]:,} found ({share:.1%})")
    print(f"  not planted, dropped {unplanted:,}")
    print(
        f"seconds            {total:.1f} (add {adding:.1f}, duplicates() {resolving:.1f}; "
        f"generating the texts {generating:.1f} more, not counted)"
    )
    cpu = adding_cpu + resolving_cpu
    print(f"cpu seconds        {cpu:.1f} (add {adding_cpu:.1f}, duplicates() {resolving_cpu:.1f})")
    print(f"items/s            {args.traces / total:,.0f} ({total / args.traces * 1000:.2f} s per 1k)")
    print(f"items/cpu s        {args.traces / cpu:,.0f} ({cpu / args.traces * 1000:.2f} cpu s per 1k)")
    print(f"peak RSS           {peak - baseline:,.0f} MiB above {baseline:,.0f} MiB before the finder")


if __name__ == "__main__":
    main()
