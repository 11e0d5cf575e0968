"""Code the panel writes: stubs, candidates and the validation sandbox.

Owns `stubs` (finding a stub function with tree-sitter), `candidates` (splicing each seat's body into
the file, syntax checks, ranking) and `validation` (running `policy.validate_command` on a copy of
the workspace, in a scrubbed environment). May import: `orchestration.types`,
`orchestration.privacy`, tree-sitter-language-pack, the standard library.
"""
