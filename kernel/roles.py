"""The dashboard's account roles, in order of what they may do: the CLI stores them and the
web layer checks them, so the names live here, below both."""

from __future__ import annotations

from typing import Literal, get_args

from kernel.errors import UserError

Role = Literal["viewer", "analyst", "admin"]
# Lowest first: a role may do everything the roles before it may.
ROLES: tuple[Role, ...] = get_args(Role)


def parse_role(text: str) -> Role:
    """`text` as a role, or a one-line UserError naming the choices."""
    for role in ROLES:
        if text == role:
            return role
    raise UserError(f"--role: expected one of {', '.join(ROLES)}, got {text!r}")


def allows(role: Role, needed: Role) -> bool:
    """Whether an account of `role` may do what needs `needed` (viewer < analyst < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)
