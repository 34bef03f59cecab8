"""Property-based tests of the scenario validator (issue 6, item 5).

Scenario files are generated two ways and each is written to a file and checked with
:func:`healthopt.scenario.validate_file`:

* **mutations** of the shipped ``scenarios/taiyuan_2025_baseline.yaml``: values replaced
  by values of random types (whole numbers, negative numbers, floats with NaN and
  infinities, text, null, booleans, lists, mappings, nested structures), values nudged
  (often still valid), keys dropped, unknown and misspelled keys added, random district
  codes; written with ``yaml.safe_dump`` in a random style (block or flow, indentation,
  line width, canonical form);
* **raw text fuzz**: lines of every shipped, broken and valid test scenario deleted,
  duplicated (duplicate keys), re-indented with spaces or tabs, garbled with YAML
  punctuation and control characters, cut short; random ``key: value`` lines at random
  indentations; random text.

The contract checked (:func:`check_contract`): the validator never raises; it returns
either no problem -- and then :func:`load_scenario` succeeds -- or problems that each
render on **one** line as ``file:line: field.path: message``, or, when the file is not
a YAML mapping at all, ``file:line: message`` saying what is wrong with the YAML.
Every test is derandomized so CI runs the same examples each time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from healthopt.errors import InputError
from healthopt.scenario import (
    KNOWN_DISTRICTS,
    Scenario,
    ScenarioError,
    load_scenario,
    validate_file,
)

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
BASE_TEXT = BASELINE.read_text(encoding="utf-8")
BASE_DATA: dict[str, Any] = yaml.safe_load(BASE_TEXT)
CORPUS = sorted(
    [
        *(ROOT / "scenarios").glob("*.yaml"),
        *(ROOT / "tests" / "scenarios_bad").glob("*.yaml"),
        *(ROOT / "tests" / "scenarios_ok").glob("*.yaml"),
    ]
)
CORPUS_TEXTS = [p.read_text(encoding="utf-8") for p in CORPUS]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: faster

#: Shared settings: reproducible in CI (derandomized, no example database), no deadline
#: (a validation takes ~25 ms on the shipped file; shared CI cores make timings noisy).
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Messages of problems that concern the file as a whole (no field to name).
FILE_LEVEL = re.compile(
    r"(YAML syntax error( at column \d+)?: "
    r"|tab character at column \d+: YAML does not allow tabs"
    r"|character U\+[0-9A-F]{4,6} is not allowed in YAML"
    r"|the YAML is nested too deeply"
    r"|the scenario file is empty"
    r"|the YAML holds more than [\d,]+ values once its aliases"
    r"|not UTF-8 text: save the file as UTF-8"
    r"|a scenario must be a mapping of 'key: value' lines at the top level)"
)


# --------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------


def check_contract(path: Path, text: str) -> list[InputError]:
    """Validate ``path`` (holding ``text``) and check the validator's contract.

    Returns the problems, for further checks by the caller.
    """
    problems = validate_file(path)
    assert isinstance(problems, list)
    if currently_in_test_context():  # statistics: pytest --hypothesis-show-statistics
        event("valid" if not problems else "invalid")
    if not problems:
        assert isinstance(load_scenario(path), Scenario)
        return problems
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [p.one_line() for p in info.value.problems] == [p.one_line() for p in problems]
    assert [p.line or 0 for p in problems] == sorted(p.line or 0 for p in problems), "not sorted by line"
    last_line = len(text.splitlines()) + 1
    for problem in problems:
        assert isinstance(problem, InputError)
        rendered = problem.one_line()
        assert rendered.splitlines() == [rendered], f"not one line: {rendered!r}"
        assert problem.message.strip(), rendered
        assert problem.source == str(path)
        assert problem.line is not None and 1 <= problem.line <= last_line, rendered
        where = f"{path}:{problem.line}: "
        if problem.field:
            assert problem.field.strip() and problem.field != "<top level>", rendered
            assert rendered == f"{where}{problem.field}: {problem.message}"
        else:
            assert rendered == f"{where}{problem.message}"
            assert FILE_LEVEL.match(problem.message), f"problem names no field: {rendered!r}"
    return problems


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module; every example overwrites ``scenario.yaml`` in it."""
    return tmp_path_factory.mktemp("props")


