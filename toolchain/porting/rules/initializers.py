"""Compound literals and designated initialisers (patches
``compound-literals`` and ``designated-initializers``).

C89 has neither.  A designated list becomes a positional one in the
struct's field order, gaps filled with ``0`` (``{0}`` for an aggregate
member, so brace elision cannot shift the following values).  That needs the
struct's definition, which must be in the same file (a header of the tree
is not read: documented limit).  An automatic object whose values are not
constant expressions cannot have a C89 aggregate initialiser at all; it is
zero-initialised with ``{0}`` and the designated members are assigned right
after the declaration, in the order they were written.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.source import Edit, Unit, nodes_of, walk

CONSTANT_NODES = {
    "number_literal", "string_literal", "string_content", "escape_sequence", "char_literal",
    "character", "concatenated_string", "true", "false", "null", "unary_expression",
    "binary_expression", "parenthesized_expression", "cast_expression", "type_descriptor",
    "primitive_type", "sized_type_specifier", "sizeof_expression", "type_identifier",
    "abstract_pointer_declarator", "initializer_list", "initializer_pair", "field_designator",
    "subscript_designator", "field_identifier",
}
MACRO_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
STATEMENTS = {"expression_statement", "return_statement", "if_statement", "while_statement",
              "do_statement", "for_statement", "switch_statement", "declaration"}


class Types:
    """The struct definitions and typedefs of one translation unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.tags: dict[str, Node] = {}
        self.typedefs: dict[str, Node] = {}
        self.enumerators: set[str] = set()
        # values of enumerators and of ``#define NAME 3``: array designators
        # (``[OPT_TEMP] = ...``) name their index this way more often than not
        self.values: dict[str, int] = {}
        for node in walk(unit.root):
            if node.type in ("struct_specifier", "union_specifier"):
                name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
                if name is not None and body is not None:
                    self.tags[unit.text(name)] = node
            elif node.type == "type_definition":
                base = node.child_by_field_name("type")
                for decl in node.children_by_field_name("declarator"):
                    if decl.type == "type_identifier" and base is not None:
                        self.typedefs[unit.text(decl)] = base
            elif node.type == "enumerator":
                name = node.child_by_field_name("name")
                if name is not None:
                    self.enumerators.add(unit.text(name))
            elif node.type == "enumerator_list":
                self._enum_values(node)
            elif node.type == "preproc_def":
                name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
                if name is not None and value is not None:
                    number = _literal_value(unit.text(value).strip())
                    if number is not None:
                        self.values[unit.text(name)] = number

    def _enum_values(self, body: Node) -> None:
        """Enumerator values, as the compiler counts them: the previous one
        plus one, or an explicit integer (or earlier enumerator); the count
        stops at the first value this cannot work out."""
        following: int | None = 0
        for item in body.named_children:
            if item.type != "enumerator":
                continue
            name, value = item.child_by_field_name("name"), item.child_by_field_name("value")
            if value is not None:
                text = self.unit.text(value).strip()
                following = _literal_value(text)
                if following is None:
                    following = self.values.get(text)
            if name is None or following is None:
                following = None
                continue
            self.values[self.unit.text(name)] = following
            following += 1

    def resolve(self, type_node: Node | None) -> Node | None:
        """The struct/union specifier *with a body* that ``type_node`` names."""
        for _ in range(16):
            if type_node is None:
                return None
            if type_node.type in ("struct_specifier", "union_specifier"):
                if type_node.child_by_field_name("body") is not None:
                    return type_node
                name = type_node.child_by_field_name("name")
                return self.tags.get(self.unit.text(name)) if name is not None else None
            if type_node.type == "type_identifier":
                type_node = self.typedefs.get(self.unit.text(type_node))
                continue
            return None
        return None

    def is_aggregate(self, type_node: Node | None) -> bool:
        return self.resolve(type_node) is not None

    def fields(self, spec: Node) -> list[tuple[str, bool]]:
        """(name, is aggregate) for each member, in declaration order."""
        return [(name, aggregate) for name, aggregate, _, _ in self.members(spec)]

    def members(self, spec: Node) -> list[tuple[str, bool, Node | None, bool]]:
        """(name, is aggregate, type node, is array) for each member, in order."""
        result = []
        body = spec.child_by_field_name("body")
        assert body is not None
        for field in body.named_children:
            if field.type != "field_declaration":
                continue
            base = field.child_by_field_name("type")
            for decl in field.children_by_field_name("declarator"):
                aggregate = decl.type == "array_declarator" or (
                    decl.type == "field_identifier" and self.is_aggregate(base))
                name: Node | None = decl
                while name is not None and name.type != "field_identifier":
                    name = name.child_by_field_name("declarator")
                if name is not None:
                    result.append((self.unit.text(name), aggregate, base, decl.type == "array_declarator"))
        return result


