"""Run and SFT configuration: dataclasses with defaults < YAML file < `--set key=value` overrides.

Validation happens on load. Every mistake is one `FactoryError` line naming the file, line and key,
and what is allowed.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import types
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from factory.errors import FactoryError
from filters.extract import EXTRACTION_MODES

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"

# The ranges of the whole-number settings. Each upper bound is far past any real use, and bounds what the
# number sizes: `sampling.n: 100000000` once grew memory without sending a request, deaf to Ctrl-C.
MAX_DRAWS = 1024  # draws of a problem in one request (n, pass@k): each is held until its request ends
MAX_PROBLEM_DRAWS = 16_384  # draws of a problem over all its rounds (adaptive budgets, votes)
MAX_TOKENS = 1 << 20  # tokens of a response: a million, some 4 MB of text (4 characters a token)
MAX_CONTEXT = 1 << 24  # tokens of a model's context: past the longest of any model (10M)
MAX_IN_FLIGHT = 4096  # requests in flight or queued at an engine, each holding its prompt and draws
MAX_WORKERS = 1024  # processes or replicas started at once
MAX_RETRIES = 100  # retries or restarts, each waited out
MAX_ROWS = 1 << 40  # a cap on rows: nothing is held per row it allows
MAX_SEED = (1 << 63) - 1  # seeds go to NumPy, which takes no negative one, and to HTTP payloads as int64


def _count(default: int | None, low: int, high: int) -> Any:
    """A whole-number field whose values must lie in [low, high]; `build` checks it."""
    return field(default=default, metadata={"range": (low, high)})


_KEY_VARIABLE = (
    "must be the NAME of an environment variable holding the key (e.g. OPENAI_API_KEY), not the key"
)


def _key_variable_field() -> Any:
    """`api_key_env`: the NAME of the environment variable holding the key, never the key. A value that is
    not a variable's name is refused without being shown, in any error (it may be a key pasted there)."""
    return field(default=None, metadata={"conceal": _KEY_VARIABLE})


def _key_variable(name: str | None) -> None:
    _check(
        name is None or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None,
        "api_key_env",
        _KEY_VARIABLE,
    )


@dataclass
class FieldsConfig:
    """Which input column holds what. Rows without an id (or `id: null`) get one derived from the problem text."""

    id: str | None = "id"  # the column of each problem's id; null derives every id from the problem's text
    problem: str = "problem"  # the column of the problem's text, which the prompt template fills in
    answer: str = "answer"  # the column of the gold answer (with reject.majority, it may be missing)


ON_ERROR = ("fail", "quarantine")
# What `problems.format` and `factory verify --format` take: auto tells a file's format by its suffix.
INPUT_FORMATS = ("auto", "jsonl", "csv", "parquet", "arrow")


@dataclass
class ProblemsConfig:
    """Where the problems come from and which columns hold what."""

    paths: list[str] = field(
        default_factory=list,
        metadata={
            "help": "JSONL, CSV, Parquet or Arrow files (JSONL and CSV also .gz); patterns (data/*.jsonl, "
            "read in sorted order); folders `datasets` saved (save_to_disk), a DatasetDict's with its split "
            "after a colon (data/gsm8k:train); Hugging Face datasets from the local datasets cache, read "
            "offline: hf:ID:SPLIT or hf:ID:CONFIG:SPLIT (hf:openai/gsm8k:main:train). A split belongs to "
            "its entry, so two datasets can each name their own"
        },
    )
    format: str = "auto"  # jsonl, csv, parquet or arrow: for files whose suffix does not say
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    limit_per_file: int | None = _count(None, 1, MAX_ROWS)  # the first N problems of each file; none: all
    # A malformed row stops the run (fail), or goes to run_dir/quarantine.jsonl with its reason while the
    # other rows run (quarantine). A file that cannot be read at all stops the run either way.
    on_error: str = "fail"
    keep_columns: list[str] = field(
        default_factory=list,
        metadata={
            "help": "input columns carried into every shard row after the factory's own (a dataset's level, "
            "type...); a row without one is malformed"
        },
    )
    gold: str = field(
        default="auto",
        metadata={
            "help": "how the gold answer is read from the answer column: auto (a closing #### line as GSM8K "
            "writes, else the last \\boxed{} as MATH writes, else the text as it is), as_is, boxed, hashes "
            "(the text after the last ####), last_number, or pattern (gold_pattern's group). Shards keep the "
            "whole text as reference_solution where it differs; a gold the mode cannot read is verified as "
            "given and named in the summary"
        },
    )
    gold_pattern: str | None = field(
        default=None,
        metadata={"help": "with gold: pattern, a regex with one group: the answer, in the gold's last match"},
    )

    def validate(self) -> None:
        from factory.golds import GOLD_MODES, pattern_error  # the readers' own checks

        _check(bool(self.paths), "paths", "must list at least one JSONL, CSV or Parquet file")
        _choice("format", self.format, INPUT_FORMATS)
        _choice("on_error", self.on_error, ON_ERROR)
        for index, name in enumerate(self.keep_columns):
            _check(name not in self.keep_columns[:index], "keep_columns", f"names {name!r} twice")
        for role in ("id", "problem", "answer"):
            column = getattr(self.fields, role)
            _check(
                column not in self.keep_columns,
                "keep_columns",
                f"names {column!r}, problems.fields.{role}: a shard row carries it already",
            )
        _choice("gold", self.gold, GOLD_MODES)
        if self.gold == "pattern":
            _check(
                self.gold_pattern is not None,
                "gold",
                "is pattern, which needs problems.gold_pattern: a regex whose one group is the answer",
            )
        elif self.gold_pattern is not None:
            raise _FieldError("gold_pattern", f"is read only with problems.gold: pattern, not {self.gold}")
        wrong = pattern_error(self.gold_pattern) if self.gold_pattern is not None else None
        _check(wrong is None, "gold_pattern", wrong or "")


