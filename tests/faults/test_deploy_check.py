"""`manage.py check --deploy` is clean with the documented production environment."""

import os
import secrets
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.workers import ROOT, worker_env


def production_env(**overrides: str) -> dict[str, str]:
    """Only what docs/operations.md tells an operator to set; the rest are the defaults.
    (Not os.environ: the test settings put plain-HTTP values there.)"""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "switchboard.example.com",
        # Django's checks read the PostgreSQL version: any reachable database will do.
        "DATABASE_URL": worker_env()["DATABASE_URL"],
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production(db):
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db  # the checks ask PostgreSQL for its version
def test_check_deploy_notices_weakened_settings(settings):
    # The clean result above means something only if the check does see these (in-process:
    # a second subprocess would double this file's time).
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", "--deploy", "--fail-level", "WARNING")
    assert "security.W008" in str(raised.value) and "security.W004" in str(raised.value)
