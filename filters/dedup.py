"""Corpus-wide deduplication: exact copies, and near copies found by MinHash LSH.

The same units run on problems before any is sampled (positions: problem order in the input files) and on
the kept traces when the shards are made (positions: problem order, then each problem's kept traces best
first). Of each group of duplicates the lowest position is kept, so the outcome does not depend on the order
the texts arrive in (traces stream from a journal whose order is not deterministic).

A unit is a frozen dataclass whose fields are its parameters (a config section builds it with
`DEDUP_UNITS[name](**params)`). It cannot answer keep or drop for one text, so it answers what a
`DuplicateFinder` needs instead: `signer()` turns a text into `width` 64-bit bucket keys, and two texts that
share a key in the same column are duplicates, dropped with the unit's `reason`.

Memory is what shapes the finder. A million traces must fit a 2-core, 24 GiB machine beside everything
else, so it keeps no text, shingle set, MinHash or per-item Python object: only numpy arrays allocated from
the number of items, 8 bytes a key, a byte a unit and one more: (1 + bands) x 8 + 3 = 123 bytes a trace
with `exact` and the default `near` (123 MB for a million). tests/bench/bench_dedup.py measured, over a
million synthetic traces of 150-300 words on one core: 0.29 CPU s per 1000 traces to add (nearly all of
it MinHash signing, a sha1 per shingle; `exact` alone is about 0.02), 1.9 s for `duplicates()`, and a peak
RSS 191 MiB above the process's before the finder was built.
"""

from __future__ import annotations

import hashlib
import importlib.util
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Protocol, cast

from filters.selectors import _require_count
from filters.text import word_shingles

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

TARGETS = ("problems", "traces")
MINHASH_SCHEME = "affine32"  # datasketch >= 2.0's universal hashing (its default there)
NEAR_DEDUP_NEEDS = "near dedup needs datasketch: pip install 'factory[curate]'"

# A signer's answer: the text's bucket keys (`width` uint64), or None when it has none (a text with no words
# has no shingles, so it is near nothing; `exact` still matches it with its copies).
Signer = Callable[[str], "NDArray[np.uint64] | None"]


class DedupUnit(Protocol):
    on: tuple[str, ...]
    reason: ClassVar[str]

    @property
    def width(self) -> int: ...

    def signer(self) -> Signer: ...


@dataclass(frozen=True, slots=True)
class ExactDedup:
    """Drop a text whose normalised form (NFKC, casefolded, whitespace runs collapsed) is that of an earlier
    one: full-width and ASCII letters, ligatures, `Straße` and `STRASSE`, a line break and a space are the
    same (and, by NFKC, `x²` and `x2`). Compared by a 64-bit blake2b digest: a chance match among a
    million texts has probability about 3·10⁻⁸."""

    on: tuple[str, ...] | list[str] = TARGETS
    reason: ClassVar[str] = "duplicate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", _require_targets(self.on))

    @property
    def width(self) -> int:
        return 1

    def signer(self) -> Signer:
        import numpy as np

        def keys(text: str) -> NDArray[np.uint64]:
            digest = hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).digest()
            return np.frombuffer(digest, dtype="<u8")

        return keys


