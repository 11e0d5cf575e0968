"""Find stub functions (placeholder bodies) and syntax errors with tree-sitter.

A *stub* is a named function whose body is only a placeholder: `pass`, `...`,
`raise NotImplementedError[(...)]` (optionally after a docstring) in Python; `throw
new Error(...)` or nothing but a TODO/FIXME comment in JavaScript, TypeScript and TSX.
An empty `{}` without such a comment is *not* a stub (no-op callbacks are usually
intentional); neither are `@overload`/`@abstractmethod` functions or anything in `.pyi`.

A stub's lines run from the start of its replaceable text to its last line: the `def`
in Python (decorators excluded: they stay in place); in JS/TS the whole declaration a
model would rewrite (`export function f`, `const f = (...) => {...};`, a class method
without its decorators, a field). Lines are 1-based, counted on `\\n` like tree-sitter.
Parsers and the last few trees are cached, so a lightbulb query costs a few milliseconds.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, cast

from tree_sitter import Node, Parser, Point, Tree
from tree_sitter_language_pack import get_parser

from orchestration.types.requests import SourceDocument
from orchestration.types.results import StubLocation

STUB_LANGUAGES = frozenset({"python", "javascript", "typescript", "tsx"})
"""Languages whose functions `find_stub` understands."""

PYTHON_FUNCTIONS = frozenset({"function_definition"})
JS_DECLARATIONS = frozenset({"function_declaration", "generator_function_declaration", "method_definition"})
JS_EXPRESSIONS = frozenset({"function_expression", "function", "arrow_function", "generator_function"})
JS_FUNCTIONS = JS_DECLARATIONS | JS_EXPRESSIONS

TODO_COMMENT = re.compile(r"\b(TODO|FIXME|XXX)\b|not (yet )?implemented|implement me", re.IGNORECASE)
NEVER_STUB_DECORATORS = frozenset({"overload", "abstractmethod"})
MAX_SYNTAX_PROBLEMS = 20


@functools.cache
def parser_for(language: str) -> Parser | None:
    """The cached tree-sitter parser for a language, or None when the language pack lacks it."""
    try:
        return cast(Parser, cast(Any, get_parser)(language))
    except LookupError:
        return None


def _common_length(old: bytes, new: bytes, limit: int, *, from_end: bool = False) -> int:
    """Length of the common prefix (or suffix), by binary search over C-speed slice comparisons."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        same = (
            old[len(old) - middle :] == new[len(new) - middle :] if from_end else old[:middle] == new[:middle]
        )
        low, high = (middle, high) if same else (low, middle - 1)
    return low


def _point(source: bytes, offset: int) -> Point:
    row = source.count(b"\n", 0, offset)
    return Point(row, offset - (source.rfind(b"\n", 0, offset) + 1))


_TREES: OrderedDict[tuple[str, str], tuple[bytes, Tree]] = OrderedDict()
_TREE_CACHE_SIZE = 8


def _edited_copy(old: bytes, tree: Tree, source: bytes) -> Tree | None:
    """A copy of `tree` with the one edit that turns `old` into `source`; None if most text changed."""
    prefix = _common_length(old, source, min(len(old), len(source)))
    suffix = _common_length(old, source, min(len(old), len(source)) - prefix, from_end=True)
    if 2 * (prefix + suffix) < len(source):
        return None
    edited = tree.copy()
    edited.edit(
        start_byte=prefix,
        old_end_byte=len(old) - suffix,
        new_end_byte=len(source) - suffix,
        start_point=_point(old, prefix),
        old_end_point=_point(old, len(old) - suffix),
        new_end_point=_point(source, len(source) - suffix),
    )
    return edited


def parse_source(text: str, language: str) -> Tree | None:
    """Parse `text` (None for a language the pack lacks); cached, and incremental after a small edit."""
    key = (language, text)
    if key in _TREES:
        _TREES.move_to_end(key)
        return _TREES[key][1]
    parser = parser_for(language)
    if parser is None:
        return None
    source = text.encode("utf-8")
    latest = next((entry for (lang, _), entry in reversed(_TREES.items()) if lang == language), None)
    base = None if latest is None else _edited_copy(*latest, source)
    tree = parser.parse(source) if base is None else parser.parse(source, base)
    _TREES[key] = (source, tree)
    if len(_TREES) > _TREE_CACHE_SIZE:
        _TREES.popitem(last=False)
    return tree


@dataclass(frozen=True, slots=True)
class FunctionSpan:
    """A named function found in a tree: what it is called, its parameters and where it lies."""

    name: str
    params: tuple[str, ...]
    node: Node
    outer: Node
    decorators: tuple[str, ...]
    is_stub: bool

    def location(self, language: str) -> StubLocation:
        """This function as a `StubLocation`."""
        return StubLocation(
            name=self.name,
            params=list(self.params),
            start_line=self.outer.start_point.row + 1,
            end_line=self.outer.end_point.row + 1,
            language=language,
        )


