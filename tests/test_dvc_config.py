"""The repository's DVC configuration: nothing leaves the machine unasked (no usage analytics), and the plots
render offline."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys

from conftest import ROOT


def test_dvc_usage_analytics_are_off_for_this_repository(tmp_path):
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc/config")
    assert config.get("core", "analytics") == "false"
    # DVC's own reading of it, as a `dvc` command in a copy of the repository would: no analytics daemon, no
    # analytics file in the temporary directory
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_TEST", "DVC_NO_ANALYTICS")}
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc/config").write_bytes((ROOT / ".dvc/config").read_bytes())
    out = subprocess.run([sys.executable, "-c", "from dvc.analytics import is_enabled; print(is_enabled())"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