@dataclass
class PromptConfig:
    """How each problem is asked."""

    template: str = "boxed_cot"  # a name under prompts/ or a path to a template file


@dataclass
class SamplingConfig:
    """Generation settings, named as in vLLM's SamplingParams and the OpenAI API."""

    n: int = _count(4, 1, MAX_DRAWS)  # draws per problem; raising it later adds draws to the same run folder
    temperature: float = 0.7  # 0 is greedy
    top_p: float = 0.95  # nucleus sampling: the smallest set of tokens holding this much probability
    max_tokens: int = _count(512, 1, MAX_TOKENS)  # per draw; a draw cut here is finish_reason `length`
    # Over HTTP, each request's seed is derived from this one and its draws; offline, the engine's seed.
    seed: int | None = _count(None, 0, MAX_SEED)
    stop: list[str] = field(default_factory=list)  # strings that end a draw

    def validate(self) -> None:
        _check(self.temperature >= 0, "temperature", f"must be >= 0, got {self.temperature}")
        _check(0 < self.top_p <= 1, "top_p", f"must be in (0, 1], got {self.top_p}")


TEACHER_BACKENDS = ("vllm", "http", "ray")


@dataclass
class RayConfig:
    """`teacher.backend: ray`: offline vLLM engines as actors on a Ray cluster, one engine per replica."""

    address: str | None = None  # `auto`, `ray://head:10001` or `head:6379`; none starts a local cluster
    replicas: int = _count(1, 1, MAX_WORKERS)  # engines, each an actor with its own copy of the model
    num_gpus: float | None = (
        None  # per replica; none: its tensor_parallel_size on a cluster with GPUs, else 0
    )
    num_cpus: float = 1.0  # per replica; on a CPU-only replica, also its engine's threads
    tensor_parallel_size: int = _count(1, 1, MAX_WORKERS)  # GPUs one replica's model is split over
    # A replica that dies (its actor, its node) is started again this many times before the run goes on
    # without it; its requests in flight go to the others at once.
    max_restarts: int = _count(3, 0, MAX_RETRIES)
    start_timeout_s: float = 1800.0  # for a replica to load its model, after which the run stops

    def validate(self) -> None:
        _check(self.num_gpus is None or self.num_gpus >= 0, "num_gpus", "must be >= 0")
        _check(self.num_cpus > 0, "num_cpus", "must be > 0")
        _check(self.start_timeout_s > 0, "start_timeout_s", "must be > 0")


@dataclass
class PriceConfig:
    """A teacher's price in dollars (or any one currency) per million tokens, as hosted APIs list it."""

    input_per_million: float = 0.0  # prompt tokens
    output_per_million: float = 0.0  # completion tokens, reasoning included

    def validate(self) -> None:
        for name in ("input_per_million", "output_per_million"):
            value = getattr(self, name)
            _check(0 <= value < 1e6, name, f"must be in [0, 1000000), got {value}")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