@dataclass(frozen=True, slots=True)
class NearDedup:
    """Drop a text whose word `ngram`-gram shingles (`filters.text.word_shingles`) collide with an earlier
    text's in one of `bands` MinHash bands of `rows` hashes: datatrove's MinHash dedup and its defaults
    (5-grams, 14 bands x 8). Two texts of Jaccard similarity s collide with probability 1 - (1 - s^8)^14:
    0.05 at s = 0.5, 0.21 at 0.6, 0.50 at 0.685, 0.64 at 0.72, 0.92 at 0.8, 0.9996 at 0.9.

    As in datatrove, a band collision is a duplicate, with no check of the true similarity, and groups close
    transitively (union-find): if A collides with B and B with C, the three are one group and only the lowest
    position stays, though A and C may share little. Closing groups is what makes the outcome independent of
    the order texts arrive in, and it makes every drop point at a copy that stays.

    The defaults were chosen for web pages. A teacher's trace resampled with one word in twenty changed is
    at s ≈ 0.6-0.65 in 5-grams, so it is caught about one time in three; one in fifty, 96%; one in a hundred
    (s ≈ 0.9), always (measured on planted copies: tests/test_dedup.py, tests/bench/bench_dedup.py). To
    catch one word in twenty, 3-grams with 20 bands x 4 rows do (s ≈ 0.76, p ≈ 0.9996) and still keep two
    solutions of one problem by different methods apart (s ≈ 0.02); but they merge texts at s = 0.5 with
    p ≈ 0.72, so measure what a corpus's unrelated traces share before using them."""

    on: tuple[str, ...] | list[str] = TARGETS
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    reason: ClassVar[str] = "near_duplicate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", _require_targets(self.on))
        _require_count("ngram", self.ngram, minimum=1)
        _require_count("bands", self.bands, minimum=1)
        _require_count("rows", self.rows, minimum=1)
        _require_count("seed", self.seed, minimum=0)
        if self.seed >= 2**32:
            raise ValueError(f"seed must be an integer in [0, 2^32), got {self.seed!r}")
        if importlib.util.find_spec("datasketch") is None:
            raise ValueError(NEAR_DEDUP_NEEDS)  # at config load, not hours later when the shards are made

    @property
    def width(self) -> int:
        return self.bands

    def signer(self) -> Signer:
        import numpy as np

        try:
            from datasketch import MinHash
        except ImportError:
            raise ImportError(NEAR_DEDUP_NEEDS) from None
        num_perm = self.bands * self.rows
        # The permutations drawn once: a MinHash made without them draws num_perm pairs from its seed.
        # The scheme named, not datasketch's default: a new default would change every signature silently.
        template = MinHash(num_perm=num_perm, seed=self.seed, scheme=MINHASH_SCHEME)
        permutations, scheme = template.permutations, template.scheme
        bands, rows, ngram, seed = self.bands, self.rows, self.ngram, self.seed

        def keys(text: str) -> NDArray[np.uint64] | None:
            shingles = word_shingles(text, ngram)
            if not shingles:
                return None
            minhash = MinHash(num_perm=num_perm, seed=seed, permutations=permutations, scheme=scheme)
            minhash.update_batch([shingle.encode("utf-8") for shingle in shingles])
            # One 64-bit key per band: two texts share it when all `rows` of their hashes in the band agree
            # (or, with probability 2^-64, by chance).
            band_bytes = minhash.hashvalues.reshape(bands, rows)
            digests = b"".join(hashlib.blake2b(band.tobytes(), digest_size=8).digest() for band in band_bytes)
            return np.frombuffer(digests, dtype="<u8")

        return keys


