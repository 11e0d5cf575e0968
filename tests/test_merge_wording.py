"""Same place, different words: the merge keeps distinct problems on one line apart (issue 13, item 7).

Agreement counts are the product's main signal, so three unrelated findings that three seats put on
one line under one category must stay three 1/3 findings, while three wordings of one problem must
become one 3/3 finding. The first sets were written with the clustering rules; the held-out sets
(`UNRELATED_HELD_OUT`, `PARAPHRASES_HELD_OUT`) were written apart from them, as models word things.
"""

from __future__ import annotations

import pytest

from orchestration.merge.consensus import merge_findings
from orchestration.types.findings import Category, Finding, MergedFinding


def on_line_3(message: str, category: Category) -> Finding:
    """One seat's finding on line 3."""
    return Finding(start_line=3, end_line=3, category=category, message=message)


def one_line_panel(messages: list[str], category: Category = Category.BUG) -> list[MergedFinding]:
    """Each message from its own seat, all on line 3 in one category."""
    seats = [f"seat{index}" for index in range(len(messages))]
    findings = {seat: [on_line_3(message, category)] for seat, message in zip(seats, messages, strict=True)}
    return merge_findings(findings, answered=seats)


UNRELATED_ON_ONE_LINE = [
    [
        "ZeroDivisionError when deposits is empty",
        "Return type annotation missing on total",
        "Variable x shadows a global",
    ],
    [
        "Mutable default argument items=[] is shared between calls",
        "Bare except swallows KeyboardInterrupt",
        "Loop never terminates when n is negative",
    ],
    [
        "total is computed but never used",
        "Comparison with == None should use is",
        "deposits is modified while iterating",
    ],
    [
        "Password is hard-coded in the source",
        "The request has no timeout",
        "Integer overflow when count exceeds 2**31",
    ],
]


@pytest.mark.parametrize("messages", UNRELATED_ON_ONE_LINE)
def test_unrelated_problems_on_one_line_in_one_category_stay_apart(messages: list[str]) -> None:
    merged = one_line_panel(messages)
    assert sorted((item.votes, item.panel) for item in merged) == [(1, 3)] * 3
    assert sorted(item.message for item in merged) == sorted(messages)


PARAPHRASES = [
    [  # The VS Code end-to-end test's panel (clients/vscode/test/e2e/harness.ts): one 3/3 finding.
        "Off-by-one: the mean gets 1 added",
        "average() adds 1 to the mean",
        "The result is the mean plus one, which is wrong",
    ],
    [
        "SQL injection: owner is interpolated into the query",
        "The query is built with string formatting from user input, allowing SQL injection",
        "Unsanitized owner concatenated into SQL",
    ],
    [
        "deposits may be empty: ZeroDivisionError",
        "Division by zero if deposits is an empty list",
        "average() divides by len(deposits), which can be 0",
    ],
    [
        "File handle is never closed",
        "open() without a with statement leaks the file descriptor",
        "Resource leak: f is not closed on error",
    ],
    [
        "user may be None here",
        "Possible AttributeError when user is None",
        "Missing None check before user.name",
    ],
    [
        "Race condition: counter is incremented without a lock",
        "counter += 1 is not atomic across threads",
        "Unsynchronized access to counter from several threads",
    ],
]


@pytest.mark.parametrize("messages", PARAPHRASES)
def test_paraphrases_of_one_problem_still_merge(messages: list[str]) -> None:
    merged = one_line_panel(messages)
    assert [(item.votes, item.panel) for item in merged] == [(3, 3)]


def test_distinct_problems_and_a_paraphrase_on_one_line_are_counted_right() -> None:
    seats = ["claude", "gemini", "codex"]
    merged = merge_findings(
        {
            "claude": [
                on_line_3("ZeroDivisionError when deposits is empty", Category.BUG),
                on_line_3("Return type annotation missing on total", Category.BUG),
            ],
            "gemini": [on_line_3("Division by zero if deposits is an empty list", Category.BUG)],
            "codex": [on_line_3("Variable x shadows a global", Category.BUG)],
        },
        answered=seats,
    )
    by_message = {item.message: (item.votes, item.models) for item in merged}
    assert by_message == {
        "ZeroDivisionError when deposits is empty": (2, ["claude", "gemini"]),
        "Return type annotation missing on total": (1, ["claude"]),
        "Variable x shadows a global": (1, ["codex"]),
    }


def held_out(text: str) -> list[tuple[Category, list[str]]]:
    """Groups written "category: message" with each further message on a line "| message"."""
    groups: list[tuple[Category, list[str]]] = []
    for line in text.strip().splitlines():
        if line.lstrip().startswith("| "):
            groups[-1][1].append(line.lstrip()[2:])
        else:
            category, message = line.split(": ", 1)
            groups.append((Category(category), [message]))
    return groups


