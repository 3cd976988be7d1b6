"""Fuzzing the user-facing contract of `simplan check FILE` and `simplan run FILE`.

Hypothesis generates scenario files by mutating valid ones (the shipped scenarios and
small bases written here): wrong types, missing and unknown keys, extreme numbers, NaN and
infinities, unknown catalog ids, broken TOML and bytes, deep nesting, and trace and
length CSVs with bad rows. Whatever the input, the user must see either success (exit 0)
or, with exit status 2, a message that starts with ``error: ``, names the file (or the
CSV and its line) and the key path that is wrong, and never a traceback.

Every input this fuzzing found to break the contract is kept in ``REPROS`` at the end: a
regression test once fixed, ``xfail(strict=True)`` while still broken. The generators leave
the still-broken inputs out (``KNOWN_RUN_BUG_*``, ``VALID_EXTREMES``) so the property tests
stay green; widen them when the bugs are fixed. Everything is derandomized (no example
database), so CI sees the same cases every time.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import tomllib
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_timeout import invoke
from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pydantic import BaseModel
from simplan import catalog
from simplan import scenario as scenario_module

ROOT = Path(__file__).resolve().parent.parent

# --- a TOML writer with two layouts ---------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _str(s: str) -> str:
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _str(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: dict[str, Any], style: str = "inline") -> str:
    """``inline``: one ``[section]`` per top-level table, deeper tables inline.
    ``header``: every table under its own ``[a.b.c]`` header (arrays stay inline)."""
    lines: list[str] = []

    def table(path: tuple[str, ...], t: dict[str, Any]) -> None:
        subs = [(k, v) for k, v in t.items() if isinstance(v, dict)]
        if style == "inline" and path:
            subs = []
        scalars = [(k, v) for k, v in t.items() if (k, v) not in subs]
        if path and (scalars or not subs):
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars)
        for k, v in subs:
            table((*path, k), v)

    table((), data)
    return "\n".join(lines) + "\n"


# --- the valid bases --------------------------------------------------------------------------

SHIPPED: dict[str, dict[str, Any]] = {
    p.name: tomllib.loads(p.read_text(encoding="utf-8"))
    for p in sorted((ROOT / "scenarios").glob("*.toml"))
}

_ARCH_8B = {
    k: v
    for k, v in catalog.model("llama-3.1-8b").model_dump().items()
    if k in scenario_module.InlineArchitecture.model_fields and v not in (0, None)
}

SMALL: dict[str, dict[str, Any]] = {
    "small-catalog": {
        "name": "fuzz base",
        "question": "does it hold?",
        "model": {"name": "llama-3.1-8b", "weights": "fp8", "kv_cache": "fp16"},
        "hardware": {
            "gpu": "h100-sxm",
            "tp": 1,
            "pp": 1,
            "replicas": 1,
            "pricing": "on_demand",
            "price_usd_per_gpu_hour": 2.5,
            "pools": [{"gpu": "a100-sxm4-80gb", "tp": 1, "replicas": 1, "pricing": "spot"}],
        },
        "engine": {
            "max_num_seqs": 64,
            "max_num_batched_tokens": 4096,
            "gpu_memory_utilization": 0.9,
            "block_size": 16,
            "chunked_prefill": True,
            "scheduler": "continuous",
            "router": "least_kv_load",
        },
        "workload": {
            "arrival": "poisson",
            "rate_per_s": 2.0,
            "duration_s": 5.0,
            "num_requests": 10,
            "input_tokens": {"distribution": "lognormal", "mean": 300, "std": 100, "max": 2000},
            "output_tokens": {"distribution": "normal", "mean": 60, "std": 20, "min": 2},
            "diurnal": [1.0] * 12 + [2.0] * 12,
            "monthly_tokens": 1e8,
        },
        "slo": {"ttft_p95_s": 2.0, "tpot_mean_s": 0.1, "e2e_p99_s": 30.0},
        "pricing": {"apis": ["gpt-4o", "deepseek-v3"]},
        "api": [{"id": "mine", "usd_per_mtok_input": 0.5, "usd_per_mtok_output": 1.5}],
        "simulation": {"seed": 3, "warmup_s": 0.0, "timeseries_interval_s": 1.0},
        "sweep": {
            "hardware.gpu": ["h100-sxm", "h200"],
            "hardware.replicas": {"start": 1, "stop": 4, "num": 4},
        },
    },
    "small-inline-arch": {
        "model": {"architecture": dict(_ARCH_8B), "weights": "int4-awq"},
        "hardware": {"gpu": "l40s", "tp": 1},
        "engine": {"block_size": 32, "scheduler": "static", "router": "round_robin"},
        "workload": {
            "arrival": "gamma",
            "rate_per_s": 3.0,
            "burstiness": 2.0,
            "num_requests": 12,
            "input_tokens": {"distribution": "uniform", "low": 50, "high": 400},
            "output_tokens": {"distribution": "fixed", "value": 40},
        },
        "simulation": {"seed": 1},
    },
    "small-closed": {
        "model": {"name": "qwen2.5-7b", "kv_cache": "fp8"},
        "hardware": {"gpu": "a10g", "tp": 2, "replicas": 2},
        "workload": {
            "arrival": "closed",
            "concurrency": 3,
            "think_time_s": 0.5,
            "num_requests": 12,
            "duration_s": 5,
            "input_tokens": 200,
            "output_tokens": 30,
        },
    },
}

BASES: dict[str, dict[str, Any]] = {**SHIPPED, **SMALL}

# --- what the schema and catalogs allow -----------------------------------------------------


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for obj in vars(scenario_module).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            names.update(obj.model_fields)
    return names


ALL_FIELDS = _all_field_names()
CATALOG_KINDS = ("model", "gpu", "weights", "kv_cache", "api")
IDS: dict[str, list[str]] = {k: sorted(catalog.load(k)) for k in CATALOG_KINDS}

#: Key paths ``(section, key)`` whose value is a catalog id, and the catalog it names.
CATALOG_KEYS = {
    ("model", "name"): "model",
    ("model", "weights"): "weights",
    ("model", "kv_cache"): "kv_cache",
    ("hardware", "gpu"): "gpu",
    ("pricing", "apis"): "api",
}

#: Where `simplan run` still breaks on tiny positive numbers, which the run sample leaves
#: out: a lognormal mean near 0 overflows (see test_reproduction[lognormal-mean-1e-300]);
#: a rate near 0 overflows in simplan.metrics (a RuntimeWarning, an error under pytest).
KNOWN_RUN_BUG_TINY = {
    ("workload", "input_tokens"),
    ("workload", "output_tokens"),
    ("workload", "rate_per_s"),
}

# --- running the CLI ------------------------------------------------------------------------


def assert_contract(result: Result, named: str) -> None:
    """Exit 0, or exit 2 with ``error: `` naming ``named``; never a traceback."""
    out = result.output
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(exc))
        pytest.fail(f"uncaught {type(exc).__name__} (exit {result.exit_code}):\n{tb}")
    assert "Traceback" not in out, out
    assert result.exit_code in (0, 2), f"exit {result.exit_code}:\n{out}"
    if currently_in_test_context():
        event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        assert out.startswith("error: "), out
        assert named in out, f"{named!r} missing from:\n{out}"


def fmt_path(path: tuple[Any, ...]) -> str:
    """A key path as users read it: ``hardware.pools[0].gpu``, ``sweep."hardware.tp"``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if "." in text or " " in text:
                text = f'"{text}"'
            out += ("." if out else "") + text
    return out


