"""The built wheel carries what the installed package reads at run time (models, nlp data,
report templates, migrations), and `meiyu nlp sentiment` answers from a non-editable install.

The wheel is built from a copy of the checkout (what git tracks or would track), so the build
leaves no build/ or egg-info behind in the working tree; the install is `pip install --target`
with the test interpreter, run from outside the checkout with the target first on PYTHONPATH,
so the editable install of the checkout is shadowed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nlp.sentiment import LABELS
from tests.conftest import REPO

pytestmark = pytest.mark.wheel

# Folders whose every file the running package reads, relative to the repository root.
DATA_DIRS = (
    "nlp/models",
    "nlp/data",
    "reports/templates",
    "storage/migrations",
    "web/templates",
    "web/static",
)


# What .gitignore keeps out: folders of the root, and caches anywhere.
SKIP_ROOT = {".git", ".venv", "build", "dist", "out", "data"}
SKIP_ANY = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def _checkout_files() -> list[str]:
    """Tracked and not-ignored untracked files, as git would commit them (outside a git
    checkout: every file but the ignored folders')."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        names = [n for n in proc.stdout.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [
                d
                for d in dirs
                if d not in SKIP_ANY
                and not (root == str(REPO) and d in SKIP_ROOT)
                and not d.endswith((".egg-info", ".partial"))
            ]
            names += [str((Path(root) / f).relative_to(REPO)) for f in files]
    return [n for n in names if (REPO / n).is_file()]  # a file deleted but not yet staged


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in _checkout_files():
        if name.startswith(("tests/", "bench/")):
            continue
        dest = src / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest)
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["--no-index", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = dist.glob("meiyu-*.whl")
    return built


def _expected_data_files() -> set[str]:
    out = set()
    for name in _checkout_files():
        if not name.startswith(tuple(d + "/" for d in DATA_DIRS)):
            continue
        if "__pycache__" in name or ".partial/" in name:
            continue
        out.add(name)
    return out


def test_wheel_lists_models_data_templates_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_data_files()
    # The folders are not empty in the checkout, so the check below checks something.
    for folder in DATA_DIRS:
        assert any(e.startswith(folder + "/") for e in expected), folder
    models = {e.split("/")[2] for e in expected if e.startswith("nlp/models/") and e.count("/") > 2}
    assert models, "no model folder under nlp/models"
    for model in models:  # every shipped model has its weights and its evaluation
        files = {e.rpartition("/")[2] for e in expected if e.startswith(f"nlp/models/{model}/")}
        assert "evaluation.json" in files and any(f.endswith(".safetensors") for f in files)
    assert {"nlp/data/zh_relevance.toml", "nlp/data/zh_userdict.txt"} <= expected
    assert "storage/migrations/versions/0001_initial_schema.py" in expected
    missing = sorted(expected - names)
    assert not missing, f"left out of the wheel: {missing}"
    assert "scheduler.py" in names and "meiyu/cli/__init__.py" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_installed_wheel_answers_nlp_sentiment(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
        + ["--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    outside = tmp_path / "elsewhere"  # no meiyu.toml, no checkout on sys.path[0]
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEIYU_", "PYTHON"))}
    env["PYTHONPATH"] = str(target)
    line = '{"id": 1, "text": "웨이하이 해변 축제에 한국 관광객이 몰려 큰 인기를 끌었다"}\n'

    # Which copy answers: the installed one, with its own models and data.
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, meiyu.cli, nlp.sentiment, nlp.resources as r, reports, storage.migrate;"
            "print(json.dumps({'cli': meiyu.cli.__file__, 'sentiment': nlp.sentiment.__file__,"
            "'reports': reports.__file__, 'storage': storage.migrate.__file__,"
            "'models': str(r.MODELS), 'data': str(r.DATA)}))",
        ],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr[-3000:]
    for key, path in json.loads(where.stdout).items():
        assert Path(path).resolve().is_relative_to(target.resolve()), (key, path)
    assert list(target.glob("nlp/models/*/*.safetensors"))
    assert (target / "nlp/data/zh_relevance.toml").is_file()

    # The console script pip wrote, as a user runs it.
    script = target / "bin" / "meiyu"
    assert script.is_file()
    run = subprocess.run(
        [str(script), "nlp", "sentiment", "--lang", "ko"],
        input=line,
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (answer,) = [json.loads(x) for x in run.stdout.splitlines()]
    assert answer["id"] == 1 and answer["label"] in LABELS
    assert set(answer["scores"]) == set(LABELS)
    assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-5)
