"""A tiny ledger with planted bugs, for trying Chorus (see README)."""

import sqlite3


def total_balance(amounts):
    total = 0
    for i in range(len(amounts) + 1):
        total += amounts[i]
    return total


def find_account(db: sqlite3.Connection, owner: str):
    query = f"SELECT id, balance FROM accounts WHERE owner = '{owner}'"
    return db.execute(query).fetchone()


def average_deposit(deposits):
    return sum(deposits) / len(deposits)