#: Paths whose problems may be reported on the whole table or list (cross-key validators:
#: name xor architecture, the arrival's needs, uniform low <= high, catalog ids in a list).
WHOLE = {
    ("hardware",),  # rules across the fleet's pools (prefill and decode roles pair up)
    ("model",),
    ("workload",),
    ("workload", "input_tokens"),
    ("workload", "output_tokens"),
    ("pricing", "apis"),
    ("sweep",),
}


def acceptable_paths(path: tuple[Any, ...]) -> list[tuple[str, bool]]:
    """``(key path, deeper paths count)``: the touched path (or a path inside it), or an
    ancestor an error about it may be reported on as a whole."""
    cands = [(path, True)]
    for i in range(len(path) - 1, 0, -1):
        anc = path[:i]
        nxt = path[i]
        if anc in WHOLE or anc[0] == "sweep" or isinstance(nxt, int) or nxt == "distribution":
            cands.append((anc, False))
    texts = []
    for c, deeper in cands:
        texts.append((fmt_path(c), deeper))
        if len(c) >= 2 and c[0] == "sweep" and isinstance(c[1], str):
            texts.append((fmt_path(c).replace(f"sweep.{c[1]}", f'sweep."{c[1]}"', 1), deeper))
    return texts


def mentions_path(output: str, path_text: str, deeper: bool = True) -> bool:
    """The output reports a problem at ``path_text`` (a problem line, or a sweep point's)."""
    p = re.escape(path_text)
    end = r"(?=$|[\s:=\[.])" if deeper else r"(?=$|:| =|\[)"
    return re.search(rf"(?:^|\n)  {p}{end}|: {p}{end}", output) is not None


def reports_path(output: str, path: tuple[Any, ...]) -> bool:
    return any(mentions_path(output, p, deeper) for p, deeper in acceptable_paths(path))


# --- mutations ------------------------------------------------------------------------------


@dataclass
class Case:
    base: str
    data: Any
    kind: str
    path: tuple[Any, ...] = ()
    value: Any = None
    style: str = "inline"

    def text(self) -> str:
        return to_toml(self.data, self.style)


