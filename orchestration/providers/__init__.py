"""Who answers: the model calls behind one `Provider` protocol, chosen per seat.

Owns `base` (the `Provider` protocol, the `ChatCall` it answers and the `ProviderRegistry` that picks
a provider by model-id prefix, with room for more kinds of seat such as subprocess agents), `chat`
(`complete_chat`, the one door every model call passes: privacy gate, redaction, then the seat's
provider; the litellm provider and the embedded-model provider), `loading` (litellm imported lazily,
off the loop, its output kept off stdout), `failures` (short, scrubbed errors and retry waits),
`endpoints` (each seat's and endpoint's circuit: recent outcomes, benching, the half-open probe,
and least-in-flight balancing over a seat's several endpoints) and the
embedded local model (`local_model`: the GGUF shipped in PyPI wheels, `local_runtime`: the llama.cpp
server in a child process, `local_panel`: the panel used when no key is configured). May import:
`orchestration.types`, `orchestration.privacy`, `orchestration.offload`, litellm (in `loading` only),
xllamacpp (in the child process only), platformdirs.
"""