def write(folder: Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``folder/scenario.yaml`` and return the path.

    A lone surrogate (which hypothesis may splice in) is written as its raw bytes: invalid
    UTF-8, a garbled file the reader must refuse like any other.
    """
    path = folder / "scenario.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    return path


# --------------------------------------------------------------------------------------
# Schema introspection: field names, model sections of the baseline
# --------------------------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Yield the scenario section models inside a (possibly Optional/Annotated) annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _field_names(model: type[BaseModel], out: set[str]) -> set[str]:
    for name, info in model.model_fields.items():
        out.add(name)
        for sub in _models_in(info.annotation):
            _field_names(sub, out)
    return out


def _sections(model: type[BaseModel], node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], type]]:
    """Yield ``(path, model)`` of every mapping in ``node`` that is a scenario section."""
    if not isinstance(node, dict):
        return
    yield path, model
    for name, info in model.model_fields.items():
        for sub in _models_in(info.annotation):
            yield from _sections(sub, node.get(name), (*path, name))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every value (mapping keys and list positions) below ``node``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


FIELD_NAMES = sorted(_field_names(Scenario, set()))
SECTIONS = list(_sections(Scenario, BASE_DATA, ()))
BASE_PATHS = list(_paths(BASE_DATA))
DISTRICT_LISTS = [("area", "districts"), ("area", "urban")]
DISTRICT_MAPS = [("plans", "beds", "targets"), ("plans", "beds", "infectious_min"), ("plans", "beds", "strategy")]


def dotted(path: tuple[Any, ...]) -> str:
    """Render a path the way the validator names fields: ``a.b[3].c``."""
    out = ""
    for part in path:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else str(part))
    return out


def node_at(data: Any, path: tuple[Any, ...]) -> Any:
    """The value at ``path`` in ``data``, or ``None`` when the path no longer exists."""
    node = data
    for key in path:
        listed = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if not (listed or (isinstance(node, dict) and key in node)):
            return None
        node = node[key]
    return node


# --------------------------------------------------------------------------------------
# Strategies: values, keys, district codes
# --------------------------------------------------------------------------------------

WORDS = [
    "taiyuan", "auto", "highs", "cbc", "wgs84", "gcj02", "bd09", "EPSG:32649", "EPSG:4490",
    "plan_2025", "plan_2022", "default", "mclp", "mexclp", "dsm", "strengthen", "shed",
    "priority", "neutral", "1e3", "1.0e+3", "12", "0.4", "1,000", "true", "null", "~", "",
    " ", "x.geojson", "roads.osm", "../nowhere/roads.osm.pbf", "~nosuchuser/x.osm", "\x00",
    "晋中市", "太原市", "a\nb", "taiyuan_2025_baseline", "Taiyuan 2025",
]  # fmt: skip

district_codes = st.one_of(
    st.sampled_from(sorted(KNOWN_DISTRICTS)),
    st.sampled_from(sorted(KNOWN_DISTRICTS)).map(int),
    st.sampled_from(["140100", "140700", 140100, "110101", "14010", "1401050", " 140105 ", "14O105"]),
    st.integers(min_value=-1, max_value=10**7),
    st.text(alphabet="0123456789 -", max_size=8),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=300),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=300.0),
    st.text(max_size=12),
    st.sampled_from(WORDS),
    district_codes,
)
keys = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.text(max_size=10),
    st.integers(min_value=-5, max_value=10**6),
    st.sampled_from(sorted(KNOWN_DISTRICTS)),
    st.sampled_from([None, True, False, 1.5, "<<", "a.b", "x[0]", "[key]", "int", "str"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10,
)


def _typo(draw: st.DrawFn, word: str) -> str:
    """A one-edit misspelling of ``word`` (or the same word in capitals)."""
    kind = draw(st.sampled_from(["delete", "swap", "double", "replace", "insert", "upper", "dash"]))
    i = draw(st.integers(0, len(word) - 1))
    letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"))
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if kind == "swap" and len(word) > 1:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "double":
        return word[: i + 1] + word[i:]
    if kind == "replace":
        return word[:i] + letter + word[i + 1 :]
    if kind == "upper":
        return word.upper()
    if kind == "dash":
        return word.replace("_", "-") if "_" in word else word + "s"
    return word[:i] + letter + word[i:]


def _nudge(draw: st.DrawFn, value: Any) -> Any:
    """A nearby value of the same type (often still valid)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + draw(st.integers(-3, 3)) * max(1, abs(value) // 10)
    if isinstance(value, float):
        return value * draw(st.sampled_from([0.0, 0.5, 0.9, 1.1, 2.0, -1.0]))
    if isinstance(value, str):
        return draw(st.sampled_from([value, value.upper(), value + "x", value[:-1]]))
    if value is None:
        return draw(st.sampled_from([0, 10, 1.5]))
    if isinstance(value, list):
        return draw(st.sampled_from([value[:-1], value + value[-1:], list(reversed(value))])) if value else value
    return value


@st.composite
def mutated_baselines(draw: st.DrawFn) -> tuple[dict[Any, Any], list[str]]:
    """The baseline scenario with random edits; also the misspelled keys added (dotted)."""
    data = copy.deepcopy(BASE_DATA)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["set", "nudge", "nudge", "nudge", "drop", "add", "districts", "district_map"]))
        if op in ("set", "nudge", "drop"):
            path = draw(st.sampled_from(BASE_PATHS))
            parent = node_at(data, path[:-1])
            key = path[-1]
            listed = isinstance(parent, list) and isinstance(key, int) and key < len(parent)
            if listed or (isinstance(parent, dict) and key in parent):
                if op == "drop":
                    del parent[key]
                else:
                    parent[key] = draw(values) if op == "set" else _nudge(draw, parent[key])
        elif op == "add":
            section, _ = draw(st.sampled_from(SECTIONS))
            node = node_at(data, section)
            if isinstance(node, dict):
                node[draw(keys)] = draw(values)
        elif op == "districts":
            path = draw(st.sampled_from(DISTRICT_LISTS))
            parent = node_at(data, path[:-1])
            if isinstance(parent, dict):
                parent[path[-1]] = draw(st.lists(district_codes, max_size=6))
        else:
            path = draw(st.sampled_from(DISTRICT_MAPS))
            parent = node_at(data, path[:-1])
            if isinstance(parent, dict):
                entries = st.one_of(
                    st.floats(min_value=0.5, max_value=20.0), st.integers(0, 100), st.sampled_from(WORDS), scalars
                )
                parent[path[-1]] = draw(st.dictionaries(district_codes, entries, max_size=4))
    misspelled = []
    for _ in range(draw(st.integers(0, 2))):
        section, model = draw(st.sampled_from(SECTIONS))
        node = node_at(data, section)
        name = draw(st.sampled_from(sorted(model.model_fields)))
        wrong = _typo(draw, name)
        if isinstance(node, dict) and wrong and wrong not in model.model_fields and wrong not in node:
            node[wrong] = draw(values)
            misspelled.append(dotted((*section, wrong)))
    return data, misspelled