@dataclass
class TeacherConfig:
    """The model that writes the traces, and how it is reached."""

    backend: str = "vllm"  # vllm (offline, in this process), http (an OpenAI-compatible server) or ray
    model: str = EMBEDDED_MODEL  # a local folder, a model id vLLM can load, or the name an HTTP server serves
    max_model_len: int = _count(2048, 1, MAX_CONTEXT)  # offline vLLM: prompt and completion tokens together
    enforce_eager: bool = True  # offline vLLM: no CUDA graph capture (a faster start, slower decoding)
    dtype: str = "auto"  # float32 on CPUs without native bf16 (no AVX512-BF16/AMX): bf16 is ~3x slower there
    # Requests queued in the engine at once (per replica), topped up as each finishes.
    window: int = _count(1024, 1, MAX_IN_FLIGHT)
    engine_args: dict[str, Any] = field(default_factory=dict)  # passed through to vllm.LLM
    # Offline vLLM on a Ray cluster (`backend: ray`): the settings above hold for each replica.
    ray: RayConfig = field(default_factory=RayConfig)
    # OpenAI-compatible HTTP: one server or several replicas (a list); requests spread over those ready.
    base_url: list[str] = field(default_factory=list)
    # The NAME of the environment variable holding the API key (e.g. OPENAI_API_KEY), never the key itself.
    api_key_env: str | None = _key_variable_field()
    endpoint: str = "chat"  # chat (/chat/completions, messages) or completions (/completions, a raw prompt)
    max_concurrency: int = _count(16, 1, MAX_IN_FLIGHT)  # requests in flight per base URL
    request_timeout_s: float = 600.0  # for one HTTP request, after which it is retried
    max_retries: int = _count(5, 0, MAX_RETRIES)  # tries after the first, on the next ready server
    # A request whose retries are spent: `skip` goes on without its problem (failed.jsonl lists it, the same
    # command asks again); `fail` stops the run (finished problems are kept).
    on_request_error: str = "skip"
    # Extra request fields; `return_token_ids: true` gives per-sample token counts from a vLLM server when n > 1.
    extra_body: dict[str, Any] = field(default_factory=dict)
    # The request field that carries `sampling.max_tokens`: OpenAI's reasoning models refuse `max_tokens`
    # and take `max_completion_tokens`.
    max_tokens_field: str = "max_tokens"
    # What the teacher's tokens cost, for the summary's cost and cost per kept trace (hosted APIs).
    price: PriceConfig | None = None
    # A folder holding the teacher's tokenizer.json: counts each draw's tokens where the server counts only
    # the request's (usage over n > 1 choices), instead of sharing that count out by length (estimated).
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.base_url, str):  # one URL given as a plain string
            self.base_url = [self.base_url]

    def validate(self) -> None:
        _choice("backend", self.backend, TEACHER_BACKENDS)
        _choice("endpoint", self.endpoint, ("chat", "completions"))
        _choice("max_tokens_field", self.max_tokens_field, ("max_tokens", "max_completion_tokens"))
        _check(
            self.tokenizer is None or (Path(self.tokenizer) / "tokenizer.json").is_file(),
            "tokenizer",
            f"must be a folder holding tokenizer.json, got {self.tokenizer!r}",
        )
        _choice("on_request_error", self.on_request_error, ("skip", "fail"))
        _key_variable(self.api_key_env)
        _check(self.request_timeout_s > 0, "request_timeout_s", "must be > 0")
        _urls(self.base_url)
        if self.backend == "http":
            _check(
                bool(self.base_url),
                "base_url",
                "is required when backend is http (e.g. http://127.0.0.1:8000/v1)",
            )
            _check(self.model != EMBEDDED_MODEL, "model", "must be the model name the HTTP server serves")


@dataclass
class JudgeConfig:
    """A model over an OpenAI-compatible endpoint, asked whether a response's final answer equals the gold,
    for the samples whose verdict the rules cannot tell (and only those). Off unless `reject.judge` is set."""

    base_url: list[str] = field(default_factory=list)  # one URL or several replicas, as for the teacher
    model: str = ""  # the name the server serves the judge under
    api_key_env: str | None = _key_variable_field()
    template: str = "same_answer"  # a name under prompts/judge/ or a path to a template file
    # The end of a response holds its final answer: a longer one keeps its first quarter and its end.
    max_response_chars: int = _count(8000, 200, 4 * MAX_TOKENS)
    max_tokens: int = _count(512, 1, MAX_TOKENS)
    temperature: float = 0.0
    max_concurrency: int = _count(16, 1, MAX_IN_FLIGHT)  # requests in flight per base URL
    request_timeout_s: float = 300.0
    max_retries: int = _count(5, 0, MAX_RETRIES)

    def __post_init__(self) -> None:
        if isinstance(self.base_url, str):  # one URL given as a plain string
            self.base_url = [self.base_url]

    def validate(self) -> None:
        _check(bool(self.base_url), "base_url", "is required for the judge (e.g. http://127.0.0.1:8000/v1)")
        _urls(self.base_url)
        _check(bool(self.model), "model", "is required: the model name the judge's server serves")
        _key_variable(self.api_key_env)
        _check(self.temperature >= 0, "temperature", f"must be >= 0, got {self.temperature}")
        _check(self.request_timeout_s > 0, "request_timeout_s", "must be > 0")


@dataclass
class MajorityConfig:
    """Majority-vote gold, for problems that come without an answer: the answers of a problem's samples vote
    by the verifier's equivalence (`1/2` and `0.5` vote together); the largest group is the gold if it holds
    at least `min_share` of the draws and `min_votes` votes. Problems with a gold are voted on too, and a
    gold the majority contradicts is flagged in `problem_stats.jsonl` and the summary."""

    min_share: float = 0.5
    min_votes: int = _count(2, 1, MAX_PROBLEM_DRAWS)

    def validate(self) -> None:
        _check(0 < self.min_share <= 1, "min_share", f"must be in (0, 1], got {self.min_share}")


