"""The dashboard against a real server, shared by the web tests: uvicorn on a free port of
127.0.0.1 in a thread, a cookie-keeping client over http.client, and a site made by `meiyu db
upgrade` and `meiyu users add` with one stored month of a29 (SQLite or PostgreSQL)."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import load_config
from kernel.values import ValueDetails
from meiyu.cli.serve import audit_hooks, channel_hooks
from nlp.identity import definition_version
from storage.db import make_engine, session_factory, transaction
from storage.writes import ValueRecord, upsert_values
from tests.conftest import write_config
from tests.helpers_cli import meiyu_in_process
from web.app import WebSettings, create_app

PASSWORD = "seafood-weihai-2023"
WRONG = "not-the-password-at-all"
EVIL_NAME = '<script>alert("x")</script>海鲜之都'
ROLES = {"kim": "viewer", "li": "analyst", "wang": "admin"}


@dataclass
class Reply:
    status: int
    headers: Message
    body: str
    set_cookies: list[str]
    data: bytes = b""  # the body as it came (a download)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Client:
    """A browser, as far as cookies go: keeps what the server sets, sends it back."""

    port: int
    secrets: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {**self.headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        raw = response.headers.get_all("Set-Cookie") or []
        for line in raw:
            jar: SimpleCookie = SimpleCookie()
            jar.load(line)
            for key, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
                    self.secrets.append(morsel.value)
        return Reply(response.status, response.headers, data.decode("utf-8", "replace"), raw, data)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def csrf_of_login_form(self) -> str:
        page = self.get("/login")
        assert page.status == 200, page
        found = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert found, page.body
        return found.group(1)

    def login(self, name: str, password: str = PASSWORD) -> Reply:
        csrf = self.csrf_of_login_form()
        return self.request("POST", "/login", {"name": name, "password": password, "csrf": csrf})

    def page_csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.get("/").body)
        assert found
        return found.group(1)


@dataclass
class Site:
    config: Path
    engine: Engine
    sessions: sessionmaker[Session]
    app: FastAPI
    port: int
    secrets: list[str]  # every password, token and cookie value the test saw

    def client(self, **headers: str) -> Client:
        return Client(self.port, self.secrets, dict(headers))

    def meiyu(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = meiyu_in_process("--config", str(self.config), *args, input=input)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def token(self, name: str) -> str:
        plain = self.meiyu("users", "token", name).stdout.strip()
        self.secrets.append(plain)
        return plain

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def site_config(tmp_path: Path, db_url: str) -> Path:
    config = write_config(tmp_path / "meiyu.toml", db_url=db_url, proxy=None)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            '"海鲜之都美誉度"', json.dumps(EVIL_NAME, ensure_ascii=False)
        ),
        encoding="utf-8",
    )
    return config


def seed_site(config: Path) -> None:
    """The accounts and one stored month of a29, as `meiyu compute` would store it."""
    for name, role in ROLES.items():
        done = meiyu_in_process(
            "--config", str(config), "users", "add", name, "--role", role, input=PASSWORD + "\n"
        )
        assert done.returncode == 0, done.stderr
    cfg = load_config(config)
    engine = make_engine(cfg.database.url)
    version = definition_version(cfg.indicators["a29"])
    with transaction(session_factory(engine)) as s:
        upsert_values(
            s,
            [
                ValueRecord("a29", "month", p, version, float(n), n, n - 2, details)
                for p, n, details in (
                    ("2023-11", 9, ValueDetails(interval=(4.1, 17.1))),
                    ("2023-12", 17, ValueDetails(interval=(9.9, 27.2))),
                )
            ],
        )
    engine.dispose()


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """`app` on uvicorn in a thread, on a free port of 127.0.0.1; its logs go to the root
    logger (log_config None), where caplog sees them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def logged(caplog: pytest.LogCaptureFixture, *phases: str) -> str:
    return "\n".join(r.getMessage() for p in phases for r in caplog.get_records(p))  # type: ignore[arg-type]


def no_secret_in(text_: str, secrets: list[str]) -> None:
    assert "$argon2" not in text_
    for secret in secrets:
        assert secret not in text_


@contextlib.contextmanager
def running_site(
    db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    seed: Callable[[Path], None] | None = None,
    audit: bool = True,
) -> Iterator[Site]:
    """The seeded site on a real server, with the audit page's and the channels page's hooks
    as `meiyu serve` builds them; `seed` stores more (given the config) before the server
    starts."""
    caplog.set_level(logging.INFO)
    config = site_config(tmp_path, db_url)
    assert meiyu_in_process("--config", str(config), "db", "upgrade").returncode == 0
    seed_site(config)
    if seed is not None:
        seed(config)
    cfg = load_config(config)
    engine = make_engine(cfg.database.url)
    sessions = session_factory(engine)
    app = create_app(
        WebSettings(
            sessions=sessions,
            indicators=cfg.indicators,
            timezone=cfg.schedule.timezone,
            audit=audit_hooks(cfg) if audit else None,
            config=cfg,
            channels=channel_hooks(cfg),
        )
    )
    secrets = [PASSWORD, WRONG]
    with serving(app) as port:
        yield Site(config, engine, sessions, app, port, secrets)
    engine.dispose()
    # whatever the test did, its logs (the server's included) hold no secret
    no_secret_in(logged(caplog, "setup", "call"), secrets)