dump_styles = st.fixed_dictionaries(
    {
        "default_flow_style": st.sampled_from([False, True, None]),
        "indent": st.integers(2, 9),
        "width": st.sampled_from([20, 80, 4096]),
        "allow_unicode": st.booleans(),
        "explicit_start": st.booleans(),
        "canonical": st.sampled_from([False, False, False, True]),
    }
)


def key_text(key: Any) -> str:
    """A key as field names spell it: as in YAML, quoted when empty, padded or unprintable."""
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    text = str(key)
    return repr(text) if not text or text != text.strip() or not text.isprintable() else text


def top_level_names(data: dict[Any, Any]) -> set[str]:
    """Names a problem's field may start with: schema sections and the document's keys."""
    return set(Scenario.model_fields) | {key_text(k) for k in data}


def check_mutation(folder: Path, data: dict[Any, Any], misspelled: list[str], style: dict[str, Any]) -> None:
    """Dump a mutated baseline, validate it, and check the contract plus field naming."""
    text = yaml.dump(data, Dumper=DUMPER, sort_keys=False, **style)
    path = write(folder, text)
    problems = check_contract(path, text)
    starts = top_level_names(data)
    for problem in problems:
        # the YAML is valid and the top level a mapping: every problem names a field
        assert problem.field, problem.one_line()
        head = next((s for s in starts if problem.field == s or problem.field.startswith((f"{s}.", f"{s}["))), None)
        assert head is not None, f"field outside the document and the schema: {problem.one_line()}"
    for name in misspelled:
        hits = [p for p in problems if p.field == name]
        assert any("unknown field" in p.message and "did you mean" in p.message for p in hits), (name, problems)


# --------------------------------------------------------------------------------------
# Mutations of the shipped baseline
# --------------------------------------------------------------------------------------


def test_baseline_satisfies_the_contract(workdir: Path) -> None:
    assert check_contract(write(workdir, BASE_TEXT), BASE_TEXT) == []
    check_mutation(workdir, copy.deepcopy(BASE_DATA), [], {})


@settings(FUZZ, max_examples=120)
@given(mutated_baselines(), dump_styles)
@example(({**BASE_DATA, "name": None}, []), {})
@example(({**BASE_DATA, "area": {"districts": ["140105"], "urban": ["140100"]}}, []), {})
@example(({**BASE_DATA, "plans": {"ambulances": {"max_vehicles": -3, "costs": {"budget": 5}}}}, []), {})
@example(({**BASE_DATA, "network": {"speeds_kph": {"motorway": ".nan", 7: 1, None: 2}}}, []), {})
def test_mutated_baseline(workdir: Path, doc: tuple[dict[Any, Any], list[str]], style: dict[str, Any]) -> None:
    data, misspelled = doc
    check_mutation(workdir, data, misspelled, style)


