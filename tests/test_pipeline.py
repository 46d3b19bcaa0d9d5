"""End to end: `dvc repro` on a temporary copy of the repository (slow: about a minute).

Runs the ViT embedded table with two seeds, then checks that a second
`dvc repro` runs nothing and that editing one entry's recipe reruns only that
entry's train stages and the aggregation after them.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(cmd, cwd):
    env_bin = Path(sys.executable).parent
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(cwd), "GIT_AUTHOR_NAME": "t",
                               "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def test_dvc_repro_end_to_end(tmp_path):
    repo = tmp_path / "repo"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for name in tracked + [".dvc/config"]:
        src = ROOT / name
        if src.is_file() and not name.startswith(("runs/", "results/", "reports/", "dvc.lock")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    vit = yaml.safe_load((repo / "experiments/embedded/vit_digits.yaml").read_text())
    params.update(tables=["experiments/embedded/vit_digits.yaml"], seeds=[0, 1], entries=list(vit["entries"]))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _run(["git", "init", "-q"], repo).returncode == 0
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "copy"], repo)

    first = _run(["dvc", "repro"], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    assert len([s for s in _ran(first.stdout) if s.startswith("train@")]) == 8
    html = (repo / "reports/index.html").read_text()
    assert "Embedded (a): ViT variants on digits" in html and "ViT-w64-d2 / patch 2" in html
    verdicts = (repo / "results/verdicts.csv").read_text()
    assert verdicts.count("\n") == 5  # header + 4 cells
    for entry in vit["entries"]:
        for seed in (0, 1):
            assert (repo / "runs" / entry / str(seed) / "metrics.json").is_file()

    again = _run(["dvc", "repro"], repo)
    assert again.returncode == 0 and _ran(again.stdout) == []

    text = (repo / "experiments/embedded/vit_digits.yaml").read_text()
    text = text.replace("  vit_p2_digits:\n    <<: *vit\n", "  vit_p2_digits:\n    <<: *vit\n    recipe:\n"
                        "      <<: *vit_recipe\n      steps: 20\n", 1)
    (repo / "experiments/embedded/vit_digits.yaml").write_text(text)
    third = _run(["dvc", "repro"], repo)
    assert third.returncode == 0, third.stdout + third.stderr
    ran = set(_ran(third.stdout))
    assert {s for s in ran if s.startswith("train@")} == {"train@vit_p2_digits-0", "train@vit_p2_digits-1"}
    assert {"collect", "stats", "report"} <= ran and "prepare" not in ran


def test_bad_table_stops_pipeline_without_partial_outputs(tmp_path):
    from bench.cli import main

    (tmp_path / "params.yaml").write_text("tables: [t.yaml]\nseeds: [0]\nentries: [e]\n")
    (tmp_path / "t.yaml").write_text("version: 1\nid: t\n  bad: [\n")
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["plan"]) == 2
        assert not (tmp_path / "plan").exists()
    finally:
        os.chdir(cwd)
