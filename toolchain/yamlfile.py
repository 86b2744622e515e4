"""Reading a YAML data file that may be hostile, with line numbers kept.

Every data file of the project (targets, registries, tables) is read here so
that a bad one always ends in one ``file:LINE:COL: what is wrong`` line and
never in a traceback or a hang.  PyYAML alone falls short on untrusted text:
it accepts duplicate keys silently, recurses once per nesting level (5000
nested ``[`` is a RecursionError), and expands aliases without limit, so a
"billion laughs" file of a few hundred bytes becomes a value of billions of
nodes the moment anything walks it.  This loader therefore

- refuses a file larger than ``max_bytes`` before reading it,
- decodes strictly as UTF-8 and names the line of the first bad byte,
- stops composing at ``max_depth`` nested collections,
- counts the nodes the document would have once aliases are expanded and
  refuses it past ``max_nodes`` before constructing any value,
- refuses a key that appears twice in one mapping, at the second one.

The composed node tree is returned beside the plain data, so a caller can
point its own errors (a pydantic validation, say) at a line with
:func:`node_at` and :func:`where`, and describe a bad value from its node
with :func:`describe` instead of printing the (possibly huge) value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from toolchain.errors import ConfigError

MAX_BYTES = 1 << 20  # a hand-written data file is a few KB; 1 MB leaves room
MAX_DEPTH = 64
MAX_NODES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Strict(BaseModel):
    """The base of every hand-written data file's schema: an unknown key is
    an error (a typo is not silently ignored) and the values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its plain data and the node tree it came from."""

    path: Path
    label: str  # how messages name the file (relative to the project where it can be)
    data: Any
    node: yaml.Node

    def at(self, node: yaml.Node | None) -> str:
        """``label:LINE:COL`` of a node (the document's start when None)."""
        return f"{self.label}:{where(node or self.node)}"


def where(node: yaml.Node | yaml.Mark | None) -> str:
    """``LINE:COL`` (1-based) of a node or mark; ``1:1`` when unknown."""
    mark = node.start_mark if isinstance(node, yaml.Node) else node
    if mark is None:
        return "1:1"
    return f"{mark.line + 1}:{mark.column + 1}"


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


class _Problem(Exception):
    """Raised inside the loader; carries the mark it refers to."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with a depth limit, duplicate-key check and marked value errors."""

    max_depth = MAX_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                event = self.peek_event()
                raise _Problem(event.start_mark, f"nested deeper than {self.max_depth} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[str, yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                continue
            if key.value in seen:
                raise _Problem(
                    key.start_mark,
                    f"duplicate key {_short(key.value)!r} (first at line {seen[key.value].start_mark.line + 1})",
                )
            seen[key.value] = key
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError, IndexError, KeyError, AttributeError) as exc:
            # PyYAML's constructors raise these on odd scalars (a date like 2001-02-30, "!!int" alone)
            raise _Problem(node.start_mark, f"bad value {describe(node)}: {exc}") from None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(node: yaml.Node | None) -> str:
    """A short description of a node's value for messages: never its expansion."""
    if isinstance(node, yaml.ScalarNode):
        return repr(_short(node.value))
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "nothing"


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes the document has once every alias is expanded, counted up to ``limit``.

    Aliases make the node tree a DAG: the same node object appears wherever
    it is referenced.  Sizes are memoised per node, so this is linear in the
    composed tree, however far the aliases would expand.
    """
    memo: dict[int, int] = {}
    # Iterative post-order walk: the composed tree is already depth-limited,
    # but a walk of our own never recurses anyway.
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        if key in memo:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if done or not children:
            memo[key] = min(limit + 1, 1 + sum(memo[id(c)] for c in children))
            continue
        stack.append((current, True))
        stack += [(c, False) for c in children if id(c) not in memo]
    return memo[id(node)]


def _first_alias(node: yaml.Node) -> yaml.Node:
    """The first node (in file order) that is referenced more than once."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            return current
        seen.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack += reversed(current.value)
        elif isinstance(current, yaml.MappingNode):
            stack += reversed([n for pair in current.value for n in pair])
    return node


def read_text(path: Path, label: str, max_bytes: int = MAX_BYTES) -> str:
    """The file as text, after the size cap and a strict UTF-8 decode."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{label}: {size} bytes, larger than the {max_bytes} a data file may have")
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)  # the file may grow between stat and read
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{label}: larger than the {max_bytes} bytes a data file may have")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw[: exc.start].decode("utf-8", errors="replace")
        raise ConfigError(
            f"{label}:{_line_col(text, len(text))}: not UTF-8 text (byte 0x{raw[exc.start]:02X})"
        ) from None


def parse(
    text: str,
    path: Path,
    label: str | None = None,
    *,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Document:
    """Parse YAML text (one document) within the limits; ConfigError in one line."""
    label = label or str(path)
    try:
        loader = _BoundedLoader(text)  # the reader checks every character here
        loader.max_depth = max_depth
        try:
            node = loader.get_single_node()
            if node is None:
                return Document(path, label, None, yaml.ScalarNode("tag:yaml.org,2002:null", "", loader.get_mark()))
            size = expanded_size(node, max_nodes)
            if size > max_nodes:
                raise _Problem(
                    _first_alias(node).start_mark,
                    f"aliases expand to more than {max_nodes} values; write the values out",
                )
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except _Problem as exc:
        raise ConfigError(f"{label}:{where(exc.mark)}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "YAML syntax error"
        raise ConfigError(f"{label}:{where(mark)}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(
            f"{label}:{_line_col(text, exc.position)}: character U+{int(exc.character):04X} is not allowed in YAML"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}:1:1: YAML error: {_short(str(exc).splitlines()[0], 100)}") from None
    except RecursionError:  # belt and braces: the depth limit should stop it first
        raise ConfigError(f"{label}:1:1: nested too deeply") from None
    return Document(path, label, data, node)


def load(
    path: Path,
    label: str | None = None,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Document:
    """Read and parse a YAML file within the limits; ConfigError in one line."""
    label = label or str(path)
    return parse(read_text(path, label, max_bytes), path, label, max_depth=max_depth, max_nodes=max_nodes)


def load_mapping(path: Path, label: str | None = None, *, what: str = "this file", max_bytes: int = MAX_BYTES,
                 max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Document:
    """Like :func:`load`, but the top level must be a (non-empty) mapping."""
    doc = load(path, label, max_bytes=max_bytes, max_depth=max_depth, max_nodes=max_nodes)
    if doc.data is None:
        raise ConfigError(f"{doc.at(None)}: the file is empty; {what} must be a mapping of keys")
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.at(doc.node)}: {what} must be a mapping of keys, not {describe(doc.node)}")
    return doc


def node_at(node: yaml.Node, loc: tuple[Any, ...], key_node: bool = False) -> yaml.Node | None:
    """Follow a path of keys and list indexes (a pydantic ``loc``) through the node tree."""
    current: yaml.Node | None = node
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    current = k if (last and key_node) else v
                    break
            else:
                return None
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                return None
            current = current.value[part]
        else:
            return None
    return current


def nearest_node(doc: Document, loc: tuple[Any, ...], key_node: bool = False) -> yaml.Node:
    """The node ``loc`` names, or its deepest existing parent (for a missing field)."""
    for cut in range(len(loc), -1, -1):
        hit = node_at(doc.node, loc[:cut], key_node and cut == len(loc))
        if hit is not None:
            return hit
    return doc.node


def validation_lines(doc: Document, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    """One ``file:LINE:COL: field: message`` line per pydantic error.

    The bad value is described from its YAML node (``describe``), never by
    printing the validated input, which could be arbitrarily large.
    """
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = prefix + tuple(err["loc"])
        node = nearest_node(doc, loc, key_node=err["type"] == "extra_forbidden")
        dotted = ".".join(str(p) for p in loc) or "(top)"
        msg = err["msg"]
        exact = node_at(doc.node, loc)
        if err["type"] != "missing" and isinstance(exact, yaml.ScalarNode):
            msg += f" (got {describe(exact)})"
        lines.append(f"{doc.at(node)}: {dotted}: {msg}")
    return lines


def load_model(path: Path, model: type[BaseModel], label: str | None = None, *, max_bytes: int = MAX_BYTES,
               max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """Load a mapping file and validate it against a pydantic model, every error at once."""
    doc = load_mapping(path, label, max_bytes=max_bytes, max_depth=max_depth, max_nodes=max_nodes)
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_lines(doc, exc))) from None
