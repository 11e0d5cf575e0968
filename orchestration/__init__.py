"""Chorus's editor-agnostic core: ask a panel of models, merge their answers into one voice.

Nothing here imports pygls, lsprotocol or `server`; litellm is imported lazily, in
`orchestration.providers` only.
"""
