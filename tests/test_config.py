"""Config: the shipped file is valid, and every kind of mistake is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.config import load_config
from kernel.errors import ConfigError
from tests.conftest import REPO
from tests.helpers_cli import meiyu_in_process

SHIPPED = (REPO / "meiyu.toml").read_text(encoding="utf-8")


def test_shipped_config_defines_the_three_plan_indicators() -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    assert set(cfg.indicators) == {"a29", "a68", "a67"}
    assert cfg.indicators["a29"].all_of == [["威海"], ["海鲜"]]
    assert cfg.indicators["a68"].all_of == [["刘公岛"], ["海洋文化"]]
    assert "웨이하이" in cfg.indicators["a67"].all_of[0]
    assert "查询量" in cfg.indicators["a29"].definition
    assert cfg.timezone == "Asia/Shanghai"


def test_a_fourth_indicator_is_only_config(tmp_path: Path) -> None:
    path = tmp_path / "meiyu.toml"
    path.write_text(
        SHIPPED + '\n[indicators.x1]\nname = "荣成美誉度"\ndefinition = "荣成+海带"\n'
        'language = "zh"\nkind = "volume"\nall_of = [["荣成"], ["海带"]]\n',
        encoding="utf-8",
    )
    cfg = load_config(path, env={})
    assert cfg.indicators["x1"].all_of == [["荣成"], ["海带"]]
    # A changed definition is a new version (a new series), never a rewrite of the old one.
    assert cfg.indicators["x1"].version() != cfg.indicators["a29"].version()


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = load_config(
        REPO / "meiyu.toml",
        env={"MEIYU_DATABASE_URL": "postgresql://u@h/db", "MEIYU_CRAWL__CONCURRENT_REQUESTS": "3"},
    )
    assert cfg.database.url == "postgresql://u@h/db"
    assert cfg.crawl.concurrent_requests == 3


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s.replace("[crawl]\n", "[crawl]\nconcurency = 3\n"),
            "crawl.concurency: unknown key",
        ),
        (
            lambda s: s.replace("concurrent_requests = 8", 'concurrent_requests = "many"'),
            "crawl.concurrent_requests: expected a valid integer",
        ),
        (
            lambda s: s.replace(
                'timezone = "Asia/Shanghai"\ndata_dir', 'timezone = "Mars/Olympus"\ndata_dir'
            ),
            "timezone: expected an IANA time zone",
        ),
        (
            lambda s: s.replace('kind = "volume"', 'kind = "count"', 1),
            "indicators.a29.kind: expected",
        ),
        (
            lambda s: s.replace('all_of = [["威海"], ["海鲜"]]', "all_of = []"),
            "indicators.a29.all_of",
        ),
        (
            lambda s: s.replace('url = "sqlite:///data/meiyu.db"', 'url = "mysql://x"'),
            "database.url: expected a sqlite:/// or postgresql:// URL",
        ),
        (lambda s: s.replace("[database]", "[database\n"), "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    bad = edit(SHIPPED)
    assert bad != SHIPPED, "the edit must change the file"
    path = tmp_path / "bad.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_reports_bad_config_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SHIPPED.replace("retry_times = 2", "retry_times = -1"), encoding="utf-8")
    before = path.read_bytes()
    for args in (["config", "check"], ["compute"], ["crawl"]):
        proc = meiyu_in_process("--config", str(path), *args)
        assert proc.returncode == 2, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, proc.stderr
        assert "crawl.retry_times" in lines[0] and "Traceback" not in proc.stderr
    assert path.read_bytes() == before


def test_cli_missing_config_and_bad_month(tmp_path: Path) -> None:
    proc = meiyu_in_process("--config", str(tmp_path / "nope.toml"), "config", "check")
    assert proc.returncode == 2 and "config file not found" in proc.stderr
    proc = meiyu_in_process("report", "--month", "2023-13")
    assert proc.returncode == 2 and "--month: expected YYYY-MM" in proc.stderr


def test_cli_unknown_command_is_a_usage_error() -> None:
    proc = meiyu_in_process("bogus")
    assert proc.returncode == 2 and "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_check_accepts_the_shipped_file() -> None:
    proc = meiyu_in_process("--config", str(REPO / "meiyu.toml"), "config", "check")
    assert proc.returncode == 0, proc.stderr
    assert "config ok" in proc.stdout and "a67" in proc.stdout


def test_crawl_window_arguments_are_checked() -> None:
    proc = meiyu_in_process("--config", str(REPO / "meiyu.toml"), "crawl", "--since", "2023-13-01")
    assert proc.returncode == 2 and "--since: expected YYYY-MM-DD" in proc.stderr
    proc = meiyu_in_process(
        "--config",
        str(REPO / "meiyu.toml"),
        "crawl",
        "--since",
        "2023-02-01",
        "--until",
        "2023-01-01",
    )
    assert proc.returncode == 2 and "is after --until" in proc.stderr
    proc = meiyu_in_process("--config", str(REPO / "meiyu.toml"), "crawl", "--indicator", "a99")
    assert proc.returncode == 2 and "unknown indicator 'a99'" in proc.stderr
    proc = meiyu_in_process("--config", str(REPO / "meiyu.toml"), "crawl", "--source", "nope")
    assert proc.returncode == 2 and "unknown source 'nope'" in proc.stderr


def test_search_queries_default_from_the_terms() -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    assert cfg.indicators["a29"].search_queries() == ["威海 海鲜"]
    assert cfg.indicators["a68"].search_queries() == ["刘公岛 海洋文化"]
    assert cfg.indicators["a67"].search_queries() == ["웨이하이", "위해시", "威海", "Weihai"]
