"""`meiyu users`: the dashboard's accounts and their API tokens. There is no default account.

Passwords come from stdin when it is not a terminal (its first line), else from a hidden
prompt asked twice; they and their hashes are never printed or logged. A plain API token is
printed once, when it is made, and only its sha256 is stored.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kernel.errors import UserError
from meiyu.cli import _common
from meiyu.cli._common import _local, _sessions, _show, state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.users import UserRow

users_app = typer.Typer(no_args_is_help=True, help="Dashboard accounts and API tokens.")

NameArg = Annotated[str, typer.Argument(help="Account name.", show_default=False)]


def _read_password(prompt: str) -> str:
    """The new password, checked against the rules (web.accounts.check_password_rules)."""
    from web.accounts import check_password_rules

    if sys.stdin.isatty():
        password: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    else:
        line = sys.stdin.readline()
        if not line:
            raise UserError(
                "password: stdin is empty (give the password as its first line, "
                "or run on a terminal to be asked)"
            )
        password = line.removesuffix("\n").removesuffix("\r")
    check_password_rules(password)
    return password


def _account(s: Session, name: str) -> UserRow:
    """The account called `name`, or the one-line error every command gives for a wrong name."""
    from storage.users import user_by_name

    user = user_by_name(s, name)
    if user is None:
        raise UserError(f"{name}: no such account (meiyu users list)")
    return user


@users_app.command("add")
def users_add(
    name: NameArg,
    role: Annotated[
        str, typer.Option("--role", "-r", help="viewer, analyst or admin.", show_default=False)
    ],
) -> None:
    """Add an account; its password from stdin (first line) or a prompt, 12 characters or more."""
    from sqlalchemy.exc import IntegrityError

    from kernel.roles import parse_role
    from storage.db import transaction
    from storage.users import add_user, name_in_use
    from web.accounts import check_name, hash_password

    wanted = parse_role(role)
    check_name(name)
    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        taken = name_in_use(s, name)
    if taken is not None:  # asked before the password, so nobody types one for nothing
        raise UserError(f"{name}: an account named {taken!r} exists")
    password_hash = hash_password(_read_password(f"password for {name}"))
    try:
        with transaction(sessions) as s:
            add_user(s, name, wanted, password_hash)
    except IntegrityError:  # added by someone else since the check above
        raise UserError(f"{name}: an account of that name exists") from None
    _common.out.print(f"account {name} added ({wanted})", markup=False, highlight=False)


@users_app.command("list")
def users_list() -> None:
    """The accounts, their roles and how many API tokens each has (never a password)."""
    from storage.users import active_token_counts, list_users

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        users, tokens = list_users(s), active_token_counts(s)
    if not users:
        _common.out.print("no accounts yet: meiyu users add NAME --role viewer|analyst|admin")
        return
    table = Table(title=f"accounts ({cfg.schedule.timezone})")
    table.add_column("name")
    table.add_column("role", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("password set", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)  # active ones
    for u in users:
        table.add_row(
            escape(u.name),  # a name is text: "[b]" is not markup
            u.role,
            _local(u.created_at, cfg),
            _local(u.password_changed_at, cfg),
            str(tokens.get(u.id, 0)),
        )
    _show(table)
    _common.out.print(f"{len(users)} account(s), {sum(tokens.values())} active API token(s)")


@users_app.command("passwd")
def users_passwd(name: NameArg) -> None:
    """Set a new password (stdin's first line or a prompt); logs the account out of the
    dashboard, its API tokens stay valid."""
    from storage.db import transaction
    from storage.users import change_password
    from web.accounts import hash_password

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        user = _account(s, name)
    password_hash = hash_password(_read_password(f"new password for {name}"))
    with transaction(sessions) as s:
        change_password(s, user.id, password_hash)
    _common.out.print(f"password of {name} changed", markup=False, highlight=False)


@users_app.command("remove")
def users_remove(name: NameArg) -> None:
    """Delete an account and its API tokens."""
    from storage.db import transaction
    from storage.users import remove_user

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with transaction(sessions) as s:
        user = _account(s, name)
        tokens = remove_user(s, user.id)
    _common.out.print(
        f"account {name} removed ({tokens} API token(s) deleted)", markup=False, highlight=False
    )


@users_app.command("token")
def users_token(name: NameArg) -> None:
    """Make an API token for scripts (`Authorization: Bearer …`): printed once, stored hashed."""
    from storage.db import transaction
    from storage.users import add_token
    from web.accounts import new_token

    cfg = state.config()
    _, sessions = _sessions(cfg)
    plain, digest = new_token()
    with transaction(sessions) as s:
        user = _account(s, name)
        token = add_token(s, user.id, digest)
    # The token alone on stdout, so TOKEN=$(meiyu users token NAME) takes it; the note on stderr.
    sys.stdout.write(plain + "\n")
    sys.stdout.flush()
    _common.err.print(
        f"API token {token.id} for {name} ({user.role}); it will not be shown again",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@users_app.command("tokens")
def users_tokens(name: NameArg) -> None:
    """An account's API tokens: id, created, last used, revoked (never the token)."""
    from storage.users import tokens_of

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        user = _account(s, name)
        tokens = tokens_of(s, user.id)
    if not tokens:
        _common.out.print(f"{name} has no API tokens (meiyu users token {name})", markup=False)
        return
    table = Table(title=f"API tokens of {escape(name)} ({cfg.schedule.timezone})")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("last used", no_wrap=True)
    table.add_column("revoked", no_wrap=True)
    for t in tokens:
        table.add_row(
            str(t.id),
            _local(t.created_at, cfg),
            _local(t.last_used_at, cfg),
            _local(t.revoked_at, cfg),
        )
    _show(table)
    active = sum(not t.revoked for t in tokens)
    _common.out.print(f"{len(tokens)} token(s), {active} active")


@users_app.command("revoke")
def users_revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (meiyu users tokens NAME).")],
) -> None:
    """Revoke an API token: requests that send it are refused from now on."""
    from storage.db import transaction
    from storage.users import revoke_token, token_by_id

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with transaction(sessions) as s:
        found = token_by_id(s, token_id)
        if found is None:
            raise UserError(f"token {token_id}: no such API token (meiyu users tokens NAME)")
        before, user = found
        after = revoke_token(s, token_id)
    assert after is not None and after.revoked_at is not None
    if before.revoked:
        what = f"was already revoked on {_local(after.revoked_at, cfg)}"
    else:
        what = "revoked"
    _common.out.print(f"API token {token_id} of {user.name} {what}", markup=False, highlight=False)
