"""Tests for stub detection and syntax problems (tree-sitter, real grammars)."""

from __future__ import annotations

import time

import pytest

from orchestration.code.stubs import find_stub, syntax_errors
from orchestration.types.requests import SourceDocument

PYTHON = '''\
import abc


def ready(a, b):
    return a + b


class Shapes:
    @staticmethod
    @cache(size=2)
    def area(width: float, height: float = 1.0) -> float:
        """Area of a rectangle."""
        raise NotImplementedError("later")

    async def fetch(self, url, *args, timeout=3, **options):
        ...

    def outer(self):
        def inner(value):
            pass

        return inner

    @abc.abstractmethod
    def must_override(self):
        raise NotImplementedError

    def documented_only(self):
        """Nothing else."""


def plain(x, /, y, *, z):
    raise NotImplementedError
'''


def python_doc(text: str = PYTHON, path: str = "shapes.py") -> SourceDocument:
    return SourceDocument(path=path, text=text)


def test_python_raise_with_docstring_and_decorators() -> None:
    stub = find_stub(python_doc(), 13)
    assert stub is not None
    assert (stub.name, stub.params) == ("area", ["width", "height"])
    assert (stub.start_line, stub.end_line, stub.language) == (11, 13, "python")


@pytest.mark.parametrize("line", [9, 10, 11, 12])
def test_python_decorator_and_signature_lines_find_the_stub_which_starts_at_def(line: int) -> None:
    stub = find_stub(python_doc(), line)
    assert stub is not None and stub.name == "area" and stub.start_line == 11


def test_python_async_method_with_ellipsis_keeps_self_and_splats() -> None:
    stub = find_stub(python_doc(), 16)
    assert stub is not None
    assert stub.name == "fetch"
    assert stub.params == ["self", "url", "*args", "timeout", "**options"]
    assert (stub.start_line, stub.end_line) == (15, 16)


def test_nested_function_is_the_innermost_stub() -> None:
    stub = find_stub(python_doc(), 20)
    assert stub is not None and stub.name == "inner" and stub.params == ["value"]
    assert (stub.start_line, stub.end_line) == (19, 20)


def test_enclosing_non_stub_function_gives_none() -> None:
    assert find_stub(python_doc(), 22) is None
    assert find_stub(python_doc(), 18) is None


def test_top_level_bare_raise_and_separators_are_skipped() -> None:
    stub = find_stub(python_doc(), 33)
    assert stub is not None and stub.name == "plain" and stub.params == ["x", "y", "z"]


@pytest.mark.parametrize("line", [4, 5, 24, 26, 28, 29])
def test_non_stubs_give_none(line: int) -> None:
    """A real body, an abstract method and a docstring-only function are not stubs."""
    assert find_stub(python_doc(), line) is None


@pytest.mark.parametrize("line", [1, 2, 7, 14, 30, 0, 999])
def test_lines_outside_any_function_give_none(line: int) -> None:
    assert find_stub(python_doc(), line) is None


def test_pyi_files_have_no_stubs() -> None:
    assert find_stub(python_doc("def f(x: int) -> int: ...\n", path="mod.pyi"), 1) is None
    assert find_stub(python_doc("def f(x: int) -> int: ...\n", path="mod.py"), 1) is not None


def test_find_stub_answers_for_the_lightbulb() -> None:
    assert find_stub(python_doc(), 13) is not None
    assert find_stub(python_doc(), 5) is None


TYPESCRIPT = """\
export function parse(text: string, strict?: boolean, ...rest: string[]): number {
  // TODO: implement parsing
}

class Store {
  @memo()
  load(key = "a", { force }: Options): Item {
    throw new Error("not implemented");
  }

  reset() {}

  save = async (item: Item) => {
    throw new Error(`later`);
  };
}

export const total = (items: Item[]): number => {
  // FIXME
};

const works = (a: number) => {
  return a * 2;
};
"""


def ts_doc(text: str = TYPESCRIPT, path: str = "store.ts") -> SourceDocument:
    return SourceDocument(path=path, text=text)


def test_typescript_exported_function_with_todo_comment() -> None:
    stub = find_stub(ts_doc(), 2)
    assert stub is not None
    assert (stub.name, stub.params) == ("parse", ["text", "strict", "...rest"])
    assert (stub.start_line, stub.end_line, stub.language) == (1, 3, "typescript")


def test_typescript_class_method_throwing_error_excludes_its_decorator() -> None:
    for line in (6, 7, 8, 9):
        stub = find_stub(ts_doc(), line)
        assert stub is not None and stub.name == "load"
        assert stub.params == ["key", "{force}"]
        assert (stub.start_line, stub.end_line) == (7, 9)


