"""One voice out of many: clustering, consensus and fix ranking.

Owns `wording` (messages normalized for comparison, the problem kinds they name),
`clustering` (which findings from different seats describe one problem: lines, meaning,
problem kind), `consensus` (merged findings with k/n votes, weights and the best fix),
and `fixes` (the seats' fixes grouped and ranked).
May import: `orchestration.types`, pydantic, rapidfuzz, the standard library.
"""