@dataclass
class RejectConfig:
    """The verifier: how each draw's final answer is found and compared with the gold."""

    answer_patterns: list[str] = field(default_factory=list)  # regexes tried when there is no \boxed{}
    # strict: stated answers only (a box, "The answer is", a pattern): the prompt asks for a box, and a trace
    # that ignores the format is not one to teach. lenient: also the closing sentence's value.
    extraction: str = "strict"
    timeout_s: float = 5.0  # for one symbolic check, after which the verdict is cannot_tell (timed_out)
    rel_tol: float = 0.01  # how far a rounded decimal may be from the value it rounds; 0 compares exactly
    workers: int | None = _count(None, 1, MAX_WORKERS)  # symbolic checks at a time; default all cores
    judge: JudgeConfig | None = None  # a model asked about what the rules cannot tell; off by default
    majority: MajorityConfig | None = None  # problems without a gold take their samples' majority answer

    def validate(self) -> None:
        for index, pattern in enumerate(self.answer_patterns):
            try:
                re.compile(pattern)
            except re.error as error:
                raise _FieldError(f"answer_patterns[{index}]", f"is not a valid regex: {error}") from None
        _choice("extraction", self.extraction, EXTRACTION_MODES)
        _check(self.timeout_s > 0, "timeout_s", "must be > 0")
        _check(0 <= self.rel_tol < 1, "rel_tol", "must be in [0, 1)")


@dataclass
class AdaptiveConfig:
    """Adaptive rejection sampling. With `target_kept` > 0, problems are sampled in rounds of `sampling.n`
    draws; a problem stops once it has `target_kept` traces that pass the verifier and the trace filters,
    once a selector can keep no other (`at_most: k` with k of them), after `give_up_after` draws without
    one, or at `max_samples` draws. 0 keeps fixed n."""

    target_kept: int = _count(0, 0, MAX_PROBLEM_DRAWS)  # passing traces a problem needs; 0: fixed n
    max_samples: int = _count(16, 1, MAX_PROBLEM_DRAWS)  # the most draws any problem gets
    # Draws without a passing trace after which a problem is given up.
    give_up_after: int | None = _count(None, 1, MAX_PROBLEM_DRAWS)


@dataclass
class EvalSetConfig:
    """An evaluation set the corpus must not leak: a JSONL, Parquet or CSV file, and the field holding each
    item's text (its problem)."""

    path: str = ""
    field: str = "problem"

    def validate(self) -> None:
        _check(bool(self.path), "path", "must name a JSONL, Parquet or CSV file of evaluation items")
        _check(bool(self.field), "field", "must name the column holding each evaluation item's text")


CORPUS_TARGETS = ("problems", "traces")


@dataclass
class DecontaminateConfig:
    """Drop the problems (before any is sampled) and the kept traces that share a word `ngram`-gram with an
    item of an evaluation set; with `fuzzy`, also the problems whose rapidfuzz ratio to an item reaches it."""

    sets: list[EvalSetConfig] = field(default_factory=list)
    ngram: int = _count(8, 1, 1024)  # open-r1's (from s1); datatrove uses 12
    fuzzy: float | None = None  # e.g. 95, OpenThoughts' threshold; needs rapidfuzz
    on: list[str] = field(default_factory=lambda: list(CORPUS_TARGETS))

    def validate(self) -> None:
        _check(bool(self.sets), "sets", "must list at least one evaluation set ({path, field})")
        _check(self.fuzzy is None or 0 < self.fuzzy <= 100, "fuzzy", f"must be in (0, 100], got {self.fuzzy}")
        _targets(self.on)


def _targets(on: list[str]) -> None:
    for index, target in enumerate(on):
        _choice(f"on[{index}]", target, CORPUS_TARGETS)
    _check(bool(on), "on", f"must list one or both of {', '.join(CORPUS_TARGETS)}")


@dataclass
class CurateConfig:
    """The curate stage: which verified traces ship. Each list is in order; an item is a unit's name, or
    `{name: {parameter: value}}`, or `{name: value}` for a unit's first parameter (`- at_most: 2`). A trace
    is dropped by the first unit that finds a reason; leave a unit out of the list to turn it off.

    `filters` and `select` judge one problem at a time, as soon as its draws are verified. `decontaminate`
    and `dedup` judge the corpus as a whole: on problems before any is sampled, on traces when the shards
    are made (a contaminated trace first, then duplicates; the first copy in problem order is kept)."""

    # Trace filters, each dropping a trace with a reason (truncated, format, repetition...; docs/curation.md).
    filters: list[Any] = field(default_factory=lambda: list(_trace_filter_defaults()))
    select: list[Any] = field(default_factory=lambda: list(_selector_defaults()))  # which passing traces ship
    decontaminate: DecontaminateConfig | None = None  # against evaluation sets: problems and traces
    dedup: list[Any] = field(default_factory=lambda: list(_dedup_defaults()))  # exact and/or near duplicates
    # Total rows: "fair" round-robin, each problem's best trace first, then its second...
    budget: int | None = _count(None, 1, MAX_ROWS)

    def validate(self) -> None:
        self.trace_filters()
        self.selectors()
        self.dedup_units()

    def trace_filters(self) -> list[tuple[str, Any]]:
        from filters.trace_filters import TRACE_FILTERS

        return _units(self.filters, TRACE_FILTERS, "filters")

    def selectors(self) -> list[tuple[str, Any]]:
        from filters.selectors import SELECTORS

        return _units(self.select, SELECTORS, "select")

    def dedup_units(self) -> list[tuple[str, Any]]:
        from filters.dedup import DEDUP_UNITS

        return _units(self.dedup, DEDUP_UNITS, "dedup")

    def per_problem(self) -> dict[str, Any]:
        """What decides one problem's curation line: the corpus-wide units and the budget only decide which
        curated traces are packaged (the shards' marker has them)."""
        return {"filters": self.filters, "select": self.select}


