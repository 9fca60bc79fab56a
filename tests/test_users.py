"""Dashboard accounts (`meiyu users`) on a real database, SQLite and PostgreSQL: what is stored
is an argon2id hash and a token's sha256, never a password or a token, in no table and on no
output; bad input is one line, exit 2, and changes nothing. Plus web.accounts' rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from kernel.errors import UserError
from kernel.roles import ROLES, parse_role
from storage import users
from storage.db import make_engine, session_factory, transaction
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Base
from tests.conftest import REPO, write_config
from tests.helpers_cli import meiyu_in_process
from web.accounts import (
    allows,
    bearer_token,
    check_name,
    check_password_rules,
    hash_password,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
)

PASSWORD = "seafood-weihai-2023"
NEW_PASSWORD = "liugong island 海洋文化"


@dataclass
class Db:
    """The test's database: the config for `meiyu`, sessions for looking at what it stored."""

    config: Path
    engine: Engine
    sessions: sessionmaker[Session]

    def meiyu(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return meiyu_in_process("--config", str(self.config), *args, input=input)

    def dump(self) -> str:
        """Every row of every table, as text."""
        parts = []
        with self.engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                rows = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')).all()
                parts.append(f"{table}: {rows!r}")
        return "\n".join(parts)

    def raw(self) -> bytes:
        """SQLite's files as bytes (the database and its WAL); empty on PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return b""
        main = Path(str(self.engine.url.database))
        return b"".join(p.read_bytes() for p in (main, Path(f"{main}-wal")) if p.exists())

    def user(self, name: str) -> users.UserRow | None:
        with self.sessions() as s:
            return users.user_by_name(s, name)

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Iterator[Db]:
    engine = make_engine(db_url)
    upgrade(engine)
    config = write_config(tmp_path / "meiyu.toml", db_url=db_url, proxy=None)
    yield Db(config, engine, session_factory(engine))
    engine.dispose()


def _secret_free(db: Db, secrets: list[str], *outputs: subprocess.CompletedProcess[str]) -> None:
    """No secret in the database (rows and, on SQLite, the files' bytes) or on any output."""
    dump, raw = db.dump(), db.raw()
    for secret in secrets:
        assert secret not in dump
        assert secret.encode("utf-8") not in raw
        for done in outputs:
            assert secret not in done.stdout and secret not in done.stderr


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def test_add_list_passwd_remove_round_trip(db: Db) -> None:
    assert "no accounts yet" in _ok(db.meiyu("users", "list"))
    added = db.meiyu("users", "add", "kim", "--role", "analyst", input=PASSWORD + "\n")
    assert _ok(added).strip() == "account kim added (analyst)" and added.stderr == ""
    listed = db.meiyu("users", "list")
    line = next(ln for ln in _ok(listed).splitlines() if " kim " in ln)
    assert " analyst " in line and "1 account(s)" in listed.stdout

    kim = db.user("kim")
    assert kim is not None and kim.role == "analyst"
    assert kim.password_hash.startswith("$argon2id$")
    assert verify_password(kim.password_hash, PASSWORD)
    assert kim.password_hash not in repr(kim)  # a row in a log line does not show it
    first_hash = kim.password_hash

    changed = db.meiyu("users", "passwd", "kim", input=NEW_PASSWORD + "\r\n")  # CRLF stripped
    assert _ok(changed).strip() == "password of kim changed"
    kim = db.user("kim")
    assert kim is not None and kim.password_hash != first_hash
    assert verify_password(kim.password_hash, NEW_PASSWORD)
    assert not verify_password(kim.password_hash, PASSWORD)
    assert kim.password_changed_at >= kim.created_at
    hashes = [first_hash, kim.password_hash]
    _secret_free(db, [PASSWORD, NEW_PASSWORD], added, listed, changed)
    for done in (added, listed, changed):
        assert "$argon2" not in done.stdout + done.stderr
        assert not any(h in done.stdout + done.stderr for h in hashes)

    removed = db.meiyu("users", "remove", "kim")
    assert _ok(removed).strip() == "account kim removed (0 API token(s) deleted)"
    assert db.user("kim") is None and db.count("users") == 0
    assert "no accounts yet" in _ok(db.meiyu("users", "list"))


def test_every_role_and_a_name_in_any_script(db: Db) -> None:
    names = ("王", "이", "[b]ops")  # "[b]" is text, not rich markup
    for name, role in zip(names, ROLES, strict=True):
        _ok(db.meiyu("users", "add", name, "--role", role, input=PASSWORD))  # no newline: fine
    with db.sessions() as s:
        assert [(u.name, u.role) for u in users.list_users(s)] == [
            ("[b]ops", "admin"),
            ("王", "viewer"),
            ("이", "analyst"),
        ]
    listed = _ok(db.meiyu("users", "list"))
    assert all(f" {name} " in listed for name in names)
    _ok(db.meiyu("users", "token", "[b]ops"))
    assert "API tokens of [b]ops" in _ok(db.meiyu("users", "tokens", "[b]ops"))


def test_bad_input_is_one_line_exit_2_and_stores_nothing(db: Db) -> None:
    _ok(db.meiyu("users", "add", "kim", "--role", "viewer", input=PASSWORD + "\n"))
    _ok(db.meiyu("users", "token", "kim"))
    cases: list[tuple[tuple[str, ...], str | None, str]] = [
        (("add", "lee", "--role", "admin"), "short pass\n", "at least 12 characters"),
        (("add", "lee", "--role", "admin"), " " * 14 + "\n", "only whitespace"),
        (("add", "lee", "--role", "admin"), "", "stdin is empty"),
        (("add", "lee", "--role", "superuser"), PASSWORD, "expected one of viewer, analyst"),
        (("add", "le e", "--role", "admin"), PASSWORD, "without spaces"),
        (("add", "kim", "--role", "admin"), PASSWORD, "an account named 'kim' exists"),
        (("add", "KIM", "--role", "admin"), PASSWORD, "an account named 'kim' exists"),
        (("passwd", "kim"), "too short\n", "at least 12 characters"),
        (("passwd", "lee"), NEW_PASSWORD, "lee: no such account"),
        (("remove", "lee"), None, "lee: no such account"),
        (("token", "lee"), None, "lee: no such account"),
        (("tokens", "lee"), None, "lee: no such account"),
        (("revoke", "999"), None, "token 999: no such API token"),
    ]
    before = db.dump()
    for args, stdin, message in cases:
        done = db.meiyu("users", *args, input=stdin)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == "", args
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
        assert message in lines[0], (args, lines[0])
        if stdin and stdin.strip():
            assert stdin.strip() not in done.stderr  # the rejected password is not quoted
        assert db.dump() == before, args
    kim = db.user("kim")
    assert kim is not None and kim.role == "viewer" and verify_password(kim.password_hash, PASSWORD)


def test_token_printed_once_stored_hashed_and_revocable(db: Db) -> None:
    _ok(db.meiyu("users", "add", "bot", "--role", "analyst", input=PASSWORD + "\n"))
    made = db.meiyu("users", "token", "bot")
    plain = _ok(made).strip()
    assert made.stdout == plain + "\n" and plain.startswith("meiyu_")  # alone, for $(…)
    note = made.stderr.splitlines()
    assert len(note) == 1 and "will not be shown again" in note[0]
    assert (made.stdout + made.stderr).count(plain) == 1

    digest = hashlib.sha256(plain.encode()).hexdigest()
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT id, token_hash FROM api_tokens")).all()
    assert [h for _, h in stored] == [digest] and digest == token_hash(plain)
    token_id = stored[0][0]
    assert f"API token {token_id} for bot" in note[0]
    _secret_free(db, [plain, PASSWORD])  # the token in no table (it is on stdout, once)
    _secret_free(db, [PASSWORD], made)
    assert digest not in made.stdout + made.stderr

    with transaction(db.sessions) as s:  # what the web layer does with a request's header
        found = users.token_by_hash(s, token_hash(bearer_token(f"Bearer {plain}") or ""))
        assert found is not None
        token, user = found
        assert (token.id, user.name, user.role) == (token_id, "bot", "analyst")
        assert token.last_used_at is None and not token.revoked
        users.touch_token(s, token.id, dt.datetime(2024, 3, 1, 1, 2, tzinfo=dt.UTC))
        assert users.token_by_hash(s, token_hash(plain + "x")) is None

    listed = db.meiyu("users", "tokens", "bot")
    row = next(ln for ln in _ok(listed).splitlines() if f" {token_id} " in ln)
    assert "2024-03-01 09:02" in row  # last used, in the schedule's time zone (Shanghai)
    assert "1 token(s), 1 active" in listed.stdout
    assert plain not in listed.stdout and digest not in listed.stdout

    revoked = db.meiyu("users", "revoke", str(token_id))
    assert _ok(revoked).strip() == f"API token {token_id} of bot revoked"
    with db.sessions() as s:
        assert users.token_by_hash(s, digest) is None
        found_by_id = users.token_by_id(s, token_id)
        assert found_by_id is not None and found_by_id[0].revoked
        first_revoked = found_by_id[0].revoked_at
    again = db.meiyu("users", "revoke", str(token_id))
    assert "was already revoked" in _ok(again)
    with db.sessions() as s:
        found_by_id = users.token_by_id(s, token_id)
        assert found_by_id is not None and found_by_id[0].revoked_at == first_revoked
    assert "1 token(s), 0 active" in _ok(db.meiyu("users", "tokens", "bot"))

    second = _ok(db.meiyu("users", "token", "bot")).strip()
    assert second != plain and db.count("api_tokens") == 2
    with db.sessions() as s:
        assert users.active_token_counts(s) == {user.id: 1}
    removed = db.meiyu("users", "remove", "bot")
    assert "2 API token(s) deleted" in _ok(removed)
    assert db.count("api_tokens") == 0 and db.count("users") == 0


def test_removing_a_user_cascades_in_the_schema_too(db: Db) -> None:
    """The foreign key alone removes the tokens (a delete that does not go through
    storage.users.remove_user, e.g. by hand in psql)."""
    with transaction(db.sessions) as s:
        user = users.add_user(s, "kim", "viewer", hash_password(PASSWORD))
        users.add_token(s, user.id, new_token()[1])
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM users"))
    assert db.count("api_tokens") == 0


def test_migration_matches_the_models_and_goes_down(db: Db) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diff if "users" in repr(d) or "api_tokens" in repr(d)]
    assert mine == []
    assert current_revision(db.engine) == head_revision(db.engine)
    downgrade(db.engine, "0006")
    assert not {"users", "api_tokens"} & set(inspect(db.engine).get_table_names())
    upgrade(db.engine)
    assert {"users", "api_tokens"} <= set(inspect(db.engine).get_table_names())


def _read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} in {bytes(seen)!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break


def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(
    tmp_path: Path,
) -> None:
    """A real pseudo-terminal (what a person at a shell has): the hidden prompt, asked twice."""
    config = write_config(
        tmp_path / "meiyu.toml", db_url=f"sqlite:///{tmp_path / 'm.db'}", proxy=None
    )
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    child = subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(config), "users", "add", "kim"]
        + ["--role", "admin"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass uses the pty on stdin
    )
    os.close(slave)
    seen = bytearray()
    try:
        # click prints the prompt, then getpass turns the echo off (flushing what was typed)
        # and prints the prompt's last space: type after that space, as a person would
        _read_until(master, b"password for kim: ", seen)
        os.write(master, PASSWORD.encode() + b"\n")
        _read_until(master, b"confirmation: ", seen)
        os.write(master, PASSWORD.encode() + b"\n")
        _read_until(master, b"account kim added", seen)
        assert child.wait(timeout=60) == 0, bytes(seen)
    finally:
        child.kill()
        child.wait()
        os.close(master)
    assert PASSWORD.encode() not in seen  # echo was off
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with session_factory(engine)() as s:
        kim = users.user_by_name(s, "kim")
    engine.dispose()
    assert kim is not None and verify_password(kim.password_hash, PASSWORD)


