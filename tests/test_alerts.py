"""舆情预警: the rules on hand-made series, and end to end on the fixture world's planted burst,
delivered over real HTTP (a local webhook / robot receiver) and real SMTP (aiosmtpd)."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import delete

from kernel.config import AlertsConfig, config_from_dict, load_config
from kernel.errors import ConfigError
from meiyu.demo.fixturesite import pools
from meiyu.demo.fixturesite.corpus import INCIDENT_DAYS, World
from meiyu.demo.fixturesite.server import FixtureSite
from pipelines.alerts.delivery import dingtalk_signed_url
from pipelines.alerts.detect import (
    DayTest,
    detect,
    episodes,
    negative_spikes,
    poisson_tail,
    same_episode,
    share_drop_weeks,
    spike_days,
    volume_surges,
)
from storage.alerts import AlertItemRow, list_alerts
from storage.db import make_engine, session_factory, transaction
from storage.models import Document
from tests.conftest import REPO, run_meiyu, write_config
from tests.helpers_cli import meiyu_in_process

TZ = ZoneInfo("Asia/Shanghai")
D0 = dt.date(2023, 3, 1)
RULES = AlertsConfig()


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def spikes(counts: dict[dt.date, int], history_from: dt.date = D0) -> list[DayTest]:
    return spike_days(
        counts,
        history_from,
        window_days=28,
        floor_per_window=1.0,
        min_count=3,
        alpha=0.001,
    )


# ------------------------------------------------------------------ the rules


def test_poisson_tail_is_the_upper_tail() -> None:
    assert poisson_tail(0, 0.5) == pytest.approx(1.0)
    lam = 1 / 28
    by_hand = 1 - sum(lam**i / [1, 1, 2][i] for i in range(3)) * pow(2.718281828459045, -lam)
    assert poisson_tail(3, lam) == pytest.approx(by_hand, rel=1e-6)
    assert poisson_tail(7, 1.0) == pytest.approx(8.324e-05, rel=1e-3)


def test_spike_needs_the_minimum_count_and_a_small_tail() -> None:
    # after a quiet month λ is the floor, 1/28 a day: 3 negatives alert, 2 do not (min count)
    (hit,) = spikes({day(40): 3})
    assert hit.day == day(40) and hit.observed == 3
    assert hit.expected == pytest.approx(1 / 28) and hit.p_value < 1e-5
    assert spikes({day(40): 2}) == []
    # a steady 1 a day makes 3 ordinary (P ≈ 0.08), 7 is not (P ≈ 8e-5)
    steady = {day(i): 1 for i in range(60)}
    assert spikes({**steady, day(45): 3}) == []
    (hit,) = spikes({**steady, day(45): 7})
    assert hit.expected == pytest.approx(1.0) and hit.p_value == pytest.approx(8.324e-05, rel=1e-3)


def test_floor_and_history_coverage() -> None:
    # two items in the window lift λ above the floor: 2/28 a day
    (hit,) = spikes({day(10): 1, day(20): 1, day(35): 4})
    assert hit.expected == pytest.approx(2 / 28)
    # a day whose trailing window reaches before the first stored item is not tested
    assert spikes({day(20): 5}, history_from=D0) == []
    assert spikes({day(28): 5}, history_from=D0) != []


def test_alerting_days_within_seven_days_are_one_episode() -> None:
    tests = [DayTest(day(n), 3, 0.04, 1e-5) for n in (30, 31, 38, 46)]
    groups = episodes(tests, merge_days=7)
    assert [[t.day for t in g] for g in groups] == [[day(30), day(31), day(38)], [day(46)]]
    assert episodes([], merge_days=7) == []


def test_share_drop_week() -> None:
    weeks = {day(7 * i): (5, 10) for i in range(8)}  # baseline 40/80 = 50%
    monday = day(7 * 8)
    (hit,) = share_drop_weeks(
        {**weeks, monday: (1, 20)}, D0, weeks=8, min_items=10, min_drop=0.15, alpha=0.01
    )
    assert (hit.positive, hit.scored, hit.baseline_positive, hit.baseline_scored) == (1, 20, 40, 80)
    assert hit.p_value < 0.001
    for week in ((0, 9), (8, 20), (2, 12)):  # too few items; drop 0.1; p ≈ 0.015 one-sided
        assert (
            share_drop_weeks(
                {**weeks, monday: week}, D0, weeks=8, min_items=10, min_drop=0.15, alpha=0.01
            )
            == []
        ), week


def _row(n: int, when: dt.datetime, story: str, label: str | None = None) -> AlertItemRow:
    return AlertItemRow(n, when, f"title {n}", f"http://x.test/{n}", "outlet", story, label)


def _at(d: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(hour), TZ).astimezone(dt.UTC)


def test_negative_spike_episode_lists_every_negative_of_its_days() -> None:
    rows = [_row(i, _at(day(i), 12), f"s{i}", "positive") for i in range(40)]
    burst = [(day(d), h) for d in (40, 42) for h in (9, 10, 11)]
    rows += [_row(100 + i, _at(d, h), f"b{i}", "negative") for i, (d, h) in enumerate(burst)]
    rows += [_row(200, _at(day(41), 8), "n", "negative"), _row(201, _at(day(41), 9), "p", "nt")]
    (f,) = negative_spikes("a67", rows, TZ, RULES)
    # day 42 alerts against λ = 4/28 (day 40's burst is in its window); day 41 (one negative)
    # is no test day, but its negative belongs to the episode's period
    assert (f.start, f.end) == (day(40), day(42))
    assert [t.day for t in f.tests] == [day(40), day(42)]
    second = f.tests[1]
    assert isinstance(second, DayTest) and second.expected == pytest.approx(4 / 28)
    assert {i["document_id"] for i in f.items} == {100, 101, 102, 103, 104, 105, 200}
    assert f.observed == 7 and f.expected == pytest.approx(3 / 28)  # floor × 3 days


def test_volume_surge_counts_stories_not_reprints() -> None:
    base = [_row(i, _at(day(i), 12), f"old{i}") for i in range(0, 40, 5)]
    reprinted = [_row(100 + i, _at(day(40), 8 + i), "one") for i in range(8)]
    assert volume_surges("a29", base + reprinted, TZ, RULES) == []
    new = [_row(200 + i, _at(day(40), 8 + i), f"new{i}") for i in range(5)]
    late_reprint = [_row(300, _at(day(41), 9), "new0")]  # counted on its story's first day
    (f,) = volume_surges("a29", base + reprinted + new + late_reprint, TZ, RULES)
    assert (f.start, f.end, f.observed) == (day(40), day(40), 6.0)
    assert max(i["documents"] for i in f.items) == 8


def test_a_stored_episode_is_found_again() -> None:
    stored = [(1, "2023-03-10", "2023-03-12"), (2, "2023-05-01", "2023-05-01")]
    assert same_episode(stored, dt.date(2023, 3, 10), dt.date(2023, 3, 14), 7) == 1
    assert same_episode(stored, dt.date(2023, 3, 18), dt.date(2023, 3, 18), 7) == 1
    assert same_episode(stored, dt.date(2023, 3, 21), dt.date(2023, 3, 21), 7) is None


def test_the_fixture_world_is_quiet_for_volume(world: World) -> None:
    """No day of the generated world comes near a volume surge for a29 or a68."""
    for key in ("a29", "a68"):
        rows = [
            AlertItemRow(n, a.published.astimezone(dt.UTC), a.title, a.url, None, a.story, None)
            for n, a in enumerate(world.articles)
            if key in a.planted
        ]
        assert rows and volume_surges(key, rows, TZ, RULES) == []


def test_channel_config_errors_never_echo_a_secret() -> None:
    raw = load_config(REPO / "meiyu.toml", env={}).model_dump(mode="json")
    secret = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-SECRET-123"
    raw["alerts"]["channels"] = [{"name": "robot", "kind": "wecom", "url_env": secret}]
    with pytest.raises(ConfigError, match="NAME of an environment variable") as exc:
        config_from_dict(raw)
    assert "SECRET" not in str(exc.value)
    raw["alerts"]["channels"] = [{"name": "mail", "kind": "email", "smtp_host": "127.0.0.1"}]
    with pytest.raises(ConfigError, match="sender and recipients"):
        config_from_dict(raw)


def test_a_growing_episode_updates_its_alert_and_keeps_its_deliveries(db_url: str) -> None:
    from storage.alerts import AlertRecord, record_delivery, save_alert
    from storage.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    first = AlertRecord("negative_spike", "a67", "2023-03-10", "2023-03-10", 3, 0.04, 1e-5, "m", [])
    grown = AlertRecord("negative_spike", "a67", "2023-03-10", "2023-03-12", 7, 0.1, 1e-6, "m2", [])
    with transaction(sessions) as s:
        alert_id, status = save_alert(s, first)
        record_delivery(s, alert_id, "mail", None)
        record_delivery(s, alert_id, "wecom", "robot answered errcode 93000")
    with transaction(sessions) as s:
        assert save_alert(s, first, alert_id) == (alert_id, "unchanged")
        assert save_alert(s, grown, alert_id) == (alert_id, "updated")
    with sessions() as s:
        (row,) = list_alerts(s)
    assert (row.period_end, row.observed, row.message) == ("2023-03-12", 7, "m2")
    assert row.deliveries["mail"]["status"] == "sent"
    assert row.deliveries["wecom"] == {
        "status": "failed",
        "at": row.deliveries["wecom"]["at"],
        "attempts": 1,
        "error": "robot answered errcode 93000",
    }
    engine.dispose()


def test_dingtalk_signature() -> None:
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SEC1", 1000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    expected = hmac.new(b"SEC1", b"1000\nSEC1", hashlib.sha256).digest()
    assert query["timestamp"] == ["1000"] and query["access_token"] == ["t"]
    assert base64.b64decode(query["sign"][0]) == expected


# ------------------------------------------------------------------ end to end


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class Receiver:
    """Webhook and robot endpoints on 127.0.0.1: /hook (generic, 204), /wecom and /dingtalk
    (HTTP 200 {"errcode": 0}), /robot-broken (HTTP 200 with a non-zero errcode)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            parts = urllib.parse.urlsplit(self.path)
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"].startswith("application/json")
            holder[0].received.append(
                Received(parts.path, urllib.parse.parse_qs(parts.query), json.loads(raw))
            )
            if parts.path == "/hook":
                self.send_response(204)
                self.end_headers()
                return
            answer = (
                {"errcode": 93000, "errmsg": "invalid webhook url"}
                if parts.path == "/robot-broken"
                else {"errcode": 0, "errmsg": "ok"}
            )
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"alerts" and data.password == b"pw-SECRET")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with socket.socket() as probe:  # aiosmtpd's readiness check needs a real port number
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox(port)
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