def _trace_filter_defaults() -> tuple[str, ...]:
    from filters.trace_filters import DEFAULT_TRACE_FILTERS

    return tuple(DEFAULT_TRACE_FILTERS)


def _selector_defaults() -> tuple[str, ...]:
    from filters.selectors import DEFAULT_SELECTORS

    return tuple(DEFAULT_SELECTORS)


def _dedup_defaults() -> tuple[str, ...]:
    from filters.dedup import DEFAULT_DEDUP

    return tuple(DEFAULT_DEDUP)


def _units(items: list[Any], registry: dict[str, type], key: str) -> list[tuple[str, Any]]:
    """Build the units named in `items` from `registry` (name → class whose fields are its parameters)."""
    units: list[tuple[str, Any]] = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if isinstance(item, dict) and len(item) == 1:
            ((name, params),) = item.items()
        elif isinstance(item, str):
            name, params = item, {}
        else:
            raise _FieldError(where, f"must be a unit's name or {{name: parameters}}, got {item!r}")
        if name not in registry:
            raise _FieldError(where, f"unknown unit {name!r}; choose from {', '.join(registry)}")
        unit_class = registry[name]
        fields = [f.name for f in dataclasses.fields(unit_class)]
        if params is None:
            params = {}
        if not isinstance(params, dict):
            if not fields:
                raise _FieldError(f"{where}.{name}", "takes no parameters")
            params = {fields[0]: params}
        unknown = sorted(set(params) - set(fields))
        if unknown:
            valid = ", ".join(fields) or "none"
            raise _FieldError(f"{where}.{name}.{unknown[0]}", f"is not a parameter; valid: {valid}")
        try:
            units.append((name, unit_class(**params)))
        except (TypeError, ValueError) as error:
            raise _FieldError(f"{where}.{name}", str(error)) from None
    names = [name for name, _ in units]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _FieldError(key, f"lists {repeated[0]!r} twice; each unit counts its drops under its name")
    return units


ROUND_TRIP_POLICIES = ("warn", "drop", "fail")


@dataclass
class StudentConfig:
    """The student the corpus is for: each kept row is rendered with its tokenizer and chat template as
    TRL's SFTTrainer will, and the rows the template would damage are counted (a `<think>` block the
    template drops, a row longer than `max_length`); `policy` says what to do about them."""

    tokenizer: str = EMBEDDED_MODEL  # a local folder or a model id with a tokenizer (and chat template)
    max_length: int = _count(1024, 16, MAX_CONTEXT)  # SFTConfig.max_length of the training run
    policy: str = "warn"  # warn | drop (the rows, with a reason) | fail (the packaging)
    chat_template: str | None = None  # a Jinja file replacing the tokenizer's own template

    def validate(self) -> None:
        _check(bool(self.tokenizer), "tokenizer", "must name the student's tokenizer (a folder or model id)")
        _choice("policy", self.policy, ROUND_TRIP_POLICIES)


PREFERENCE_POLICIES = ("random", "shortest_longest", "common_wrong")


@dataclass
class PreferenceConfig:
    """A second dataset config in TRL's preference format (prompt, chosen, rejected), one pair per problem:
    `random`: a kept trace against a wrong one, both drawn at random (seeded);
    `shortest_longest`: the shortest kept trace against the longest correct one;
    `common_wrong`: the best kept trace against a trace giving the most common wrong answer."""

    policy: str = "random"
    seed: int = _count(0, 0, MAX_SEED)

    def validate(self) -> None:
        _choice("policy", self.policy, PREFERENCE_POLICIES)


@dataclass
class PackageConfig:
    """The shards: Parquet files of the kept traces, a dataset card and a manifest."""

    # Hugging Face's conventions, both measured before compression (so the files come out smaller): a
    # shard file stays under this size, written as it goes.
    max_shard_bytes: int = _count(500_000_000, 1, 1 << 40)
    row_group_bytes: int = _count(100_000_000, 1, 1 << 32)  # a row group is held until it is written
    compression: str = "zstd"  # zstd, snappy, gzip or none
    student: StudentConfig | None = None  # the round-trip check against the student's chat template
    preference: PreferenceConfig | None = None  # also write the `preference` config
    rejected: bool = False  # also write the `rejected` config: every dropped sample, its unit and reason

    def validate(self) -> None:
        _check(
            self.row_group_bytes <= self.max_shard_bytes,
            "row_group_bytes",
            f"must be <= max_shard_bytes ({self.max_shard_bytes})",
        )
        _choice("compression", self.compression, ("zstd", "snappy", "gzip", "none"))