def _text(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", "replace")


def _named_children(node: Node) -> list[Node]:
    return [child for child in node.named_children if child.type != "comment"]


def _unwrap_expression(node: Node) -> Node:
    """`expression_statement` with one expression → that expression."""
    children = _named_children(node)
    return children[0] if node.type == "expression_statement" and len(children) == 1 else node


def _python_param(node: Node) -> str | None:
    if node.type in ("keyword_separator", "positional_separator", "comment"):
        return None
    if node.type in ("default_parameter", "typed_default_parameter"):
        return _python_param(node.child_by_field_name("name") or node.named_children[0])
    if node.type == "typed_parameter":
        return _python_param(node.named_children[0])
    if node.type == "list_splat_pattern":
        return "*" + _text(node.named_children[0]) if node.named_children else "*"
    if node.type == "dictionary_splat_pattern":
        return "**" + _text(node.named_children[0])
    return "".join(_text(node).split())


def _js_param(node: Node) -> str | None:
    if node.type == "comment":
        return None
    if node.type in ("required_parameter", "optional_parameter"):
        pattern = node.child_by_field_name("pattern")
        return _js_param(pattern) if pattern is not None else _text(node)
    if node.type == "assignment_pattern":
        return _js_param(node.child_by_field_name("left") or node.named_children[0])
    if node.type == "rest_pattern":
        return "..." + _text(node.named_children[0])
    return "".join(_text(node).split())


def function_params(function: Node) -> tuple[str, ...]:
    """Parameter names in order, without annotations or defaults (`self`, `*args`, `...rest` kept)."""
    single = function.child_by_field_name("parameter")
    if single is not None:
        return (_text(single),)
    parameters = function.child_by_field_name("parameters")
    if parameters is None:
        return ()
    describe = _python_param if function.type in PYTHON_FUNCTIONS else _js_param
    names = (describe(child) for child in parameters.named_children)
    return tuple(name for name in names if name)


def _name_and_outer(function: Node) -> tuple[str, Node]:
    """The function's name ("" when anonymous) and the node a candidate replaces."""
    parent = function.parent
    if function.type in PYTHON_FUNCTIONS or function.type in JS_DECLARATIONS:
        name = _text(function.child_by_field_name("name"))
        outer = parent if parent is not None and parent.type == "export_statement" else function
        return name, outer
    if parent is None:
        return "", function
    if parent.type == "variable_declarator" and parent.child_by_field_name("value") == function:
        name, outer = _text(parent.child_by_field_name("name")), parent
        declaration = parent.parent
        if declaration is not None and len(declaration.named_children) == 1:
            outer = declaration
            if declaration.parent is not None and declaration.parent.type == "export_statement":
                outer = declaration.parent
        return name, outer
    if parent.type in ("public_field_definition", "field_definition"):
        key = parent.child_by_field_name("name") or parent.child_by_field_name("property")
        return _text(key), parent
    if parent.type == "pair":
        return _text(parent.child_by_field_name("key")), parent
    if parent.type == "assignment_expression" and parent.child_by_field_name("right") == function:
        statement = parent.parent
        outer = statement if statement is not None and statement.type == "expression_statement" else parent
        return _text(parent.child_by_field_name("left")), outer
    if parent.type == "export_statement":
        return "default", parent
    return "", function


def _decorators(function: Node, outer: Node) -> tuple[str, ...]:
    """Decorator texts kept above the replaced lines (Python decorated_definition, TS class members)."""
    parent = function.parent
    if parent is not None and parent.type == "decorated_definition":
        return tuple(_text(child) for child in parent.named_children if child.type == "decorator")
    found: list[str] = []
    sibling = outer.prev_named_sibling
    while sibling is not None and sibling.type == "decorator":
        found.insert(0, _text(sibling))
        sibling = sibling.prev_named_sibling
    return tuple(found)


def _is_python_placeholder(statement: Node) -> bool:
    statement = _unwrap_expression(statement)
    if statement.type in ("pass_statement", "ellipsis"):
        return True
    if statement.type != "raise_statement" or not statement.named_children:
        return False
    raised = statement.named_children[0]
    if raised.type == "call":
        raised = raised.child_by_field_name("function") or raised
    return _text(raised).rsplit(".", 1)[-1] == "NotImplementedError"


def _is_js_placeholder_throw(statement: Node) -> bool:
    if statement.type != "throw_statement" or not statement.named_children:
        return False
    thrown = statement.named_children[0]
    field = {"new_expression": "constructor", "call_expression": "function"}.get(thrown.type)
    constructor = _text(thrown.child_by_field_name(field)) if field else ""
    return constructor == "Error" or "NotImplemented" in constructor


def body_is_placeholder(function: Node) -> bool:
    """True when the function's body is only a placeholder (see the module docstring)."""
    body = function.child_by_field_name("body")
    if body is None:
        return False
    if function.type in PYTHON_FUNCTIONS:
        statements = _named_children(body)
        if statements and _unwrap_expression(statements[0]).type in ("string", "concatenated_string"):
            statements = statements[1:]
        return bool(statements) and all(_is_python_placeholder(statement) for statement in statements)
    if body.type != "statement_block":
        return False
    statements = [child for child in _named_children(body) if child.type != "empty_statement"]
    if statements:
        return all(_is_js_placeholder_throw(statement) for statement in statements)
    return any(TODO_COMMENT.search(_text(child)) for child in body.named_children if child.type == "comment")


def describe_function(function: Node) -> FunctionSpan | None:
    """The `FunctionSpan` of a function node, or None when it is anonymous."""
    name, outer = _name_and_outer(function)
    if not name:
        return None
    decorators = _decorators(function, outer)
    bare_names = {item.lstrip("@").split("(", 1)[0].strip().rsplit(".", 1)[-1] for item in decorators}
    is_stub = body_is_placeholder(function) and not bare_names & NEVER_STUB_DECORATORS
    return FunctionSpan(name, function_params(function), function, outer, decorators, is_stub)


def _function_wrapped_by(node: Node | None) -> Node | None:
    """The function node that `node` is, or that it wraps (a declaration, export, decorator, field...)."""
    if node is None:
        return None
    if node.is_named and (node.type in PYTHON_FUNCTIONS or node.type in JS_FUNCTIONS):
        return node
    if node.type == "decorated_definition":
        return node.child_by_field_name("definition")
    if node.type == "decorator":
        following = node.next_named_sibling
        while following is not None and following.type == "decorator":
            following = following.next_named_sibling
        return None if following is None or node.parent is None else _function_wrapped_by(following)
    if node.type == "export_statement":
        return _function_wrapped_by(
            node.child_by_field_name("declaration") or node.child_by_field_name("value")
        )
    if node.type in ("lexical_declaration", "variable_declaration"):
        declarators = node.named_children
        return _function_wrapped_by(declarators[0]) if len(declarators) == 1 else None
    if node.type == "expression_statement":
        return _function_wrapped_by(node.named_children[0]) if node.named_children else None
    value_fields = {"variable_declarator", "public_field_definition", "field_definition", "pair"}
    if node.type not in value_fields and node.type != "assignment_expression":
        return None
    value = node.child_by_field_name("value" if node.type in value_fields else "right")
    return value if value is not None and value.type in JS_EXPRESSIONS else None


def innermost_function(tree: Tree, line: int, text: str) -> FunctionSpan | None:
    """The innermost named function whose lines (decorators included) contain `line`."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    row = line - 1
    content = lines[row]
    column = len(content[: len(content) - len(content.lstrip())].encode("utf-8"))
    node: Node | None = tree.root_node.descendant_for_point_range((row, column), (row, column))
    while node is not None:
        function = _function_wrapped_by(node)
        if function is not None:
            span = describe_function(function)
            if span is not None:
                return span
        node = node.parent
    return None


def find_stub(document: SourceDocument, line: int) -> StubLocation | None:
    """The stub function containing `line` (1-based), or None when the innermost function there is not one."""
    if document.language not in STUB_LANGUAGES or PurePath(document.path).suffix == ".pyi":
        return None
    tree = parse_source(document.text, document.language)
    if tree is None:
        return None
    span = innermost_function(tree, line, document.text)
    return span.location(document.language) if span is not None and span.is_stub else None


def functions_starting_in(text: str, language: str, first_line: int, last_line: int) -> list[FunctionSpan]:
    """Named functions whose replaceable text starts within the lines, outermost only, in order."""
    tree = parse_source(text, language)
    if tree is None:
        return []
    first_row, last_row = first_line - 1, last_line - 1
    found: list[FunctionSpan] = []

    def visit(node: Node) -> None:
        for child in node.children:
            if child.end_point.row < first_row or child.start_point.row > last_row:
                continue
            if child.type in PYTHON_FUNCTIONS or child.type in JS_FUNCTIONS:
                span = describe_function(child)
                if span is not None and first_row <= span.outer.start_point.row <= last_row:
                    found.append(span)
                    continue
            visit(child)

    visit(tree.root_node)
    return found


def _error_nodes(node: Node) -> Iterator[Node]:
    if node.is_error or node.is_missing:
        yield node
        return
    for child in node.children:
        if child.has_error or child.is_missing:
            yield from _error_nodes(child)


def syntax_errors(code: str, language: str) -> list[tuple[int, str]]:
    """`(line, message)` for each ERROR or MISSING node tree-sitter finds; [] for unknown languages."""
    tree = parse_source(code, language)
    if tree is None or not tree.root_node.has_error:
        return []
    errors: list[tuple[int, str]] = []
    for node in _error_nodes(tree.root_node):
        line = node.start_point.row + 1
        if node.is_missing:
            errors.append((line, f"line {line}: syntax error: missing '{node.type}'"))
        else:
            snippet = _text(node).strip().split("\n", 1)[0][:40]
            errors.append((line, f"line {line}: syntax error near '{snippet}'"))
        if len(errors) >= MAX_SYNTAX_PROBLEMS:
            break
    return errors