@settings(FUZZ, max_examples=150)
@given(st.dictionaries(keys, values, max_size=6), st.sampled_from([None, "fuzz", 7, "Bad Name"]))
@example({True: None}, None)  # was named "1: field names must be text, got 1"
@example({"\x85": None}, "fuzz")  # a key with a line break broke the one-line message
@example({"": None, " ": 1}, "fuzz")  # empty key was reported at "<top level>"
@example({"plans": {"beds": {"targets": {None: 1, True: 2, 1.5: 3}}}}, "fuzz")
def test_random_documents(workdir: Path, data: dict[Any, Any], name: Any) -> None:
    if name is not None:
        data = {"name": name, **data}
    check_mutation(workdir, data, [], {})


# --------------------------------------------------------------------------------------
# Raw YAML text fuzz
# --------------------------------------------------------------------------------------

INDENTS = st.one_of(
    st.integers(0, 9).map(lambda n: " " * n),
    st.sampled_from(["\t", "\t\t", "  \t", "\t  ", " \t ", "    \t"]),
)
VALUE_TEXTS = st.one_of(
    st.sampled_from(
        [
            "", "12", "-3", "1.5", "'12'", '"x"', "true", "yes", "null", "~", "[1, 2]", "{a: 1}",
            ".nan", "-.inf", "1e3", "1.0e+3", "1,000", "&a 5", "*a", "&b {congestion: 2}", "*b",
            "!!int x", "!!float 1", "!!binary x", "!!set {a}", "!!python/object:os.system x",
            "!!timestamp 2025", "|", ">-", "[", "{", "]", "2025-01-01", "0x10", "0o7", "1_000",
            "plan_2025", "mexclp", "wgs84", "140105", "[140105, 140106]", "{140105: 8.5}",
            "# comment", "'unclosed", '"\\q"', "'a'b", "- 1", "a: b", "? x", "%YAML 1.1",
        ]
    ),
    st.text(max_size=10),
)  # fmt: skip
KEY_TEXTS = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.sampled_from(FIELD_NAMES).map(str.upper),
    st.sampled_from(sorted(KNOWN_DISTRICTS)),
    st.sampled_from(["<<", "? a", "-", "- name", "[a, b]", "{a: 1}", "&k name", "*k", "'a:b'", '"x"', "", "1.5"]),
    st.text(max_size=8),
)
yaml_lines = st.tuples(
    INDENTS,
    st.sampled_from(["", "", "- ", "-"]),
    KEY_TEXTS,
    st.sampled_from([": ", ": ", ":", " : ", "", ":\t"]),
    VALUE_TEXTS,
).map("".join)
GARBAGE = st.one_of(
    st.sampled_from([*":-[]{},#&*!|>'\"%@`?\t ~\\\n\r", "\x00", "\x07", "\x1b", "\x85", "\u2028", "\ufeff"]),
    st.characters(),
)


@st.composite
def garbled_texts(draw: st.DrawFn) -> str:
    """A corpus scenario with random line edits."""
    lines = draw(st.sampled_from(CORPUS_TEXTS)).split("\n")
    for _ in range(draw(st.integers(1, 6))):
        op = draw(
            st.sampled_from(
                ["delete", "duplicate", "reindent", "insert", "value", "garble", "swap", "truncate", "document"]
            )
        )
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines.append("")
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), line)
        elif op == "reindent":
            lines[i] = draw(INDENTS) + line.lstrip(" ")
        elif op == "insert":
            lines.insert(i, draw(yaml_lines))
        elif op == "value" and ":" in line:
            lines[i] = line[: line.index(":") + 1] + " " + draw(VALUE_TEXTS)
        elif op == "garble":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.text(GARBAGE, min_size=1, max_size=3)) + line[j:]
        elif op == "swap":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], line
        elif op == "truncate":
            del lines[i + 1 :]
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif op == "document":
            lines.insert(i, draw(st.sampled_from(["---", "...", "--- !!map", "%TAG ! tag:x,2000:", "--- >"])))
    return "\n".join(lines)


@settings(FUZZ, max_examples=300)
@given(garbled_texts())
@example("name: tabs\nnetwork:\n\tcongestion: 1.2\n")
@example("name: dup\nnetwork:\n  congestion: 1.2\n  congestion: 1.3\n")
@example("name: x\n\x00\n")
@example("name: [\n")
@example("name: !!timestamp 2025\n")  # PyYAML raised AttributeError from the validator
def test_garbled_corpus_files(workdir: Path, text: str) -> None:
    check_contract(write(workdir, text), text)


@settings(FUZZ, max_examples=300)
@given(st.lists(yaml_lines, max_size=20), st.booleans())
def test_random_yaml_lines(workdir: Path, lines: list[str], named: bool) -> None:
    text = "\n".join((["name: fuzz"] if named else []) + lines) + "\n"
    check_contract(write(workdir, text), text)


@settings(FUZZ, max_examples=200)
@given(st.text(max_size=300))
@example("")
@example("\ufeff")
@example("- a\n- b\n")
@example("42")
def test_random_text(workdir: Path, text: str) -> None:
    check_contract(write(workdir, text), text)