CHANNELS = """
[alerts]
deliver_max_age_days = 0   # the fixture world's burst is in 2022

[[alerts.channels]]
name = "ops-hook"
kind = "webhook"
url_env = "TEST_HOOK_URL"

[[alerts.channels]]
name = "wecom"
kind = "wecom"
url_env = "TEST_WECOM_URL"

[[alerts.channels]]
name = "dingtalk"
kind = "dingtalk"
url_env = "TEST_DINGTALK_URL"
secret_env = "TEST_DINGTALK_SECRET"

[[alerts.channels]]
name = "flaky-robot"
kind = "wecom"
url_env = "TEST_FLAKY_URL"

[[alerts.channels]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
username_env = "TEST_SMTP_USER"
password_env = "TEST_SMTP_PASSWORD"
sender = "meiyu@example.org"
recipients = ["office@example.org", "duty@example.org"]
"""


def test_planted_burst_raises_one_alert_delivered_once_to_every_channel(
    tmp_path: Path,
    db_url: str,
    site: FixtureSite,
    world: World,
    receiver: Receiver,
    mailbox: Mailbox,
) -> None:
    korean = {k: v for k, v in world.feeds().items() if k in ("hanbando", "seohae")}
    cfg_path = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds=korean,
        extra=CHANNELS.replace("{port}", str(mailbox.port)),
    )
    args = ("--config", str(cfg_path))
    crawled = run_meiyu(*args, "crawl")  # a process: Scrapy's reactor runs once per process
    assert crawled.returncode == 0, crawled.stderr
    computed = meiyu_in_process(*args, "compute")
    assert computed.returncode == 0, computed.stderr
    burst = {a.url for a in world.articles if a.title in pools.TITLES["a67_incident"]}
    assert len(burst) == 7

    env = {
        "TEST_HOOK_URL": f"{receiver.base}/hook",
        "TEST_WECOM_URL": f"{receiver.base}/wecom?key=wecom-SECRET-key",
        "TEST_DINGTALK_URL": f"{receiver.base}/dingtalk?access_token=ding-SECRET-token",
        "TEST_DINGTALK_SECRET": "SECdingtalk-SECRET",
        "TEST_FLAKY_URL": f"{receiver.base}/robot-broken?key=flaky-SECRET-key",
        "TEST_SMTP_USER": "alerts",
        "TEST_SMTP_PASSWORD": "pw-SECRET",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    # 1st run: one alert; four channels take it, the flaky robot refuses (exit 1, one line)
    # a process: the test's own SMTP server logs in this one
    first = run_meiyu(*args, "alerts", "run", env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "1 episode(s) found, 1 new" in first.stdout
    assert "4 sent, 1 failed" in first.stdout
    error = first.stderr.strip()
    assert len(error.splitlines()) == 1 and "flaky-robot" in error and "errcode 93000" in error
    assert "SECRET" not in first.stdout + first.stderr

    cfg = load_config(cfg_path, env={})
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions() as s:
        (alert,) = list_alerts(s)
    assert (alert.rule, alert.indicator) == ("negative_spike", "a67")
    assert (alert.period_start, alert.period_end) == tuple(d.isoformat() for d in INCIDENT_DAYS)
    assert {i["url"] for i in alert.items} == burst and alert.observed == 7
    assert alert.expected == pytest.approx(2 / 28)  # floor (1/28 a day) × 2 days
    assert alert.p_value < 1e-6
    assert alert.deliveries["flaky-robot"]["status"] == "failed"
    assert {k for k, v in alert.deliveries.items() if v["status"] == "sent"} == {
        "ops-hook",
        "wecom",
        "dingtalk",
        "mail",
    }
    headline, rule = alert.message.splitlines()[:2]
    assert headline.startswith("【舆情预警】韩语“威海”美誉度（a67）：2022-08-17 至 2022-08-18")
    assert "负面条目 7 条（08-17 4 条，08-18 3 条）" in headline
    assert rule.startswith("规则：单日负面条目数 k ≥ 3 且泊松尾概率 P(X≥k | λ) < 0.001")

    # the generic webhook got the alert as JSON
    (hook,) = receiver.at("/hook")
    assert hook.body["rule"] == "negative_spike" and hook.body["indicator"] == "a67"
    assert hook.body["period"] == {"start": "2022-08-17", "end": "2022-08-18"}
    assert hook.body["observed"] == 7 and hook.body["p_value"] == alert.p_value
    assert {i["url"] for i in hook.body["items"]} == burst
    assert hook.body["message"] == alert.message
    # WeCom: markdown content with every item linked
    (wecom,) = receiver.at("/wecom")
    assert wecom.query == {"key": ["wecom-SECRET-key"]}
    assert wecom.body["msgtype"] == "markdown"
    content = wecom.body["markdown"]["content"]
    assert content.startswith("**【舆情预警】韩语“威海”美誉度（a67）") and "> 规则：" in content
    for item in alert.items:
        assert f"[{item['title']}]({item['url']})" in content
    # DingTalk: markdown with a title, and a URL signed with the robot's secret
    (ding,) = receiver.at("/dingtalk")
    assert ding.body["msgtype"] == "markdown"
    assert ding.body["markdown"]["title"].endswith("负面条目激增：2022-08-17 至 2022-08-18")
    assert ding.body["markdown"]["text"] == content
    stamp, sign = ding.query["timestamp"][0], ding.query["sign"][0]
    key = b"SECdingtalk-SECRET"
    assert base64.b64decode(sign) == hmac.new(key, stamp.encode() + b"\n" + key, "sha256").digest()
    assert ding.query["access_token"] == ["ding-SECRET-token"]
    # e-mail: a Chinese subject, the message as UTF-8 text, to both recipients
    ((rcpt, mail),) = mailbox.messages
    assert sorted(rcpt) == ["duty@example.org", "office@example.org"]
    assert mailbox.logins == [(b"alerts", b"pw-SECRET")]
    assert mail["Subject"] == (
        "【舆情预警】韩语“威海”美誉度（a67）负面条目激增：2022-08-17 至 2022-08-18"
    )
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content_charset() == "utf-8"
    assert alert.message in body.get_content()

    # 2nd run, the flaky robot fixed: only it is sent the alert; nobody gets a second copy
    fixed = {**env, "TEST_FLAKY_URL": f"{receiver.base}/wecom?key=fixed"}
    second = meiyu_in_process(*args, "alerts", "run", env=fixed)
    assert second.returncode == 0, second.stderr
    assert "1 episode(s) found, 0 new, 0 updated, 1 unchanged" in second.stdout
    assert "1 sent, 0 failed" in second.stdout
    assert len(receiver.at("/wecom")) == 2 and receiver.at("/wecom")[1].query == {"key": ["fixed"]}
    third = meiyu_in_process(*args, "alerts", "run", env=fixed)
    assert third.returncode == 0 and "0 sent, 0 failed" in third.stdout, third.stderr
    assert len(receiver.received) == 5 and len(mailbox.messages) == 1
    with sessions() as s:
        (again,) = list_alerts(s)
    assert again.deliveries["flaky-robot"]["status"] == "sent"
    assert again.deliveries["flaky-robot"]["attempts"] == 2

    listing = run_meiyu(*args, "alerts", "list", "--since", "2022-08-18", env={"COLUMNS": "200"})
    assert listing.returncode == 0 and "1 alert(s)" in listing.stdout, listing.stderr
    assert "2022-08-17 至 2022-08-18" in listing.stdout and "flaky-robot: sent" in listing.stdout
    with sessions() as s:
        assert len(list_alerts(s, dt.date(2022, 8, 18))) == 1
        assert list_alerts(s, dt.date(2022, 8, 19)) == []

    # alerts older than deliver_max_age_days are kept, not sent
    from pipelines.alerts.delivery import due

    recent = cfg.alerts.model_copy(update={"deliver_max_age_days": 30})
    strict = cfg.model_copy(update={"alerts": recent})
    assert due(cfg, [alert], dt.date(2022, 9, 30)) == [(alert, "flaky-robot")]
    assert due(strict, [alert], dt.date(2022, 9, 17)) == [(alert, "flaky-robot")]
    assert due(strict, [alert], dt.date(2022, 9, 30)) == []

    # the same world without the burst: no rule raises anything on any day
    with transaction(sessions) as s:
        s.execute(delete(Document).where(Document.url.in_(burst)))
    with sessions() as s:
        assert detect(cfg, s) == []
    engine.dispose()