@dataclass
class RunConfig:
    """`factory run`: problems in, Parquet shards out, all under `run_dir`."""

    run_dir: str = "runs/default"  # the run folder: new, empty or one a run made (it is written and resumed)
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    # Several teachers in one run (a local vLLM and an endpoint, two checkpoints...): when this list is
    # given, `teacher` is not used. All pull from one queue of requests; each sample records its teacher.
    teachers: list[TeacherConfig] = field(default_factory=list)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    reject: RejectConfig = field(default_factory=RejectConfig)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)
    package: PackageConfig = field(default_factory=PackageConfig)

    def all_teachers(self) -> list[TeacherConfig]:
        return self.teachers or [self.teacher]

    def max_draws(self) -> int:
        """The most samples any problem gets: n, or the adaptive budget."""
        return self.adaptive.max_samples if self.adaptive.target_kept else self.sampling.n


@dataclass
class SFTRunConfig:
    """`factory sft`: a student trained on a run's shards. `training` goes to TRL's SFTConfig as is."""

    data_dir: str = "runs/quickstart/shards"  # a run's shards folder
    model: str = EMBEDDED_MODEL  # the student to train: a model id or folder transformers loads
    output_dir: str = "runs/quickstart/student"  # where the trained student is saved (factory eval reads it)
    max_length: int = _count(1024, 16, MAX_CONTEXT)  # tokens of prompt and completion; longer rows are cut
    # The round-trip check (as `package.student.policy`): rows the chat template damages are warned about,
    # dropped, or stop the training before it starts.
    round_trip: str = "warn"
    # The dataset configs of data_dir to train on: `train` (the kept traces); `[train, rejected]` is every
    # sample the run drew, unfiltered (the control of configs/rft; the run needs `package.rejected: true`).
    configs: list[str] = field(default_factory=lambda: ["train"])
    training: dict[str, Any] = field(default_factory=dict)  # TRL SFTConfig arguments, passed as they are

    def validate(self) -> None:
        _check(bool(self.configs), "configs", "must list train, rejected or both")
        for index, name in enumerate(self.configs):
            _choice(f"configs[{index}]", name, ("train", "rejected"))
        _choice("round_trip", self.round_trip, ROUND_TRIP_POLICIES)
        for reserved in ("output_dir", "max_length"):
            _check(reserved not in self.training, f"training.{reserved}", f"set it as top-level `{reserved}`")


@dataclass
class EvalSettings:
    """What `factory eval` measures. `greedy`: one greedy draw per problem (greedy accuracy). `k`: pass@k
    (the unbiased estimator over `sampling.n` draws) and maj@k (the majority answer of the first k draws);
    empty for greedy only. `reference`: a run folder holding another model's samples on the same problems
    (the teacher's run), for fidelity: how often the answer under test equals that model's majority answer."""

    greedy: bool = True  # the greedy part: one draw at temperature 0 per problem
    # pass@k and maj@k for each k, over `sampling.n` draws per problem; empty: greedy only.
    k: list[int] = field(default_factory=lambda: [1, 4], metadata={"range": (1, MAX_DRAWS)})
    confidence: float = 0.95  # of the bootstrap intervals
    # Resamples of the problems; resamples x problems indices are held at once, 16 bytes each.
    bootstrap: int = _count(1000, 100, 10_000)
    seed: int = _count(0, 0, MAX_SEED)  # of the resampling
    breakdowns: list[str] = field(default_factory=lambda: ["source", "difficulty"])  # problem fields
    reference: str | None = None  # the teacher's run folder on these problems, for fidelity
    label: str | None = None  # the name tables and reports give these results; default the model

    def validate(self) -> None:
        _check(self.greedy or bool(self.k), "k", "is empty and greedy is off: nothing to measure")
        _check(0 < self.confidence < 1, "confidence", f"must be in (0, 1), got {self.confidence}")


@dataclass
class EvalConfig:
    """`factory eval`: a model scored on a problem set with the prompts and the verifier of `factory run`.
    `model` is any teacher backend: offline vLLM (an id, a folder written by `factory sft`, the embedded
    model) or an OpenAI-compatible endpoint. Each part is a run folder under `eval_dir` (`greedy/`,
    `sampled/`), so an interrupted eval continues where it stopped."""

    eval_dir: str = "runs/eval"  # the evaluation's folder: one run folder per part, and the results
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    model: TeacherConfig = field(default_factory=TeacherConfig)  # the model under test, as a teacher is set
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # the draws of pass@k and maj@k
    reject: RejectConfig = field(default_factory=RejectConfig)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def validate(self) -> None:
        most = max(self.eval.k, default=0)
        _check(most <= self.sampling.n, "eval.k", f"asks for k={most} but sampling.n is {self.sampling.n}")
        _check(self.reject.majority is None, "reject.majority", "is not for evaluation: problems need golds")
        _check(
            self.problems.on_error == "fail",
            "problems.on_error",
            "must be fail for an evaluation: scores on a set with rows left out do not compare with others; "
            "fix the rows",
        )