def test_typescript_arrow_field_and_exported_const_arrow() -> None:
    field = find_stub(ts_doc(), 14)
    assert field is not None and (field.name, field.params, field.start_line, field.end_line) == (
        "save",
        ["item"],
        13,
        15,
    )
    total = find_stub(ts_doc(), 19)
    assert total is not None and (total.name, total.start_line, total.end_line) == ("total", 18, 20)


def test_typescript_empty_body_and_real_body_are_not_stubs() -> None:
    assert find_stub(ts_doc(), 11) is None
    assert find_stub(ts_doc(), 23) is None
    assert find_stub(ts_doc(), 4) is None


JAVASCRIPT = """\
const helpers = {
  double(x) {
    // TODO
  },
  half: (x) => x / 2,
};

const greet = function (name = "you") {
  throw new Error("TODO: greet");
};

class Counter {
  increment(step) {
    throw Error("nope");
  }
}

function multi(a, b) {
  // TODO later
  return a * b;
}
"""


def test_javascript_object_method_function_expression_and_class_method() -> None:
    document = SourceDocument(path="util.js", text=JAVASCRIPT)
    double = find_stub(document, 3)
    assert double is not None and (double.name, double.params, double.start_line, double.end_line) == (
        "double",
        ["x"],
        2,
        4,
    )
    greet = find_stub(document, 9)
    assert greet is not None and (greet.name, greet.params, greet.start_line, greet.end_line) == (
        "greet",
        ["name"],
        8,
        10,
    )
    increment = find_stub(document, 14)
    assert increment is not None and increment.name == "increment" and increment.language == "javascript"


def test_javascript_todo_comment_next_to_code_is_not_a_stub() -> None:
    document = SourceDocument(path="util.js", text=JAVASCRIPT)
    assert find_stub(document, 19) is None
    assert find_stub(document, 5) is None


def test_tsx_component_arrow_function() -> None:
    text = (
        "import React from 'react';\n"
        "\n"
        "export const Badge = ({ label }: Props) => {\n"
        "  throw new Error('render me');\n"
        "};\n"
        "\n"
        "export function Card(props: CardProps) {\n"
        '  return <div className="card">{props.title}</div>;\n'
        "}\n"
    )
    document = SourceDocument(path="Badge.tsx", text=text)
    assert document.language == "tsx"
    stub = find_stub(document, 4)
    assert stub is not None and (stub.name, stub.params, stub.start_line, stub.end_line) == (
        "Badge",
        ["{label}"],
        3,
        5,
    )
    assert find_stub(document, 8) is None


def test_unknown_language_has_no_stub() -> None:
    assert find_stub(SourceDocument(path="notes.txt", text="def f():\n    pass\n"), 1) is None


def syntax_messages(code: str, language: str) -> list[str]:
    return [message for _line, message in syntax_errors(code, language)]


def test_syntax_errors_report_error_and_missing_nodes() -> None:
    assert syntax_messages("def f(a):\n    return a\n", "python") == []
    python_problems = syntax_messages("def f(a):\n    return a +\n", "python")
    assert python_problems and python_problems[0].startswith("line 2: syntax error")
    ts_problems = syntax_messages("function f(a: number {\n  return a;\n}\n", "typescript")
    assert ts_problems and all(problem.startswith("line ") for problem in ts_problems)
    assert syntax_messages("whatever (", "no-such-language") == []


def test_find_stub_is_fast_on_a_large_file_and_after_a_small_edit() -> None:
    body = "".join(f"def helper_{i}(a, b):\n    total = a + b\n    return total\n\n" for i in range(500))
    text = body + "def todo(x):\n    pass\n"
    document = SourceDocument(path="big.py", text=text)
    started = time.perf_counter()
    stub = find_stub(document, 2002)
    first = time.perf_counter() - started
    assert stub is not None and stub.name == "todo" and stub.start_line == 2001
    started = time.perf_counter()
    for _ in range(20):
        assert find_stub(document, 2002) is not None
    cached = (time.perf_counter() - started) / 20
    edited = SourceDocument(path="big.py", text=text.replace("helper_250(a, b)", "helper_250(a, bb)"))
    started = time.perf_counter()
    assert find_stub(edited, 2002) is not None
    incremental = time.perf_counter() - started
    assert first < 0.5 and cached < 0.01 and incremental < 0.1, (first, cached, incremental)