def _is_constant(unit: Unit, types: Types, value: Node) -> bool:
    """A conservative test for 'constant expression' (C89 needs one here)."""
    for node in walk(value):
        if not node.is_named:
            continue
        if node.type == "identifier":
            name = unit.text(node)
            if name not in types.enumerators and not MACRO_LIKE.match(name):
                return False
        elif node.type not in CONSTANT_NODES:
            return False
    return True


def _literal_value(text: str) -> int | None:
    """The value of an integer literal (``12``, ``0x1F``, ``-3``, ``4u``), else None."""
    body = text.rstrip("uUlL")
    negative = body.startswith("-")
    body = body.lstrip("-+").strip()
    if not body or not body[0].isdigit():
        return None
    try:
        value = int(body, 16) if body[:2] in ("0x", "0X") else \
            int(body, 8) if body.startswith("0") and len(body) > 1 else int(body)
    except ValueError:
        return None
    return -value if negative else value


def _int_value(unit: Unit, types: Types, node: Node) -> int:
    text = unit.text(node).strip()
    value = _literal_value(text)
    if value is None:
        value = types.values.get(text)
    if value is None:
        raise unit.error(node, f"array designator [{text}] is neither an integer literal nor an "
                               "enumerator or #define of this file with a known value")
    return value


class Layout:
    """One initialiser list read against the object it initialises: which
    value goes to which member (or element) slot, in written order."""

    def __init__(self, unit: Unit, types: Types, init: Node, base: Node | None, is_array: bool) -> None:
        self.base = base
        self.names: list[str] | None = None
        self.members: list[tuple[str, bool, Node | None, bool]] = []
        if is_array:
            self.elem_aggregate = types.is_aggregate(base)
        else:
            spec = types.resolve(base)
            if spec is None:
                raise unit.error(init, f"the definition of '{unit.text(base) if base else '?'}' is not "
                                       "in this file: cannot order its designated initialiser")
            self.members = types.members(spec)
            self.names = [m[0] for m in self.members]
        self.slots: dict[int, Node] = {}
        self.order: list[int] = []
        cursor = 0
        for item in init.named_children:
            if item.type == "comment":
                continue
            if item.type == "initializer_pair":
                designators = item.children_by_field_name("designator")
                if len(designators) != 1:
                    raise unit.error(item, "nested designators (.a.b = / [i].x =) are not handled")
                d = designators[0]
                if d.type == "field_designator":
                    if self.names is None:
                        raise unit.error(d, "field designator in an array initialiser")
                    field = unit.text(d).lstrip(".").strip()
                    if field not in self.names:
                        raise unit.error(d, f"no member '{field}' in {unit.text(base) if base else '?'}")
                    cursor = self.names.index(field)
                else:
                    cursor = _int_value(unit, types, next(c for c in d.named_children))
                value = item.child_by_field_name("value")
            else:
                value = item
            assert value is not None
            self.slots[cursor] = value
            self.order.append(cursor)
            cursor += 1

    def slot_type(self, i: int) -> tuple[Node | None, bool, bool]:
        """(type node, is array, is aggregate) of slot ``i``."""
        if self.names is None:
            return self.base, False, self.elem_aggregate
        _, aggregate, base, is_array = self.members[i]
        return base, is_array, aggregate


