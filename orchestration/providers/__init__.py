"""Who answers: the model calls behind one `Provider` protocol.

Owns `chat` (litellm: the one provider layer for model APIs, imported lazily, its output kept off
stdout, every call under an anyio deadline), the embedded local model (`local_model`: the GGUF shipped
in PyPI wheels, `local_runtime`: the llama.cpp server in a child process, `local_panel`: the panel
used when no key is configured). May import: `orchestration.types`, `orchestration.privacy`,
`orchestration.offload`, litellm, xllamacpp.
"""