def walk(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a parsed TOML document (tables and array elements)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from walk(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from walk(v, (*prefix, i))


def tables(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        yield prefix
        for k, v in node.items():
            yield from tables(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from tables(v, (*prefix, i))


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def put(data: Any, path: tuple[Any, ...], value: Any) -> None:
    get(data, path[:-1])[path[-1]] = value


def delete(data: Any, path: tuple[Any, ...]) -> None:
    del get(data, path[:-1])[path[-1]]


IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,14}", fullmatch=True)
TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
ODD_KEY = st.one_of(
    IDENT,
    st.from_regex(r"[a-z]{1,6}[. -][a-z]{1,6}", fullmatch=True),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1, max_size=8),
)

HUGE = [10**19, 10**30, -(10**30), 2**63, 2**64, 1e308, -1e308, 1.7976931348623157e308]
EXTREME = [-1, -1.5, -(2**63), 0, 0.0, -0.0, 5e-324, 1e-300, math.nan, math.inf, -math.inf]
WRONG_TYPE = ["", "text", "1", " ", True, False, [], [1, 2], ["a"], {}, {"x": 1}, [{"y": 2}]]

NUMBER = st.one_of(
    st.sampled_from(HUGE + EXTREME),
    st.integers(-100, 100),
    st.floats(allow_nan=True, allow_infinity=True),
)
BAD_VALUE = st.one_of(
    st.sampled_from(WRONG_TYPE),
    NUMBER,
    TEXT,
    st.lists(st.one_of(st.integers(-5, 5), TEXT, st.booleans()), max_size=3),
    st.dictionaries(IDENT, st.one_of(st.integers(-5, 5), TEXT), max_size=2),
)


def typo(word: str, draw: Any) -> str:
    """One edit: delete, insert, replace, swap or upper-case a character."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_."
    op = draw(st.sampled_from(["delete", "insert", "replace", "swap", "upper"]))
    i = draw(st.integers(0, max(len(word) - 1, 0)))
    c = draw(st.sampled_from(alphabet))
    if op == "delete" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if op == "insert":
        return word[:i] + c + word[i:]
    if op == "replace":
        return word[:i] + c + word[i + 1 :]
    if op == "swap" and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars) if j != i else word + c
    return word.upper() if op == "upper" else word + c


#: Inline-architecture keys whose consistency `check` does not validate and `run` crashes
#: on (see test_reproduction[inline-architecture-heads-not-multiple-of-kv-heads]).
KNOWN_RUN_BUG_ARCH = {"num_attention_heads", "num_kv_heads", "num_experts", "experts_per_token"}
KNOWN_RUN_BUG_ARCH |= {"attention", "kv_lora_rank"}


def _known_run_bug(path: tuple[Any, ...], value: Any) -> bool:
    if path[:2] == ("model", "architecture") and path[-1] in KNOWN_RUN_BUG_ARCH:
        return True
    tiny = isinstance(value, float) and 0 < value < 1e-6
    return tiny and any(path[: len(p)] == p for p in KNOWN_RUN_BUG_TINY)


@st.composite
def mutated(draw: Any, bases: tuple[str, ...] = tuple(BASES), for_run: bool = False) -> Case:
    """A base scenario with one mutation: a bad value, a deleted key or an unknown key."""
    name = draw(st.sampled_from(bases))
    data = copy.deepcopy(BASES[name])
    style = draw(st.sampled_from(["inline", "header"]))
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "unknown", "typo"]))
    if kind in ("value", "delete"):
        path = draw(st.sampled_from(list(walk(data))))
        if kind == "delete":
            delete(data, path)
            return Case(name, data, kind, path, style=style)
        value = draw(BAD_VALUE)
        if for_run and _known_run_bug(path, value):
            value = -1.0  # see KNOWN_RUN_BUG_TINY and KNOWN_RUN_BUG_ARCH
        put(data, path, value)
        return Case(name, data, kind, path, value, style)
    where = draw(st.sampled_from(list(tables(data))))
    table = get(data, where)
    if kind == "typo" and table and where != ("sweep",):
        key = typo(draw(st.sampled_from(sorted(table))), draw)
    else:
        key = draw(ODD_KEY)
    if key in table or key in ALL_FIELDS or (where == ("sweep",) and key.count(".")):
        key = f"zz_{abs(hash(key)) % 1000}_{key.replace('.', '_')}"
        kind = "unknown"
    value = draw(st.one_of(st.sampled_from(WRONG_TYPE), st.integers(-5, 5), TEXT))
    table[key] = value
    return Case(name, data, kind, (*where, key), value, style)


def write_case(tmp: Path, case: Case) -> Path:
    path = tmp / "scenario.toml"
    path.write_text(case.text(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- the bases are valid ------------------------------------------------------------------


@pytest.mark.parametrize("style", ["inline", "header"])
@pytest.mark.parametrize("name", sorted(BASES))
def test_base_is_valid(fuzz_dir: Path, name: str, style: str) -> None:
    path = write_case(fuzz_dir, Case(name, BASES[name], "none", style=style))
    result = invoke(["check", str(path)])
    assert result.exit_code == 0, result.output


# --- mutated scenarios: `simplan check` ---------------------------------------------------


@settings(FUZZ, max_examples=1200)
@given(case=mutated())
def test_check_mutated_scenario(fuzz_dir: Path, case: Case) -> None:
    path = write_case(fuzz_dir, case)
    result = invoke(["check", str(path)])
    assert_contract(result, str(path))
    if result.exit_code == 0:
        return
    out = result.output
    assert reports_path(out, case.path), (
        f"{case.kind} at {fmt_path(case.path)} = {case.value!r}: key path missing from\n{out}"
    )
    in_sweep = case.path[0] == "sweep" and len(case.path) == 2
    if case.kind in ("unknown", "typo") and not in_sweep:
        assert "unknown key" in out, out
        assert "allowed:" in out, out
    if case.kind == "typo" and not in_sweep:
        assert "did you mean" in out, out


# --- unknown catalog ids ------------------------------------------------------------------


def _near_ids(value: str, ids: list[str]) -> bool:
    low = [i.lower() for i in ids]
    return value.lower() in low or bool(difflib.get_close_matches(value.lower(), low, 1, 0.5))


@st.composite
def catalog_case(draw: Any) -> tuple[Case, str, str]:
    name = draw(st.sampled_from(tuple(BASES)))
    data = copy.deepcopy(BASES[name])
    choices: list[tuple[tuple[Any, ...], str]] = []
    for (sec, key), kind in CATALOG_KEYS.items():
        if sec in data and (key != "name" or "name" in data[sec]):
            if key == "apis":
                apis = data[sec].setdefault("apis", ["gpt-4o"]) or ["gpt-4o"]
                data[sec]["apis"] = apis
                choices += [((sec, key, i), kind) for i in range(len(apis))]
            else:
                choices.append(((sec, key), kind))
    for i in range(len(data["hardware"].get("pools", []))):
        choices.append((("hardware", "pools", i, "gpu"), "gpu"))
    for axis, values in data.get("sweep", {}).items():
        kind = CATALOG_KEYS.get(tuple(axis.split(".")))
        if kind and isinstance(values, list):
            choices += [(("sweep", axis, i), kind) for i in range(len(values))]
    path, kind = draw(st.sampled_from(choices))
    real = draw(st.sampled_from(IDS[kind]))
    value = draw(st.one_of(st.just(typo(real, draw)), IDENT, TEXT, st.just("")))
    put(data, path, value)
    style = draw(st.sampled_from(["inline", "header"]))
    return Case(name, data, "catalog", path, value, style), kind, real


@settings(FUZZ, max_examples=300)
@given(drawn=catalog_case())
def test_check_unknown_catalog_id(fuzz_dir: Path, drawn: tuple[Case, str, str]) -> None:
    case, kind, _ = drawn
    path = write_case(fuzz_dir, case)
    result = invoke(["check", str(path)])
    assert_contract(result, str(path))
    if case.value in IDS[kind]:
        return  # the mutation happened to name another valid id
    out = result.output
    assert result.exit_code == 2, out
    where = case.path[:-1] if case.path[-2:-1] == ("apis",) else case.path
    assert reports_path(out, where), out
    assert repr(case.value) in out, out
    assert "allowed:" in out, out
    if _near_ids(case.value, IDS[kind]):
        assert "did you mean" in out, out


# --- broken TOML, bytes and files ---------------------------------------------------------

TOML_NOISE = st.one_of(
    st.sampled_from(["[", "]", "[[", "]]", "{", "}", '"', "'", '"""', "=", ",", ".", "#", "\\"]),
    st.sampled_from(["\n", "\r", "\t", "\x00", "\ufeff", "\u2028", " = ", "\n[model]\n", "x ="]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
)
BAD_UTF8 = st.sampled_from(
    [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88"]
)


@st.composite
def broken_bytes(draw: Any) -> bytes:
    name = draw(st.sampled_from(tuple(BASES)))
    style = draw(st.sampled_from(["inline", "header"]))
    text = to_toml(BASES[name], style)
    if name in SHIPPED and draw(st.booleans()):
        text = (ROOT / "scenarios" / name).read_text(encoding="utf-8")  # with its comments
    raw = text.encode()
    op = draw(st.sampled_from(["truncate", "insert", "insert", "bytes", "cut", "dup", "blank"]))
    i = draw(st.integers(0, len(raw)))
    if op == "truncate":
        return raw[:i]
    if op == "insert":
        return raw[:i] + draw(TOML_NOISE).encode() + raw[i:]
    if op == "bytes":
        return raw[:i] + draw(BAD_UTF8) + raw[i:]
    if op == "cut":
        j = draw(st.integers(i, min(len(raw), i + 40)))
        return raw[:i] + raw[j:]
    if op == "dup":
        lines = raw.split(b"\n")
        k = draw(st.integers(0, len(lines) - 1))
        return b"\n".join([*lines[: k + 1], lines[k], *lines[k + 1 :]])
    return draw(st.sampled_from([b"", b" ", b"\n\n", b"# only a comment\n", b"\xef\xbb\xbf"]))


@settings(FUZZ, max_examples=400)
@given(content=broken_bytes())
def test_check_broken_file(fuzz_dir: Path, content: bytes) -> None:
    path = fuzz_dir / "broken.toml"
    path.write_bytes(content)
    result = invoke(["check", str(path)])
    assert_contract(result, str(path))
    out = result.output
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        assert result.exit_code == 2, out
        assert "not UTF-8" in out, out
        assert f"line {line}" in out, out
        return
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert result.exit_code == 2, out
        assert "not valid TOML" in out, out
        assert re.search(r"line \d+|end of document", out), out


# --- deeply nested tables -----------------------------------------------------------------


@st.composite
def nested_case(draw: Any) -> Case:
    name = draw(st.sampled_from(tuple(BASES)))
    data = copy.deepcopy(BASES[name])
    depth = draw(st.integers(1, 40))  # deeper inline tables hit a known bug (xfail below)
    leaf = draw(st.one_of(st.integers(-5, 5), TEXT, st.just([1, [2, [3]]]), st.just({})))
    keys = draw(st.lists(IDENT, min_size=depth, max_size=depth))
    nested: Any = leaf
    for k in reversed(keys):
        nested = {k: nested}
    if draw(st.booleans()):
        path = draw(st.sampled_from(list(walk(data))))
        put(data, path, nested)
    else:
        where = draw(st.sampled_from([t for t in tables(data) if t != ("sweep",)]))
        key = "zz_" + keys[0]
        get(data, where)[key] = nested
        path = (*where, key)
    style = draw(st.sampled_from(["inline", "header"]))
    return Case(name, data, "nested", path, None, style)


@settings(FUZZ, max_examples=100)
@given(case=nested_case())
def test_check_deeply_nested(fuzz_dir: Path, case: Case) -> None:
    path = write_case(fuzz_dir, case)
    result = invoke(["check", str(path)])
    assert_contract(result, str(path))
    if result.exit_code == 2:
        out = result.output
        assert reports_path(out, case.path), out


# --- `simplan run` on a sample (workload bounded) -------------------------------------------


def bound_workload(case: Case) -> None:
    """At most 20 requests and 5 simulated seconds, in the parts the mutation left valid."""
    w = case.data.get("workload") if isinstance(case.data, dict) else None
    if not isinstance(w, dict):
        return
    touched = case.path[:2]

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if touched != ("workload", "num_requests"):
        n = w.get("num_requests")
        if n is None or (number(n) and n > 20):
            w["num_requests"] = 20
    if touched != ("workload", "duration_s"):
        d = w.get("duration_s")
        if number(d) and d > 5:
            w["duration_s"] = 5.0


@settings(FUZZ, max_examples=40)
@given(case=mutated(for_run=True))
def test_run_mutated_scenario(fuzz_dir: Path, case: Case) -> None:
    bound_workload(case)
    path = write_case(fuzz_dir, case)
    result = invoke(["run", str(path), "--no-write", "--json"])
    assert_contract(result, str(path))
    if result.exit_code == 0:
        summary = json.loads(result.stdout)
        if case.path[:2] != ("workload", "num_requests"):
            assert summary["requests_completed"] + summary["requests_rejected"] <= 20


#: Values the schema accepts, at and near its limits (left out: a lognormal mean near 0 and
#: rates near 0, see KNOWN_RUN_BUG_TINY; a timeseries interval near 0, see the reproduction
#: hang-closed-short-duration-fine-timeseries; and, as too slow for a test, though no bug:
#: 4096 replicas with max_num_seqs = 65536 (11-17 s), think_time_s = 86400 in a closed loop
#: without duration_s (10 s, 1.5 GB) and concurrency = 1e6 (16 s, 1.2 GB) for 10 requests).
VALID_EXTREMES: dict[tuple[str, str], list[Any]] = {
    ("hardware", "tp"): [1, 2, 3, 8, 64],
    ("hardware", "pp"): [1, 2, 5, 256],
    ("hardware", "replicas"): [1, 3, 64],
    ("hardware", "price_usd_per_gpu_hour"): [1e-300, 1e300, 1.7e308],
    ("hardware", "pricing"): ["spot", "reserved"],
    ("hardware", "gpu"): ["l4", "a10g", "mi300x", "b200", "a100-sxm4-40gb"],
    ("engine", "max_num_seqs"): [1, 65536],
    ("engine", "max_num_batched_tokens"): [1, 16, 1_048_576],
    ("engine", "gpu_memory_utilization"): [1e-9, 0.05, 1.0],
    ("engine", "block_size"): [1, 256],
    ("engine", "chunked_prefill"): [False],
    ("engine", "scheduler"): ["static"],
    ("engine", "router"): ["round_robin", "least_kv_load", "least_outstanding"],
    ("workload", "arrival"): ["gamma", "constant", "offline", "closed"],
    ("workload", "rate_per_s"): [1e-3, 1e9],
    ("workload", "burstiness"): [1e-300, 1e4],
    ("workload", "duration_s"): [1e-300, 1e-3, 5],
    ("workload", "num_requests"): [1, 2, 20],
    ("workload", "concurrency"): [1, 50],
    ("workload", "think_time_s"): [0, 1e-300, 3.0],
    ("workload", "diurnal"): [[0.0] * 23 + [1e3], [1e3] * 24, [1e-300] * 24],
    ("workload", "input_tokens"): [
        1,
        131071,
        10_000_000,
        {"distribution": "uniform", "low": 1, "high": 10_000_000},
        {"distribution": "normal", "mean": 1e-300, "std": 0},
        {"distribution": "normal", "mean": 100, "std": 1e8},
        {"distribution": "lognormal", "mean": 100, "std": 0},
        {"distribution": "lognormal", "mean": 1e7, "std": 1e8},
        {"distribution": "normal", "mean": 100, "std": 10, "min": 10_000_000, "max": 10},
    ],
    ("workload", "output_tokens"): [
        1,
        2,
        131071,
        {"distribution": "fixed", "value": 10_000_000},
        {"distribution": "normal", "mean": 1e7, "std": 0, "max": 50},
    ],
    ("workload", "monthly_tokens"): [1e-300, 1e300, 1.7e308],
    ("slo", "ttft_p95_s"): [1e-300, 1e300],
    ("slo", "e2e_mean_s"): [1e-300],
    ("simulation", "seed"): [0, 2**63 - 1],
    ("simulation", "warmup_s"): [0, 4.9, 1e300],
    ("simulation", "timeseries_interval_s"): [1e-3, 1e300],
    ("model", "weights"): ["int4-awq", "fp8", "w4a8", "int8"],
    ("model", "kv_cache"): ["fp8", "int8"],
    ("model", "name"): ["deepseek-v3", "mixtral-8x7b", "gpt-j-6b", "qwen3-235b-a22b"],
}


@st.composite
def valid_extremes(draw: Any) -> Case:
    name = draw(st.sampled_from(tuple(SMALL)))
    data = copy.deepcopy(SMALL[name])
    data.pop("sweep", None)
    keys = draw(st.lists(st.sampled_from(sorted(VALID_EXTREMES)), min_size=1, max_size=3))
    for sec, key in keys:
        if (sec, key) == ("model", "name") and "architecture" in data["model"]:
            continue
        data.setdefault(sec, {})[key] = copy.deepcopy(
            draw(st.sampled_from(VALID_EXTREMES[sec, key]))
        )
    w = data["workload"]
    w["num_requests"] = min(w.get("num_requests") or 20, 20)
    if w["arrival"] == "closed":
        w.setdefault("concurrency", 2)
    if w["arrival"] != "poisson":
        w.pop("diurnal", None)
    return Case(name, data, "extremes", style=draw(st.sampled_from(["inline", "header"])))


@settings(FUZZ, max_examples=40)
@given(case=valid_extremes())
def test_run_valid_extremes(fuzz_dir: Path, case: Case) -> None:
    path = write_case(fuzz_dir, case)
    result = invoke(["run", str(path), "--no-write", "--json"])
    assert_contract(result, str(path))
    if result.exit_code == 0:
        summary = json.loads(result.stdout)
        assert summary["requests_completed"] + summary["requests_rejected"] <= 20


# --- trace and empirical-length CSVs --------------------------------------------------------

TRACE_BASE: dict[str, Any] = {
    "model": {"name": "llama-3.1-8b"},
    "hardware": {"gpu": "h100-sxm"},
    "workload": {"arrival": "trace", "trace": "trace.csv", "num_requests": 20},
}
TRACE_HEADERS = [
    ["timestamp_s", "input_tokens", "output_tokens"],
    ["TIMESTAMP", "ContextTokens", "GeneratedTokens"],
    ["time", "prompt_tokens", "completion_tokens", "user"],
]
BAD_TRACE_HEADERS = [
    ["timestamp_s", "input_tokens"],
    ["ts", "input_tokens", "output_tokens"],
    ["timestamp_s", "in", "out"],
    ["1.0", "100", "20"],
]
BAD_CELLS = ["x", "", " ", "-3", "0", "nan", "1,5", "NaN", "--1", "2024-13-45T00:00:00", "0x10"]
BAD_CELLS += ["inf", "1e400", "1e30", "99999999999", "-inf"]
BAD_TIMESTAMPS = ["x", "", "nan", "inf", "-inf", "1e400", "2024-02-30T00:00:00", "12:00"]


def _trace_row(draw: Any, ncols: int) -> list[str]:
    t = draw(
        st.one_of(
            st.floats(0, 1e4, allow_nan=False).map(repr),
            st.integers(0, 59).map(lambda s: f"2024-05-01T10:00:{s:02d}.1234567Z"),
        )
    )
    row = [t, str(draw(st.integers(1, 4000))), str(draw(st.integers(1, 500)))]
    return row + ["u"] * (ncols - 3)


def with_blank_lines(draw: Any, lines: list[str], bad: int | None) -> tuple[str, int | None]:
    """Join CSV lines with blank lines scattered in; the physical line of ``lines[bad]``."""
    out: list[str] = []
    bad_line = None
    for k, line in enumerate(lines):
        out += [""] * draw(st.sampled_from([0, 0, 0, 1, 2]))
        out.append(line)
        if k == bad:
            bad_line = len(out)
    return "\n".join(out) + draw(st.sampled_from(["\n", "", "\n\n"])), bad_line


@st.composite
def trace_case(draw: Any) -> tuple[str, int | None, bool]:
    """(CSV text, physical line of the first bad row or None, header is bad)."""
    bad_header = draw(st.integers(0, 9)) == 0
    header = draw(st.sampled_from(BAD_TRACE_HEADERS if bad_header else TRACE_HEADERS))
    ncols = max(len(header), 3)
    rows = [_trace_row(draw, ncols) for _ in range(draw(st.integers(0, 6)))]
    bad = None
    if draw(st.booleans()) and not bad_header:
        row = _trace_row(draw, ncols)
        col = draw(st.integers(0, 2))
        op = draw(st.sampled_from(["cell", "cell", "short"]))
        if op == "short":
            row = row[: draw(st.integers(1, 2))]
        elif col == 0:
            row[0] = draw(st.sampled_from(BAD_TIMESTAMPS))
        else:
            row[col] = draw(st.sampled_from(BAD_CELLS))
        at = draw(st.integers(0, len(rows)))
        rows.insert(at, row)
        bad = at + 1
    lines = [",".join(header)] + [",".join(_csv_cell(c) for c in r) for r in rows]
    text, bad_line = with_blank_lines(draw, lines, bad)
    return text, bad_line, bad_header


def _csv_cell(c: str) -> str:
    return f'"{c}"' if "," in c else c


@settings(FUZZ, max_examples=60)
@given(drawn=trace_case())
def test_run_trace_csv(fuzz_dir: Path, drawn: tuple[str, int | None, bool]) -> None:
    text, bad_line, bad_header = drawn
    csv_path = fuzz_dir / "trace.csv"
    csv_path.write_text(text, encoding="utf-8")
    path = write_case(fuzz_dir, Case("trace", TRACE_BASE, "trace"))
    result = invoke(["run", str(path), "--no-write", "--json"])
    out = result.output
    assert_contract(result, str(csv_path))
    data_rows = len([line for line in text.splitlines() if line]) - 1
    if data_rows == 0:
        assert result.exit_code == 2, out
        assert "no requests" in out, out
    elif bad_header:
        assert result.exit_code == 2, out
        assert "workload.trace" in out and "column" in out, out
    elif bad_line is not None:
        assert result.exit_code == 2, out
        assert f"line {bad_line}:" in out, out
    else:
        assert result.exit_code == 0, out


EMPIRICAL_BASE: dict[str, Any] = {
    "model": {"name": "llama-3.1-8b"},
    "hardware": {"gpu": "h100-sxm"},
    "workload": {
        "arrival": "offline",
        "num_requests": 10,
        "input_tokens": {"distribution": "empirical", "path": "lengths.csv", "column": "tok"},
        "output_tokens": 20,
    },
}


@st.composite
def empirical_case(draw: Any) -> tuple[str, str]:
    """(CSV text, a fragment the error must contain, or "" when the CSV is fine)."""
    other = draw(st.sampled_from(["", "other", "id"]))
    header = draw(st.sampled_from(["tok", "tok", "Tok", "tokens", " tok"]))
    cols = [header] + ([other] if other else [])
    values = [str(draw(st.integers(1, 3000))) for _ in range(draw(st.integers(0, 6)))]
    bad = None
    if draw(st.integers(0, 2)) > 0:
        cells = ["x", "0", "-2", "nan", "0.5", "1e", "NaN", "--1", "inf", "1e400", "1e30"]
        cell = draw(st.sampled_from([*cells, ""] if other else cells))
        at = draw(st.integers(0, len(values)))
        values.insert(at, cell)
        bad = at + 1
    lines = [",".join(cols)] + [",".join([v] + (["q"] if other else [])) for v in values]
    text, bad_line = with_blank_lines(draw, lines, bad)
    if header != "tok":
        return text, "no column 'tok'"
    if bad_line is not None:
        return text, f"line {bad_line}:"
    if not values:
        return text, "has no rows"
    return text, ""


@settings(FUZZ, max_examples=40)
@given(drawn=empirical_case())
def test_run_empirical_csv(fuzz_dir: Path, drawn: tuple[str, str]) -> None:
    text, expected = drawn
    csv_path = fuzz_dir / "lengths.csv"
    csv_path.write_text(text, encoding="utf-8")
    path = write_case(fuzz_dir, Case("empirical", EMPIRICAL_BASE, "empirical"))
    result = invoke(["run", str(path), "--no-write", "--json"])
    out = result.output
    assert_contract(result, str(csv_path))
    if expected:
        assert result.exit_code == 2, out
        assert expected in out, out
    else:
        assert result.exit_code == 0, out


# --- reproductions of the bugs this fuzzing found ------------------------------------------

SMALL_RUN = (
    '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\n{hw}\n'
    '[workload]\narrival = "{arrival}"\nrate_per_s = {rate}\nnum_requests = 10\n'
    "input_tokens = {inp}\noutput_tokens = 50\n{extra}\n"
)


def _small(
    hw: str = "",
    arrival: str = "poisson",
    inp: str = "100",
    extra: str = "",
    tail: str = "",
    rate: str = "2.0",
) -> str:
    return SMALL_RUN.format(hw=hw, arrival=arrival, inp=inp, extra=extra, rate=rate) + tail


@dataclass(frozen=True)
class Repro:
    """One input that once broke the contract, and what the user must see instead."""

    command: str  # "check" or "run"
    scenario: str
    files: tuple[tuple[str, str], ...] = ()  # (name, text) written beside the scenario
    named: str = ""  # the file the error must name (default: the scenario)
    expect: str = ""  # a fragment the output must contain
    exit_code: int | None = None
    timeout_s: float = 20.0


_TRACE_HEAD = "timestamp_s,input_tokens,output_tokens\n"
_TRACE = to_toml(TRACE_BASE)
_EMPIRICAL = to_toml(EMPIRICAL_BASE)


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"known bug: {reason}")


REPROS = [
    # tomllib recursed per nesting level: RecursionError instead of a message
    pytest.param(
        Repro("check", _small(extra="x = " + "{a = " * 1000 + "1" + " }" * 1000), exit_code=2),
        id="inline-tables-1000-deep",
    ),
    pytest.param(
        Repro("check", _small(extra="x = " + "[" * 1000 + "]" * 1000), exit_code=2),
        id="arrays-1000-deep",
    ),
    # tomllib's int() of more than 4300 digits raised ValueError, not TOMLDecodeError
    pytest.param(
        Repro("check", _small(extra="num_requests = " + "1" * 5000), exit_code=2),
        id="integer-with-5000-digits",
    ),
    # linspace(-1e308, 1e308) overflowed to NaN; round(NaN) in _validate_sweep
    pytest.param(
        Repro(
            "check",
            _small(tail='[sweep]\n"hardware.tp" = { start = -1e308, stop = 1e308, num = 3 }\n'),
            exit_code=2,
            expect='sweep."hardware.tp"',
        ),
        id="sweep-int-range-overflows",
    ),
    # int(float("1e400")) / np.int64(1e30) in read_trace and _read_column: OverflowError
    *(
        pytest.param(
            Repro("run", _TRACE, (("trace.csv", _TRACE_HEAD + rows),), "trace.csv", "line 3"),
            id=f"trace-{name}",
        )
        for name, rows in [
            ("token-1e400", "0,10,5\n1,1e400,5\n"),
            ("token-inf", "0,10,5\n1,5,inf\n"),
            ("token-1e30", "0,10,5\n1,1e30,5\n"),
        ]
    ),
    *(
        pytest.param(
            Repro("run", _EMPIRICAL, (("lengths.csv", rows),), "lengths.csv", "line 3"),
            id=f"empirical-{name}",
        )
        for name, rows in [("inf", "tok\n5\ninf\n"), ("1e30", "tok\n5\n1e30\n")]
    ),
    # blank lines were dropped before counting: the bad row on line 5 was called line 3
    pytest.param(
        Repro(
            "run",
            _TRACE,
            (("trace.csv", _TRACE_HEAD + "\n0,10,5\n\n1,x,5\n"),),
            "trace.csv",
            "line 5:",
        ),
        id="trace-line-number-after-blank-lines",
    ),
    # a UTF-8 byte order mark (Excel's "CSV UTF-8") hid the first column's name
    pytest.param(
        Repro(
            "run",
            _TRACE,
            (("trace.csv", "\ufeff" + _TRACE_HEAD + "0,10,5\n1,20,5\n"),),
            exit_code=0,
        ),
        id="trace-with-bom",
    ),
    # a NUL in a path: ValueError("embedded null byte") from open()
    pytest.param(
        Repro(
            "run",
            to_toml({**TRACE_BASE, "workload": {**TRACE_BASE["workload"], "trace": "a\x00b.csv"}}),
            named="a\x00b.csv",
            exit_code=2,
        ),
        id="trace-path-with-nul",
    ),
    # token lengths beyond int64: numpy ValueError, numba TypingError / OverflowError
    pytest.param(
        Repro("run", _small(inp='{ distribution = "uniform", low = 1, high = ' + "1" * 31 + " }")),
        id="uniform-high-1e30",
    ),
    pytest.param(
        Repro("run", _small(inp='{ distribution = "normal", mean = 1e300, std = 0, max = 50 }')),
        id="normal-mean-1e300-max-50",
    ),
    pytest.param(
        Repro("run", _small(extra="diurnal = [1e308" + ", 0" * 23 + "]")), id="diurnal-1e308"
    ),
    # (std / mean) ** 2 overflows a float in sample_lengths: OverflowError
    pytest.param(
        Repro("run", _small(inp='{ distribution = "lognormal", mean = 1e-300, std = 1 }')),
        id="lognormal-mean-1e-300",
    ),
    # hangs: one ReplicaEngine per replica; a closed loop stepping through a 1e308 s think
    # time; `min` beyond int64 wrapping to negative lengths (the engine preempts forever)
    pytest.param(
        Repro("run", _small(hw="replicas = 1000000000"), timeout_s=2.0), id="hang-replicas-1e9"
    ),
    pytest.param(
        Repro(
            "run",
            _small(arrival="closed", extra="concurrency = 2\nthink_time_s = 1e308"),
            timeout_s=2.0,
        ),
        id="hang-closed-think-time-1e308",
    ),
    pytest.param(
        Repro(
            "run",
            _small(inp='{ distribution = "normal", mean = 100, std = 1, min = ' + "1" * 31 + " }"),
            timeout_s=2.0,
        ),
        id="hang-normal-min-1e30",
    ),
    # InlineArchitecture lacks catalog.ModelArch's consistency checks: `check` says ok, `run`
    # fails in ModelSection.arch() with a pydantic ValidationError traceback
    pytest.param(
        Repro(
            "run",
            to_toml(
                {
                    **TRACE_BASE,
                    "model": {"architecture": {**_ARCH_8B, "num_attention_heads": 12}},
                    "workload": {"arrival": "offline", "num_requests": 5},
                }
            ),
            exit_code=2,
            expect="num_attention_heads",
        ),
        id="inline-architecture-heads-not-multiple-of-kv-heads",
    ),
    # a closed loop's sampling interval comes from duration_s (1 ms / 4000 samples), but the
    # run lasts until the requests in flight finish (seconds): millions of samples, GBs
    pytest.param(
        Repro(
            "run",
            _small(
                arrival="closed",
                extra="concurrency = 2\nduration_s = 0.001",
                tail="[simulation]\ntimeseries_interval_s = 1e-300\n",
            ),
            timeout_s=2.0,
        ),
        id="hang-closed-short-duration-fine-timeseries",
    ),
    # diurnal thinning draws peak-rate candidates through the hours whose multiplier is 0
    pytest.param(
        Repro("run", _small(rate="1e6", extra="diurnal = [" + "0, " * 23 + "1]"), timeout_s=2.0),
        id="hang-diurnal-zero-nights-1e6-per-s",
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # as users run it
@pytest.mark.parametrize("repro", REPROS)
def test_reproduction(tmp_path: Path, repro: Repro) -> None:
    for name, text in repro.files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "scenario.toml"
    path.write_text(repro.scenario, encoding="utf-8")
    args = [repro.command, str(path)] + (["--no-write", "--json"] if repro.command == "run" else [])
    result = invoke(args, timeout_s=repro.timeout_s)
    assert_contract(result, str(tmp_path / repro.named) if repro.named else str(path))
    if repro.exit_code is not None:
        assert result.exit_code == repro.exit_code, result.output
    if repro.expect:
        assert repro.expect in result.output, result.output
