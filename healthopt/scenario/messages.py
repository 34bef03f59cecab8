"""Error wording for scenario and sweep files: planning-level messages, field spelling.

Every problem a user can cause is reported as ``file:line: dotted.field: message``
(:class:`healthopt.errors.InputError`); this module turns pydantic's error records and
raw YAML keys into those words. It knows nothing of the schema: callers pass what it
needs (the allowed field names of a section, for instance).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import PydanticCustomError

from healthopt.errors import InputError

__all__ = [
    "MAX_PROBLEMS",
    "OmittedProblemsError",
    "ScenarioError",
    "cap_problems",
    "fail",
    "join_field",
    "key_text",
    "message",
    "odd_key",
    "show",
    "suggest",
]

#: At most this many problems are listed; a file with more gets one closing line that
#: counts the rest (a generated file with 200,000 bad keys must not print 200,000 lines,
#: nor spend time spelling suggestions for them).
MAX_PROBLEMS = 100

#: The error type of messages written by this package (used verbatim).
CUSTOM = "healthopt"


def fail(message: str, *loc: str | int, hint: tuple[str, Sequence[str]] | None = None) -> PydanticCustomError:
    """Build a validation error whose message is used verbatim.

    Parameters
    ----------
    message : str
        What is wrong, in planning terms.
    *loc : str or int
        Sub-field path appended to the location of the validator that raises it.
    hint : tuple of (str, sequence of str), optional
        ``(word, choices)``: a "did you mean" suggestion appended to the message. It is
        spelled only for problems that are reported (see :data:`MAX_PROBLEMS`), because
        fuzzy matching is the slowest step of a file with thousands of bad keys.

    Returns
    -------
    PydanticCustomError
        To be raised by the caller.
    """
    return PydanticCustomError(CUSTOM, "{detail}", {"detail": message, "loc": loc, "hint": hint})


def show(value: Any) -> str:
    """Render a value the way it looks in YAML, shortened for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suggest(word: str, choices: Sequence[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""


# --------------------------------------------------------------------------------------
# Field names
# --------------------------------------------------------------------------------------


def odd_key(text: str) -> bool:
    """Whether a key would be invisible or break the line if printed as is."""
    return not text or text != text.strip() or not text.isprintable()


def key_text(key: Any) -> str:
    """Spell a mapping key as a field-name part, as in YAML (``true``, ``null``).

    Empty keys, keys with surrounding spaces and keys holding line breaks or control
    characters are quoted and escaped, so every problem stays visible and on one line.
    """
    if isinstance(key, bool) or key is None:
        return show(key)
    text = str(key)
    return repr(text) if odd_key(text) else text


def join_field(name: str, part: Any, index: bool = False) -> str:
    """Append a mapping key (``a.b``) or a list index (``a[3]``) to a dotted name."""
    if index:
        return f"{name}[{part}]"
    key = key_text(part)
    return f"{name}.{key}" if name else key


# --------------------------------------------------------------------------------------
# Pydantic error records -> planning-level messages
# --------------------------------------------------------------------------------------

_MISSING_HINTS = {
    "crs": "say which coordinate system the layer uses: wgs84, gcj02 (Amap, Tencent), "
    "bd09 (Baidu) or an EPSG code such as EPSG:32649",
    "path": "give the file's path (relative to the scenario's folder)",
    "name": "give the scenario a name such as taiyuan_2025_baseline (it names the output "
    "folder)",
}

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (indented 'key: value' lines)",
    "model_type": "a mapping (indented 'key: value' lines)",
    "list_type": "a list ([a, b] or '- item' lines)",
    "tuple_type": "a pair [low, high]",
}


def _typed_message(kind: str, value: Any) -> str:
    """Explain a type mismatch, with hints for numbers written as text."""
    want = _TYPE_WORDS[kind]
    if isinstance(value, str) and kind in ("int_type", "float_type", "int_from_float"):
        plain = value.strip().replace(",", "").replace("_", "")
        try:
            float(plain)
        except ValueError:
            return f"expected {want}, got the text {show(value)}"
        if "," in value:
            return f"expected {want}, got the text {show(value)}: drop the thousands separators"
        if "e" in value.lower() and "." not in value:
            return (
                f"expected {want}, got the text {show(value)}: YAML reads exponents only "
                "with a decimal point, e.g. 1.0e+3"
            )
        return f"expected {want}, got the text {show(value)}: remove the quotes"
    return f"expected {want}, got {show(value)}"


def _bound_message(kind: str, ctx: Mapping[str, Any], value: Any) -> str:
    """Explain a value outside its range."""
    words = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    word, key = words[kind]
    text = f"must be {word} {ctx[key]:g}, got {show(value)}"
    if key == "le" and ctx[key] == 1 and isinstance(value, int | float) and value > 1:
        text += " (shares are fractions: write 0.4 for 40%)"
    if kind == "greater_than" and value == 0 and ctx[key] == 0:
        text += " (zero is not allowed here)"
    return text


def _extra_message(loc: tuple[Any, ...], allowed: Sequence[str] | None) -> str:
    """Explain an unknown key, suggesting the closest allowed field."""
    key = str(loc[-1]) if loc else "?"
    shown = repr(key) if odd_key(key) else f"'{key}'"
    if allowed is None:
        return f"unknown field {shown}"
    hint = suggest(key, allowed)
    if hint:
        return f"unknown field {shown}{hint}"
    return f"unknown field {shown} (allowed: {', '.join(allowed)})"


def message(err: Mapping[str, Any], loc: tuple[Any, ...], *, allowed: Sequence[str] | None = None) -> str:
    """Turn one pydantic error into a planning-level message.

    Parameters
    ----------
    err : Mapping
        One record of ``ValidationError.errors()``.
    loc : tuple
        Its location with pydantic's validator tags removed.
    allowed : sequence of str, optional
        Field names of the section holding an unknown key (for "did you mean").

    Returns
    -------
    str
    """
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == CUSTOM:
        hint = ctx.get("hint")
        return str(ctx["detail"]) + (suggest(hint[0], hint[1]) if hint else "")
    if kind == "missing":
        wanted = _MISSING_HINTS.get(str(loc[-1]) if loc else "")
        return f"required field is missing: {wanted}" if wanted else "required field is missing"
    if kind == "extra_forbidden":
        return _extra_message(loc, allowed)
    if kind == "invalid_key":
        return f"field names must be text, got {show(value)}"
    if kind in _TYPE_WORDS:
        return _typed_message(kind, value)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bound_message(kind, ctx, value)
    if kind == "literal_error":
        # a literal may be a YAML boolean (relocate: false): pydantic writes it bare, False
        found = re.findall(r"'([^']*)'|\b(False|True)\b", str(ctx.get("expected", "")))
        options = [text or flag.lower() for text, flag in found]
        hint = suggest(str(value), options) if isinstance(value, str) else ""
        return f"must be one of {', '.join(options)}, got {show(value)}{hint}"
    if kind == "finite_number":
        return f"must be a finite number, got {show(value)}"
    if kind in ("too_short", "too_long") and isinstance(value, list | tuple):
        return f"expected a pair [low, high], got {len(value)} values"
    if kind == "string_too_short":
        return "must not be empty"
    return f"{err['msg']}, got {show(value)}"


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class OmittedProblemsError(InputError):
    """The closing line of a capped problem list: how many problems were not listed."""

    def __init__(self, source: str | None, count: int) -> None:
        self.count = count
        super().__init__(
            source, None,
            f"{count:,} more problems not listed (the first {MAX_PROBLEMS} are shown; fix them "
            "and validate again)",
        )


def cap_problems(problems: list[InputError]) -> list[InputError]:
    """Sort problems by line and keep the first :data:`MAX_PROBLEMS`, plus a count of the rest."""
    omitted = sum(p.count for p in problems if isinstance(p, OmittedProblemsError))
    ordered = sorted((p for p in problems if not isinstance(p, OmittedProblemsError)), key=lambda p: p.line or 0)
    omitted += max(len(ordered) - MAX_PROBLEMS, 0)
    if not omitted:
        return ordered
    return [*ordered[:MAX_PROBLEMS], OmittedProblemsError(ordered[0].source if ordered else None, omitted)]


class ScenarioError(InputError):
    """A scenario with problems; ``problems`` lists each as an :class:`InputError`.

    ``source``, ``field``, ``message`` and ``line`` are those of the first problem;
    :meth:`one_line` (and ``str()``) gives every problem, one per line. At most
    :data:`MAX_PROBLEMS` are kept, followed by one line counting the others; ``total``
    counts them all.

    Parameters
    ----------
    problems : list of InputError
        At least one problem.
    """

    def __init__(self, problems: list[InputError]) -> None:
        self.problems = cap_problems(problems) or [InputError(None, None, "invalid scenario")]
        #: Every problem found, the unlisted ones included.
        self.total = sum(p.count if isinstance(p, OmittedProblemsError) else 1 for p in self.problems)
        first = self.problems[0]
        super().__init__(first.source, first.field, first.message, first.line)

    def one_line(self) -> str:
        """Return every problem as ``file:line: field: message``, one per line."""
        return "\n".join(p.one_line() for p in self.problems)
