"""What flows through the core: config, requests, results, findings and errors.

Owns the pydantic models every other package passes around (`config`, `requests`, `results`,
`findings`), the error hierarchy (`errors`), the JSON Schema generated from the config
(`settings_schema`) and the facts several packages share, each defined once: the `local/` model-id
prefix and the fallback prompt budget (`config`), the chat `Message` shape and the plain-text
language (`requests`), how a seat's call failed (`errors.FailureKind`), how lines are named in
messages (`findings.line_span`). May import: pydantic, the standard library,
`orchestration.privacy.trust` (which imports nothing of Chorus) and `orchestration.memory.settings`
(pydantic only).
"""