# web.accounts and kernel.roles, no database


def test_password_rules() -> None:
    check_password_rules("x" * 12)
    check_password_rules("威海海鲜威海海鲜刘公岛海洋")  # characters, not bytes
    check_password_rules(" inner spaces ok ")
    for weak, says in (("x" * 11, "got 11"), ("", "empty"), (" \t" * 8, "whitespace")):
        with pytest.raises(UserError, match=says) as info:
            check_password_rules(weak)
        assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(UserError) as info:
        check_password_rules("hunter2hunt")
    assert "hunter2hunt" not in str(info.value)


def test_names() -> None:
    for ok in ("kim", "王", "ops.bot@weihai", "a" * 64):
        check_name(ok)
    for bad in ("", "a b", "tab\there", "a" * 65, "bell\x07"):
        with pytest.raises(UserError, match="NAME"):
            check_name(bad)


def test_hash_and_verify() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert stored != hash_password(PASSWORD)  # salted
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not verify_password(stored, "")
    assert not verify_password(None, PASSWORD)  # no such account
    assert not verify_password("not a hash", PASSWORD)
    assert not needs_rehash(stored)
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert verify_password(weaker, PASSWORD) and needs_rehash(weaker)


def test_tokens() -> None:
    (plain, digest), (other, _) = new_token(), new_token()
    assert plain.startswith("meiyu_") and plain != other
    assert len(plain) == len("meiyu_") + 43  # 32 random bytes, base64url
    assert digest == hashlib.sha256(plain.encode()).hexdigest() == token_hash(plain)
    assert len(digest) == 64 and plain not in digest
    assert bearer_token(f"Bearer {plain}") == plain
    assert bearer_token(f"bearer  {plain} ") == plain
    for header in (None, "", "Bearer", "Bearer ", f"Basic {plain}", f"Bearer {plain} extra"):
        assert bearer_token(header) is None


def test_roles_are_ordered() -> None:
    assert ROLES == ("viewer", "analyst", "admin")
    allowed = {(r, n) for r in ROLES for n in ROLES if allows(r, n)}
    assert allowed == {
        ("viewer", "viewer"),
        ("analyst", "viewer"),
        ("analyst", "analyst"),
        ("admin", "viewer"),
        ("admin", "analyst"),
        ("admin", "admin"),
    }
    assert parse_role("admin") == "admin"
    for bad in ("Admin", "root", ""):
        with pytest.raises(UserError, match="viewer, analyst, admin"):
            parse_role(bad)
