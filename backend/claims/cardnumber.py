"""Learning account numbers (学习号): 12 digits, "36" (Jiangxi) + 9 random
digits + a Luhn check digit. Random, so the number reveals nothing about
the holder's ID number; uniqueness is a database constraint, and the
issuer draws again on the rare collision."""

from __future__ import annotations

import secrets

PREFIX = "36"
LENGTH = 12


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    body = PREFIX + f"{secrets.randbelow(10**9):09d}"
    return body + luhn_digit(body)


def is_valid_card_number(value: str) -> bool:
    return (
        len(value) == LENGTH
        and value.isascii()
        and value.isdigit()
        and value.startswith(PREFIX)
        and luhn_digit(value[:-1]) == value[-1]
    )