def three_seat_panel(messages: list[str], category: Category) -> list[MergedFinding]:
    """A panel of three seats; each message from its own seat, all on line 3 in `category`."""
    seats = ["seat0", "seat1", "seat2"]
    answering = seats[: len(messages)]  # A pair leaves the third seat answering with nothing.
    findings = {
        seat: [on_line_3(message, category)] for seat, message in zip(answering, messages, strict=True)
    }
    return merge_findings(findings, answered=seats)


UNRELATED_HELD_OUT = held_out("""
bug: Off-by-one: range(len(items) + 1) reads past the end of items
    | Logging uses an f-string; pass the arguments to logger.info instead
bug: Timezone-naive datetime compared with an aware one
    | Float compared with == may fail because of rounding
bug: Mutable default argument cache={} is shared between calls
    | Parameter list shadows the builtin list
maintainability: Missing return type annotation on load_config
    | Unused import os
bug: Broad except Exception hides the real error
    | Race condition: two threads may update balance at the same time
security: SQL injection: name is interpolated into the query
    | Cross-site scripting: name is rendered into the HTML without escaping
security: Hard-coded secret key in settings
    | Passwords are hashed with MD5, which is too weak
bug: user may be None when the lookup fails
    | File opened here is never closed
bug: Division by zero when total is 0
    | Coroutine compute_total() is never awaited
bug: Request to the payment API has no timeout
    | Response status code is not checked before calling response.json()
bug: Loop variable i shadows the outer i
    | List is modified while iterating over it
bug: Recursion has no base case for n == 0
    | KeyError when config has no 'port' key
bug: open() without encoding uses the platform default encoding
    | File handle is never closed
security: subprocess.run with shell=True allows command injection
    | tempfile.mktemp is insecure; use NamedTemporaryFile
bug: assert is used for input validation and is stripped with -O
    | Comparison uses 'is' with a string literal
maintainability: Unused variable result
    | Missing docstring on public function parse
bug: Integer division // truncates the average
    | Off-by-one: the last element is skipped
    | Bare except swallows the exception
bug: items may be None before len(items)
    | len(items) is recomputed on every iteration
    | items is mutated while iterating over items
bug: Off-by-one in the slice data[1:n] drops the first element
    | print() used instead of logging
bug: Timeout of 0 disables the retry loop
    | Comparing version strings lexicographically gives the wrong order
bug: Global counter modified inside the function without a global statement
    | Generator is exhausted after the first pass over rows
security: Password stored in plain text
    | JWT signature is not verified
maintainability: Missing type hints for the arguments
    | Function is too long and does too many things
security: os.system with user input allows command injection
    | Path traversal: filename can contain ../
bug: self.cache grows without bound (memory leak)
    | cache lookup is not thread-safe
bug: KeyError when 'id' is missing from the payload
    | int(payload['id']) raises ValueError for non-numeric ids
style: Variable name l is ambiguous
    | Line exceeds 120 characters
bug: Returns None on the error path but str otherwise
    | Nested loops make this O(n^2)
bug: Integer division truncates the percentage
    | Percentage can exceed 100 when retries are counted twice
bug: datetime.utcnow() is deprecated
    | Format string uses %M (minutes) where month %m was meant
bug: total is never reset between iterations
    | total can overflow a 32-bit int
bug: Use items.get('id') to avoid a crash
    | items is iterated twice, but it is a generator
bug: Returns early before the transaction is committed
    | Commit happens inside the loop, once per row
bug: Wrong operator: should be >= instead of >
    | Result of sorted() is discarded; use list.sort()
security: Session cookie is missing the Secure flag
    | Open redirect: next parameter is not validated
style: Use f-strings instead of % formatting
    | Import order does not follow isort
bug: amount is compared as a string, so '10' < '9'
    | amount may be negative and is not validated
maintainability: Duplicate code: same block appears in save()
    | Magic number 86400 should be a named constant
bug: The function returns None when rows is empty
    | rows is fetched again on every call to the property
bug: Variable name is misspelled: recieve
    | Method is called on the class instead of the instance
""")
"""Distinct problems that models report on one line under one category (each group apart)."""


@pytest.mark.parametrize(("category", "messages"), UNRELATED_HELD_OUT)
def test_held_out_unrelated_problems_on_one_line_stay_separate_findings(
    category: Category, messages: list[str]
) -> None:
    merged = three_seat_panel(messages, category)
    assert sorted((item.votes, item.panel, item.message) for item in merged) == sorted(
        (1, 3, message) for message in messages
    )