# --- loading -----------------------------------------------------------------------------------------

C = TypeVar("C")


class _FieldError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise _FieldError(key, message)


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    _check(value in allowed, key, f"must be one of {', '.join(allowed)}; got {value!r}")


def _urls(urls: list[str]) -> None:
    """Each URL is http(s) with a host: anything else would only fail, slowly, at the first request."""
    for index, url in enumerate(urls):
        try:
            parts = urllib.parse.urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port that is not a number or out of range, an unclosed [IPv6] host
            valid = False
        _check(
            valid,
            "base_url" if len(urls) == 1 else f"base_url[{index}]",
            f"must be an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1; got {url!r}",
        )


# Nesting a config never comes near: each level is a few frames of Python's stack, which a document nested
# some 300 deep (a line of `[` in 1 KB) overflows.
MAX_YAML_DEPTH = 64


class YamlRefused(yaml.MarkedYAMLError):
    """Valid YAML this project does not read, refused where it starts, before anything walks the document."""


class YamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader without aliases, nested MAX_YAML_DEPTH deep at most. An alias (`*a`) repeats the node
    its anchor (`&a`) marks: ten lines of aliases of aliases make a 1 KB file of billions of nodes, which
    every walk over the document (the lines of its keys, the dataclasses built from it) visits one by one.
    Use it as `load_yaml(text)`, or as the Loader of yaml.load and yaml.compose."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(
                problem=f"an alias (*{event.anchor}) repeats the value its anchor marks, and aliases of "
                "aliases grow a small file past any memory, so none is read; write the value out",
                problem_mark=event.start_mark,
            )
        if self._depth == MAX_YAML_DEPTH:
            raise YamlRefused(
                problem=f"YAML nested more than {MAX_YAML_DEPTH} levels deep", problem_mark=event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """`text` read as yaml.safe_load reads it, but refusing aliases and deep nesting (see YamlLoader): what a
    YAML file a user gives should be read with. Raises yaml.YAMLError (see `yaml_error`)."""
    return yaml.load(text, Loader=YamlLoader)  # a SafeLoader: builds plain data, never objects


def yaml_error(path: Path, error: yaml.YAMLError) -> FactoryError:
    """A YAML syntax error (or YAML refused) as one line naming the file and the line."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    if isinstance(error, YamlRefused):
        return FactoryError(f"{where}: {problem}")
    tabs = "; YAML indents with spaces, not tabs" if "\\t" in problem else ""
    return FactoryError(f"{where}: not valid YAML ({problem}){tabs}")


def not_utf8_error(path: Path, lines: typing.Iterable[bytes] | None = None) -> FactoryError:
    """A one-line error naming the first line of the text file `path` that is not UTF-8, and the fix.
    `lines`: the file's lines when they are not its bytes as stored (a compressed file's, decompressed)."""
    if lines is not None:
        return _first_line_not_utf8(path, lines, "save the file as UTF-8 before compressing it")
    with path.open("rb") as handle:
        if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return FactoryError(f"{path}: the file is UTF-16; save it as UTF-8")
        handle.seek(0)
        return _first_line_not_utf8(path, handle, "save the file as UTF-8", ", e.g. iconv -f latin1 -t utf-8")


def _first_line_not_utf8(
    path: Path, lines: typing.Iterable[bytes], fix: str, example: str = ""
) -> FactoryError:
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            return FactoryError(
                f"{path}:{number}: not UTF-8 (byte {error.start + 1} of the line is "
                f"0x{line[error.start]:02x}); {fix}{example}"
            )
    return FactoryError(f"{path}: not UTF-8; {fix}")


def load_config(cls: type[C], path: str | Path, overrides: typing.Sequence[str] = ()) -> C:
    """Read a YAML config into `cls`, apply `key.sub=value` overrides, and validate everything."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM, as some editors write one, is fine
    except OSError as error:
        raise FactoryError(f"{path}: cannot read config ({error.strerror})") from None
    except UnicodeDecodeError:
        raise not_utf8_error(path) from None
    try:
        lines = _key_lines(yaml.compose(text, Loader=YamlLoader), path)
        data = load_yaml(text)
    except yaml.YAMLError as error:
        raise yaml_error(path, error) from None
    if data is None:
        raise FactoryError(f"{path}: the config is empty; write its keys (configs/ holds examples)")
    if not isinstance(data, dict):
        raise FactoryError(f"{path}: a config must be a mapping of keys to values, got {type(data).__name__}")
    origins = {key: f"{path}:{line}" for key, line in lines.items()}
    for override in overrides:
        key, value = _parse_override(override)
        _set_dotted(data, key, value)
        origins[key] = f"--set {key}"
    return build(cls, data, origins, default_origin=str(path))