def positional(unit: Unit, types: Types, init: Node, base: Node | None, is_array: bool) -> str:
    """The C89 (positional) text of a constant initialiser list, nested
    designated lists included: each inner list is read against its member's
    (or element's) own type."""
    layout = Layout(unit, types, init, base, is_array)
    if not layout.slots:
        return "{0}"
    texts = []
    for i in range(max(layout.slots) + 1):
        value = layout.slots.get(i)
        slot_base, slot_array, aggregate = layout.slot_type(i)
        if value is None:
            texts.append("{0}" if aggregate else "0")
        elif value.type == "initializer_list" and _designated_lists_in(value):
            if not aggregate:
                raise unit.error(value, "a designated list for a member that is not a struct or array")
            texts.append(positional(unit, types, value, slot_base, slot_array))
        else:
            texts.append(unit.text(value))
    return "{ " + ", ".join(texts) + " }"


@rule("designated-initializers")
def designated_initializers(unit: Unit) -> list[Edit]:
    types = Types(unit)
    edits: list[Edit] = []
    for init in nodes_of(unit.root, "initializer_list"):
        designated = any(c.type == "initializer_pair" for c in init.named_children)
        if not designated and not _non_constant_automatic(unit, types, init):
            continue
        holder = init.parent
        if holder is not None and holder.type in ("initializer_list", "initializer_pair"):
            continue  # rewritten with the outermost list, which knows its type
        if holder is None or holder.type != "init_declarator":
            raise unit.error(init, "designated initialiser nested in another initialiser or "
                                   "expression: not handled, name the inner object")
        decl = holder.parent
        target = holder.child_by_field_name("declarator")
        assert decl is not None and target is not None
        base = decl.child_by_field_name("type")
        is_array = target.type == "array_declarator"
        inner = target.child_by_field_name("declarator") if is_array else None
        if inner is not None and inner.type == "array_declarator":
            if _designated_lists_in(init):
                raise unit.error(init, "designated initialiser of a multi-dimensional array: not handled")
            continue
        why = ("designated initialisers are C99" if _designated_lists_in(init)
               else "C89 aggregate initialisers must be constant")
        storage = {unit.text(c) for c in decl.children if c.type == "storage_class_specifier"}
        file_scope = decl.parent is not None and decl.parent.type == "translation_unit"
        layout = Layout(unit, types, init, base, is_array)
        constant = file_scope or "static" in storage or all(
            _is_constant(unit, types, v) for v in layout.slots.values())
        if constant:
            edits.append(Edit(init.start_byte, init.end_byte,
                              positional(unit, types, init, base, is_array), why))
            continue
        if is_array and target.child_by_field_name("size") is None:
            raise unit.error(init, "array of unspecified size with a non-constant initialiser: "
                                   "give the size")
        if len(decl.children_by_field_name("declarator")) != 1:
            raise unit.error(decl, "non-constant designated initialiser in a declaration of several "
                                   "objects: not handled, declare them one by one")
        if any(c.type == "type_qualifier" and unit.text(c) == "const" for c in decl.children):
            raise unit.error(decl, "const object with a non-constant designated initialiser: "
                                   "C89 cannot express it; drop the const")
        nested = next((v for v in layout.slots.values() if v.type == "initializer_list"), None)
        if nested is not None:
            raise unit.error(nested, "a braced list inside a non-constant initialiser: not handled, "
                                     "assign that member on its own")
        name_node: Node | None = target
        while name_node is not None and name_node.type != "identifier":
            name_node = name_node.child_by_field_name("declarator")
        if name_node is None:
            raise unit.error(decl, "declarator without a name: not handled")
        obj = unit.text(name_node)
        sets = []
        for i in layout.order:
            lhs = f"{obj}[{i}]" if layout.names is None else f"{obj}.{layout.names[i]}"
            sets.append(f"{lhs} = {unit.text(layout.slots[i])};")
        edits.append(Edit(init.start_byte, init.end_byte, "{0}", why))
        edits.append(Edit(decl.end_byte, decl.end_byte, " " + " ".join(sets),
                          "C89 aggregate initialisers must be constant: members assigned instead"))
    return edits