PARAPHRASES_HELD_OUT = held_out("""
bug: ZeroDivisionError when values is empty
    | Division by zero if the list is empty
    | The mean crashes on an empty list: len(values) is 0
bug: IndexError on items[i + 1] in the last iteration
    | Off-by-one: the loop reads one past the end
    | items[i + 1] reads past the end of the list when i is the last index
security: SQL injection
    | Query is built by string formatting with user_id; use parameters
    | f-string SQL with user-controlled user_id
bug: File never closed
    | Resource leak: the handle from open() leaks if read() raises
    | Use a with-statement so f is closed
bug: Mutable default argument
    | cache={} default is shared across calls
    | Default value [] for items is evaluated once and reused between calls
performance: Logging with an f-string
    | logger.debug(f'...') formats the message even when debug is disabled
    | Use lazy % formatting in logging calls instead of f-strings
bug: Naive datetime.now() compared with an aware timestamp
    | Comparing offset-naive and offset-aware datetimes raises TypeError
    | datetime.now() has no tzinfo; use datetime.now(timezone.utc)
bug: Float equality check
    | Comparing floats with == is unreliable; use math.isclose
    | total == 0.3 may be False because of floating point rounding
bug: Bare except
    | except: also catches SystemExit and KeyboardInterrupt
    | Catching every exception hides the real error; catch ValueError
security: Hard-coded secret
    | SECRET_KEY is written in the source; load it from the environment
    | Credentials should not be committed to the repository
security: Weak hash
    | MD5 is not suitable for hashing passwords
    | Use bcrypt or argon2 instead of hashlib.md5 for passwords
style: list shadows a builtin
    | Parameter named list hides the built-in type
    | Rename list: it overrides Python's list()
maintainability: Missing return type
    | parse_config has no return annotation
    | The function signature lacks a return type hint
maintainability: Unused import sys
    | sys is imported but never used
    | Remove the import of sys; nothing uses it
bug: Race condition on self.count
    | self.count += 1 is not thread-safe
    | Concurrent calls can lose updates to count; guard it with a lock
security: XSS: comment is rendered without escaping
    | Cross-site scripting via the unescaped comment
    | User comment inserted into HTML unescaped; use markupsafe.escape
bug: user can be None
    | NoneType has no attribute 'name' when get_user returns nothing
    | Check for None before accessing user.name
bug: Empty input list causes ZeroDivisionError in average
    | average() fails when scores is empty (division by zero)
    | Dividing by len(scores) fails when scores is empty
bug: Loop goes one index too far
    | range(1, len(a) + 1) makes a[i] raise IndexError
    | Off-by-one error in the loop bound
security: Command injection via shell=True
    | subprocess.run(cmd, shell=True) with user input lets an attacker run commands
    | Don't pass user-controlled strings to the shell
bug: Connection is never closed
    | conn leaks if an exception occurs before close()
    | Use contextlib.closing or a with block for the connection
bug: Default argument is a mutable list
    | opts=[] is shared between invocations
    | Mutable default value for opts
performance: Use lazy logging formatting
    | f-string inside log.info is evaluated eagerly
    | Pass parameters to the logger instead of formatting the string yourself
bug: Shared state updated without synchronization
    | Data race on self.items between worker threads
    | self.items.append from multiple threads needs a lock
bug: Comparing floats for exact equality
    | x == 0.1 can be false due to floating-point error
    | Use math.isclose for float comparison
bug: Exception is swallowed silently
    | except Exception: pass hides failures
    | Errors are caught and ignored without logging
security: Private key embedded in code
    | Hard-coded secret token in config.py
    | Move the secret token to an environment variable
security: SHA1 is too weak for password hashing
    | Weak hashing algorithm used for passwords
    | Use a slow KDF like bcrypt instead of sha1
style: Argument id shadows builtin id()
    | Parameter name id hides a built-in
    | Avoid naming a variable id; it overrides the builtin
bug: File f is never closed
    | Use a with statement when opening f
    | Wrap open(path) in a context manager
bug: Use items.get('id') to avoid a KeyError
    | items['id'] raises KeyError when id is absent
    | Missing key 'id' is not handled
performance: Use a set for membership tests on seen
    | 'x in seen' is O(n) because seen is a list
    | Linear search in the seen list inside the loop makes this quadratic
security: Use secrets instead of random for the token
    | random.choice is not cryptographically secure
    | The reset token is predictable
bug: sorted() result is discarded
    | sorted(items) returns a new list; the result is ignored
    | Call items.sort() or assign the result of sorted()
maintainability: Duplicate code in save() and update()
    | save() and update() repeat the same block
    | Extract the shared logic of save and update into a helper
""")
"""One problem as three models word it: short and long, with and without names, synonyms."""


@pytest.mark.parametrize(("category", "messages"), PARAPHRASES_HELD_OUT)
def test_held_out_paraphrases_of_one_problem_merge_into_one_finding(
    category: Category, messages: list[str]
) -> None:
    merged = three_seat_panel(messages, category)
    assert [(item.votes, item.panel) for item in merged] == [(3, 3)]
