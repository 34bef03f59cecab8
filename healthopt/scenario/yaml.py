"""Safe YAML for scenario and sweep files: bounded reading, line numbers, clear errors.

A scenario file is small and hand-written; anything else is refused before it can cost
memory or time, each with one line naming the file:

- only regular files are read (a FIFO, ``/dev/zero``, a socket or a folder is refused
  before it is opened, and the file is opened non-blocking so a FIFO swapped in cannot
  hang the read);
- at most :data:`MAX_FILE_BYTES` (1 MiB) are read;
- the YAML may hold at most :data:`MAX_YAML_VALUES` values, counted as composed and
  again with every alias (``*name``) expanded, so a 1 KB "billion laughs" alias bomb is
  refused before any of it is built;
- only PyYAML's safe tags are constructed (no tag ever runs code).

The data comes back with the 1-based line of every mapping key and list item, and with
duplicate keys reported (YAML would silently keep the last one).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from healthopt.errors import InputError
from healthopt.scenario.messages import join_field

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_YAML_VALUES",
    "Lines",
    "Parsed",
    "parse_yaml",
    "read_limited",
    "read_text",
]

#: Largest scenario or sweep file read (bytes). The shipped baseline, which spells out
#: every field with comments, is about 13 KB.
MAX_FILE_BYTES = 1024 * 1024

#: Most YAML values (scalars, lists, mappings) a file may hold, counted with aliases
#: expanded. The baseline holds about 200.
MAX_YAML_VALUES = 100_000

#: ``{key path: 1-based line}`` of every mapping key and list item.
Lines = dict[tuple[Any, ...], int]

_YAML_HINTS = {
    "mapping values are not allowed here": "a ':' inside a value? quote the value, or a "
    "missing space/indentation before the key",
    "could not find expected ':'": "a line without 'key: value', or a missing closing quote",
    "expected <block end>, but found": "the indentation of this line does not match the "
    "lines above",
    "found undefined alias": "an '*alias' without a matching '&anchor'",
    "but found another document": "a scenario file holds one YAML document: remove the "
    "'---' line",
}


class _TooLarge(yaml.YAMLError):
    """The document holds more values than :data:`MAX_YAML_VALUES`."""


def _too_many(aliases: bool) -> str:
    how = " once its aliases (*name) are expanded" if aliases else ""
    return (f"the YAML holds more than {MAX_YAML_VALUES:,} values{how}: scenario and sweep "
            f"files are limited to {MAX_YAML_VALUES:,} values")


# --------------------------------------------------------------------------------------
# Bounded reading
# --------------------------------------------------------------------------------------


def read_limited(path: Path, *, what: str, limit: int = MAX_FILE_BYTES) -> tuple[bytes | None, list[InputError]]:
    """Read a regular file of at most ``limit`` bytes; refuse anything else with one problem.

    Parameters
    ----------
    path : Path
        The file.
    what : str
        What the file is (``"scenario file"``), for messages.
    limit : int
        Most bytes accepted.

    Returns
    -------
    tuple
        The bytes (or None) and the problems (empty when the bytes were read).
    """
    def refuse(message: str) -> tuple[None, list[InputError]]:
        return None, [InputError(path, None, message)]

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return refuse(f"{what} not found")
    except OSError as exc:  # symlink loop, permission, name too long, ...
        return refuse(f"cannot read the file: {exc.strerror}")
    except ValueError:  # a NUL byte in the name
        return refuse(f"{what} not found")
    if stat.S_ISDIR(mode):
        return refuse(f"is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        return refuse(f"is not a regular file (a FIFO, device or socket): give a {what}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return refuse(f"cannot read the file: {exc.strerror}")
    try:
        # The path may have been swapped for something else since the stat above.
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return refuse(f"is not a regular file (a FIFO, device or socket): give a {what}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return refuse(f"cannot read the file: {exc.strerror}")
    finally:
        os.close(fd)
    if size > limit:
        return refuse(f"is larger than {limit // 1024:,} KiB ({limit:,} bytes), the limit for a {what}")
    return b"".join(chunks), []


def read_text(path: Path, *, what: str = "scenario file") -> tuple[str | None, list[InputError]]:
    """Read a scenario or sweep file as UTF-8 text (a byte-order mark is dropped)."""
    data, problems = read_limited(path, what=what)
    if data is None:
        return None, problems
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [InputError(path, None, "not UTF-8 text: save the file as UTF-8", line)]


# --------------------------------------------------------------------------------------
# Parsing with line numbers
# --------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """Raw YAML data with the line of every key and list item, and load problems."""

    data: Any = None
    lines: Lines = field(default_factory=dict)
    problems: list[InputError] = field(default_factory=list)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts composed nodes and refuses beyond the limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.composed = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.composed += 1
        if self.composed > MAX_YAML_VALUES:
            raise _TooLarge(_too_many(aliases=False))
        return super().compose_node(parent, index)


def _expanded_size(root: yaml.Node) -> int:
    """Count the values of ``root`` with every alias expanded, in time linear in the nodes.

    Shared nodes (aliases) are counted once per use from a memo, so a chain of anchors
    that would expand to billions of values is measured without being expanded. A node
    that contains itself is a YAML error.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise yaml.constructor.ConstructorError(
                None, None, "recursive alias: a value contains itself", node.start_mark
            )
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        memo[key] = total
        return total

    return size(root)