def _non_constant_automatic(unit: Unit, types: Types, init: Node) -> bool:
    """An automatic object's positional initialiser with a non-constant value
    (C89 rejects it: "initializer element is not computable at load time")."""
    holder = init.parent
    if holder is None or holder.type != "init_declarator":
        return False
    decl = holder.parent
    if decl is None or decl.parent is None or decl.parent.type == "translation_unit":
        return False
    if any(c.type == "storage_class_specifier" and unit.text(c) in ("static", "extern") for c in decl.children):
        return False
    return not all(_is_constant(unit, types, v) for v in init.named_children if v.type != "comment")


def _designated_lists_in(node: Node) -> bool:
    return any(n.type == "initializer_pair" for n in walk(node))


@rule("compound-literals")
def compound_literals(unit: Unit) -> list[Edit]:
    edits: list[Edit] = []
    why = "compound literals are C99"
    taken = {int(m) for m in re.findall(rb"\brc_lit(\d+)\b", unit.source)}
    counter = max(taken, default=0)
    for lit in nodes_of(unit.root, "compound_literal_expression"):
        outer = lit.parent
        while outer is not None and outer.type != "compound_literal_expression":
            outer = outer.parent
        if outer is not None:
            raise unit.error(lit, "compound literal inside another compound literal: not handled")
        type_desc = lit.child_by_field_name("type")
        value = lit.child_by_field_name("value")
        assert type_desc is not None and value is not None
        if any(c.type.startswith("abstract_") for c in type_desc.named_children):
            raise unit.error(lit, f"compound literal of type ({unit.text(type_desc)}): only "
                                  "struct/scalar types are handled")
        holder = lit.parent
        declarator = holder.child_by_field_name("declarator") if holder is not None else None
        if holder is not None and holder.type == "init_declarator" and \
                declarator is not None and declarator.type == "identifier":
            edits.append(Edit(lit.start_byte, value.start_byte, "", why))
            continue
        stmt = lit.parent
        while stmt is not None and stmt.type not in STATEMENTS:
            stmt = stmt.parent
        if stmt is not None and stmt.type == "declaration":
            # ``V s = scale((V){3, 2}, k);``: the temporary is declared just
            # before, so the declared object keeps its scope.  Only in the
            # first declarator: a later one may read what an earlier one set.
            first = stmt.child_by_field_name("declarator")
            if stmt.parent is None or stmt.parent.type != "compound_statement" or first is None \
                    or not (first.start_byte <= lit.start_byte < first.end_byte):
                raise unit.error(lit, "compound literal in a declaration: only in the first "
                                      "object of a declaration inside a block is it handled")
            counter += 1
            temp = f"rc_lit{counter}"
            line_start = unit.source.rfind(b"\n", 0, stmt.start_byte) + 1
            indent = unit.source[line_start:stmt.start_byte].decode("latin-1")
            sep = "\n" + indent if not indent.strip() else " "  # its own line when the declaration has one
            edits.append(Edit(stmt.start_byte, stmt.start_byte,
                              f"{unit.text(type_desc)} {temp} = {unit.text(value)};{sep}", why))
            edits.append(Edit(lit.start_byte, lit.end_byte, temp, why))
            continue
        if stmt is None or stmt.type not in ("expression_statement", "return_statement", "if_statement"):
            kind = stmt.type.replace("_", " ") if stmt is not None else "file scope"
            raise unit.error(lit, f"compound literal in a {kind}: not handled")
        if stmt.type == "if_statement":
            cond = stmt.child_by_field_name("condition")
            if cond is None or not (cond.start_byte <= lit.start_byte < cond.end_byte):
                raise unit.error(lit, "compound literal in an if statement: not handled")
        counter += 1
        temp = f"rc_lit{counter}"
        edits.append(Edit(stmt.start_byte, stmt.start_byte,
                          f"{{ {unit.text(type_desc)} {temp} = {unit.text(value)}; ", why))
        edits.append(Edit(lit.start_byte, lit.end_byte, temp, why))
        edits.append(Edit(stmt.end_byte, stmt.end_byte, " }", ""))
    return edits
