"""What the seats are asked and how their answers are read.

Owns `prompts` (messages and JSON schemas per task, numbered excerpts), `json_answers` (JSON out of
fences, prose and broken output, with size and depth limits) and `parsing` (answers into typed
findings, implementations and explanations; never raises anything but `UnusableAnswer`). May import:
`orchestration.types`, json-repair, the standard library.
"""
