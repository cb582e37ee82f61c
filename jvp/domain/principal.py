"""Roles and the caller of an action."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    """admin: everything; operator: VM, volume, snapshot, keypair and task actions; viewer: reads."""
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, value: str) -> "Role":
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}: use admin, operator or viewer") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role."""
    name: str | None
    role: Role