class _LineWalker:
    """Build plain Python data from a YAML node tree, recording lines and duplicates."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.out = Parsed()
        self._active: set[int] = set()

    def value(self, node: yaml.Node, path: tuple[Any, ...], name: str = "") -> Any:
        """Return the Python value of ``node`` found at ``path`` (dotted ``name``)."""
        if id(node) in self._active:
            raise yaml.constructor.ConstructorError(
                None, None, "recursive alias: a value contains itself", node.start_mark
            )
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
                return self._mapping(node, path, name)
            if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
                return self._sequence(node, path, name)
            return self._construct(node)
        finally:
            self._active.discard(id(node))

    def _construct(self, node: yaml.Node) -> Any:
        """Construct a scalar or tagged value; PyYAML's own slips become YAML errors."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {node.tag} value ({exc})", node.start_mark
            ) from None

    def _key(self, node: yaml.Node) -> Any:
        """Return a mapping key, which must be a plain scalar."""
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain names, not lists or mappings", node.start_mark
            )
        key = self._construct(node)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain names, not lists or mappings", node.start_mark
            ) from None
        return key

    def _mapping(self, node: yaml.MappingNode, path: tuple[Any, ...], name: str) -> dict[Any, Any]:
        self._check_duplicates(node, name)
        self.loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            self.out.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.value(value_node, (*path, key), join_field(name, key))
        return out

    def _check_duplicates(self, node: yaml.MappingNode, name: str) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = self._key(key_node), key_node.start_mark.line + 1
            if key in seen:
                self.out.problems.append(InputError(
                    self.source,
                    join_field(name, key),
                    f"duplicate key: also given on line {seen[key]}; YAML would silently "
                    "keep only the last value, so remove one",
                    line,
                ))
            else:
                seen[key] = line

    def _sequence(self, node: yaml.SequenceNode, path: tuple[Any, ...], name: str) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.out.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.value(item, (*path, index), join_field(name, index, index=True)))
        return items


def _yaml_problem(exc: yaml.YAMLError, source: str) -> InputError:
    """One-line explanation of a YAML syntax error, at the parser's line and column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context = str(getattr(exc, "context", None) or "")
    if problem.startswith("but ") and context and not context.startswith("while "):
        problem = f"{context} {problem}"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    if "'\\t'" in problem:
        return InputError(
            source, None,
            f"tab character at column {column}: YAML does not allow tabs for indentation "
            "or after ':'; use spaces",
            line,
        )
    hint = next((h for key, h in _YAML_HINTS.items() if key in problem), None)
    where = f" at column {column}" if column is not None else ""
    text = f"YAML syntax error{where}: {problem}{_yaml_context(exc, line)}"
    return InputError(source, None, text + (f" ({hint})" if hint else ""), line)


def _yaml_context(exc: yaml.YAMLError, line: int | None) -> str:
    """Say where the construct being parsed started, when that is another line."""
    context = str(getattr(exc, "context", None) or "")
    mark = getattr(exc, "context_mark", None)
    match = re.fullmatch(r"while (?:parsing|scanning) (?:an? )?(.+)", context)
    if mark is None or match is None or mark.line + 1 == line:
        return ""
    return f", in the {match.group(1)} that starts on line {mark.line + 1}"


def _reader_problem(exc: yaml.reader.ReaderError, text: str, source: str) -> InputError:
    """Explain a character YAML does not accept (control characters and the like)."""
    line = text[: max(exc.position, 0)].count("\n") + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
    return InputError(source, None, f"character U+{code:04X} is not allowed in YAML: delete it", line)


def parse_yaml(text: str, source: str) -> Parsed:
    """Parse YAML text into data with line numbers; problems are collected, not raised.

    Parameters
    ----------
    text : str
        The document.
    source : str
        File name for messages.

    Returns
    -------
    Parsed
        ``data`` is None when the document could not be read (see ``problems``).
    """
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        return Parsed(problems=[_reader_problem(exc, text, source)])
    walker = _LineWalker(loader, source)
    try:
        node = loader.get_single_node()
        if node is None:
            walker.out.problems.append(InputError(
                source, None, "the scenario file is empty: it needs at least 'name:'", 1
            ))
            return walker.out
        if _expanded_size(node) > MAX_YAML_VALUES:
            return Parsed(problems=[InputError(source, None, _too_many(aliases=True), 1)])
        walker.out.lines[()] = node.start_mark.line + 1
        walker.out.data = walker.value(node, ())
    except yaml.reader.ReaderError as exc:
        return Parsed(problems=[_reader_problem(exc, text, source)])
    except _TooLarge as exc:
        return Parsed(problems=[InputError(source, None, str(exc), 1)])
    except yaml.YAMLError as exc:
        return Parsed(problems=[_yaml_problem(exc, source)])
    except RecursionError:
        return Parsed(problems=[InputError(source, None, "the YAML is nested too deeply", 1)])
    finally:
        loader.dispose()
    return walker.out