def build(
    cls: type[C], data: dict[str, Any], origins: dict[str, str] | None = None, default_origin: str = "config"
) -> C:
    """Validate a plain mapping into `cls`; errors name the origin of the offending key."""
    origins = origins or {}

    def where(key: str) -> str:
        parts = re.sub(r"\[\d+\]", "", key).split(".")  # `filters[0].k` was set where `filters` was
        for end in range(len(parts), 0, -1):
            origin = origins.get(".".join(parts[:end]))
            if origin:
                return origin
        return default_origin

    try:
        return _build(cls, data, "")
    except _FieldError as error:
        raise FactoryError(f"{where(error.key)}: {error.key} {error}") from None


def _build(cls: type[C], data: Any, prefix: str) -> C:
    if not isinstance(data, dict):
        raise _FieldError(prefix.rstrip("."), f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(map(str, set(data) - set(fields)))  # str: a YAML key may be a number
    if unknown:
        raise _FieldError(
            prefix + str(unknown[0]), f"is not a known key; valid keys here: {', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in data.items():
        metadata = fields[name].metadata
        try:
            values[name] = _coerce(hints[name], value, prefix + name)
        except _FieldError:
            if "conceal" in metadata:  # the value may be a secret: the message must not show it
                raise _FieldError(prefix + name, metadata["conceal"]) from None
            raise
        if "range" in metadata:
            _in_range(prefix + name, values[name], *metadata["range"])
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        try:
            validate()
        except _FieldError as error:
            raise _FieldError(prefix + error.key, str(error)) from None
    return instance


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, key + ".")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, key)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, (str, int, float)):
            value = [value]  # `stop: "###"` means a list of one
        if not isinstance(value, list):
            raise _FieldError(key, f"must be a list, got {type(value).__name__}")
        return [_coerce(item, element, f"{key}[{index}]") for index, element in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _FieldError(key, f"must be a mapping, got {type(value).__name__}")
        return dict(value)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _FieldError(key, f"must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(key, f"must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _FieldError(key, f"must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, (dict, list)) or value is None:
            raise _FieldError(key, f"must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"config type {hint} for {key} is not supported")  # a programming error, not the user's


def _in_range(key: str, value: int | list[int] | None, low: int, high: int) -> None:
    """`value` (or each item of a list) lies in [low, high]."""
    items = (
        [(f"{key}[{index}]", item) for index, item in enumerate(value)]
        if isinstance(value, list)
        else [(key, value)]
    )
    for item_key, item in items:
        if item is not None:
            _check(item >= low, item_key, f"must be >= {low}, got {item}")
            _check(item <= high, item_key, f"must be in [{low}, {high}], got {item}")


def _key_lines(node: yaml.Node | None, path: Path, prefix: str = "") -> dict[str, int]:
    """The line of each dotted key; a key given twice in one mapping is an error, where YAML would keep
    the last silently."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = prefix + str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines:
                raise FactoryError(
                    f"{path}:{line}: {key} is given twice (first at line {lines[key]}); keep one"
                )
            lines[key] = line
            lines.update(_key_lines(value_node, path, key + "."))
    return lines


def _parse_override(override: str) -> tuple[str, Any]:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise FactoryError(f"--set {override}: expected KEY=VALUE, e.g. --set sampling.n=8")
    key = key.strip()
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        # Kept as one raw string, the value would mean something else: a list of regexes, one regex.
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise FactoryError(
            f"--set {key}: the value is not valid YAML ({problem}); quote it, e.g. --set \"{key}='...'\" "
            "(in YAML's single quotes a backslash stays as it is), or each item of a list: ['...', '...']"
        ) from None
    return key, value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise FactoryError(f"--set {key}: {part} is not a section")
        node = child
    node[last] = value


def to_dict(config: Any) -> dict[str, Any]:
    """The config as it is written to files (`run_dir/config.yaml`, the shards' `factory-config.yaml` and
    manifest): every `base_url` without what can hold a key (see `public_url`)."""
    return _public(dataclasses.asdict(config))


def _public(value: Any, name: str | None = None) -> Any:
    if isinstance(value, dict):
        return {key: _public(item, key) for key, item in value.items()}
    if isinstance(value, list):
        return [_public(item, name) for item in value]
    if name == "base_url" and isinstance(value, str):
        return public_url(value)
    return value


REDACTED = "REDACTED"


def public_url(url: str) -> str:
    """`url` fit to publish: user-info (`https://user:KEY@host`) dropped, each query value (`?api-key=KEY`)
    replaced; keys belong in the variable `api_key_env` names.

    >>> public_url("https://me:sk-1@example.com:8443/v1?api-version=1&api-key=sk-2#x")
    'https://example.com:8443/v1?api-version=REDACTED&api-key=REDACTED'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL at all: nothing in it can be told apart from a key
        return REDACTED
    host = f"[{host}]" if ":" in host else host
    query = urllib.parse.urlencode(
        [(key, REDACTED) for key, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)], safe=""
    )
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, query, ""))


def dump(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