DEDUP_UNITS: dict[str, type] = {"exact": ExactDedup, "near": NearDedup}
# Off unless asked for: adaptive sampling counts a problem's passing traces before the corpus is deduped,
# so a default dedup would ship fewer than `target_kept` where a teacher repeats itself.
DEFAULT_DEDUP: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Why a position is dropped: it duplicates the one at `kept`, which stays."""

    kept: int  # the position of the copy kept
    unit: str  # the unit's name in the config ("exact", "near")
    reason: str  # the unit's reason ("duplicate", "near_duplicate")


class DuplicateFinder:
    """Find the duplicates among `size` texts for one target ("problems" or "traces"), by the units (in
    config order, `(name, unit)` pairs) whose `on` lists it.

    Texts are added by position in any order, each at most once; positions never added take no part. Units
    apply in order, each to what the ones before it kept, so the copy a drop points to is never dropped.

    >>> finder = DuplicateFinder([("exact", ExactDedup())], size=3, target="traces")
    >>> for position, text in [(2, "x = 1"), (0, "X  =  1"), (1, "x = 2")]:
    ...     finder.add(position, text)
    >>> finder.duplicates()
    {2: Duplicate(kept=0, unit='exact', reason='duplicate')}
    """

    def __init__(self, units: Sequence[tuple[str, object]], size: int, target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        _require_count("size", size, minimum=0)
        self._size = size
        self._units = [
            (name, cast(DedupUnit, unit)) for name, unit in units if target in cast(DedupUnit, unit).on
        ]
        if not self._units:
            return
        import numpy as np

        self._added = np.zeros(size, dtype=bool)
        self._signers = [unit.signer() for _, unit in self._units]
        # Column-major (one row per key column) so each column is contiguous when it is sorted.
        self._keys = [np.zeros((unit.width, size), dtype=np.uint64) for _, unit in self._units]
        self._signed = [np.zeros(size, dtype=bool) for _ in self._units]

    @property
    def active(self) -> bool:
        """Whether some unit applies to this target: when not, `add` is free and nothing is a duplicate."""
        return bool(self._units)

    def add(self, position: int, text: str) -> None:
        if not self._units:
            return
        if not 0 <= position < self._size:
            raise IndexError(f"position must be in [0, {self._size}), got {position}")
        if self._added[position]:
            raise ValueError(f"position {position} was added twice")
        self._added[position] = True
        for signer, keys, signed in zip(self._signers, self._keys, self._signed, strict=True):
            signature = signer(text)
            if signature is not None:
                keys[:, position] = signature
                signed[position] = True

    def duplicates(self) -> dict[int, Duplicate]:
        """The dropped positions, each with the position it duplicates; positions kept are absent."""
        if not self._units:
            return {}
        import numpy as np

        alive = self._added.copy()
        found: dict[int, Duplicate] = {}
        for (name, unit), keys, signed in zip(self._units, self._keys, self._signed, strict=True):
            candidates = np.flatnonzero(alive & signed)
            dropped, kept = _groups(keys, candidates)
            alive[dropped] = False
            for position, first in zip(dropped.tolist(), kept.tolist(), strict=True):
                found[position] = Duplicate(first, name, unit.reason)
        # A later unit may drop a copy an earlier one kept (`near` before `exact`, or the two reading a text
        # differently): point to what stays. Ascending, so each `kept` (lower) is already final.
        for position in sorted(found):
            duplicate = found[position]
            if duplicate.kept in found:
                found[position] = replace(duplicate, kept=found[duplicate.kept].kept)
        return found


def normalise(text: str) -> str:
    """The text `exact` compares: NFKC, casefolded, whitespace runs as one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _groups(
    keys: NDArray[np.uint64], candidates: NDArray[np.intp]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The positions among `candidates` (ascending) that share a key column with a lower one, closed
    transitively, and for each the lowest position of its group."""
    import numpy as np

    count = len(candidates)
    if count < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    # Edges between indices into `candidates`: each member of a run of equal keys to the run's first, which
    # (a stable sort over ascending candidates) is its lowest.
    members: list[NDArray[np.intp]] = []
    firsts: list[NDArray[np.intp]] = []
    ordinals = np.arange(count)
    for column in keys:
        values = column[candidates]
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        starts = np.empty(count, dtype=bool)
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
        del ordered, values
        run_first = np.maximum.accumulate(np.where(starts, ordinals, 0))
        repeated = ~starts
        members.append(order[repeated])
        firsts.append(order[run_first[repeated]])
    member = np.concatenate(members)
    first = np.concatenate(firsts)
    label = _components(member, first, count)
    dropped = np.flatnonzero(label != ordinals)
    return candidates[dropped], candidates[label[dropped]]


def _components(left: NDArray[np.intp], right: NDArray[np.intp], count: int) -> NDArray[np.intp]:
    """Union-find over `count` nodes joined by the edges (left[i], right[i]), vectorised: each node's label
    is the lowest node of its connected component."""
    import numpy as np

    label = np.arange(count)
    while len(left):
        # Every label is a root here: hook each edge's two roots onto the lower, then jump pointers until
        # every node points at its root again. Each round joins every pair of roots an edge still spans.
        low = np.minimum(label[left], label[right])
        np.minimum.at(label, label[left], low)
        np.minimum.at(label, label[right], low)
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        spanning = label[left] != label[right]
        left, right = left[spanning], right[spanning]
    return label


def _require_targets(on: object) -> tuple[str, ...]:
    targets = (on,) if isinstance(on, str) else on
    if (
        not isinstance(targets, list | tuple)
        or not targets
        or any(target not in TARGETS for target in targets)
    ):
        raise ValueError(f"on must list one or both of {', '.join(TARGETS)}, got {on!r}")
    return tuple(dict.fromkeys(targets))
