"""One voice out of many: clustering, consensus and fix ranking.

Owns `clustering` (which findings from different seats describe one problem: lines, meaning,
problem kind) and `consensus` (merged findings with k/n votes, weights and the best fix; ranked fixes).
May import: `orchestration.types`, rapidfuzz, the standard library.
"""
