"""End to end: `dvc repro` on a temporary copy of the repository (slow: about a minute).

Runs the ViT embedded table with two seeds, then checks that a second
`dvc repro` runs nothing and that editing one entry's recipe reruns only that
entry's train stages and the aggregation after them.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import copy_repo

pytestmark = pytest.mark.slow


def _run(cmd, cwd):
    env_bin = Path(sys.executable).parent
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(cwd), "GIT_AUTHOR_NAME": "t",
                               "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def test_dvc_repro_end_to_end(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    vit = yaml.safe_load((repo / "experiments/embedded/vit_digits.yaml").read_text())
    params["suites"]["embedded"] = ["experiments/embedded/vit_digits.yaml"]
    params.update(suite="embedded", seeds=[0, 1], entries=list(vit["entries"]))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "commit", "-qam", "vit only"], repo)

    first = _run(["dvc", "repro"], repo)
    assert first.returncode == 0, first.stdout + first.stderr
    assert len([s for s in _ran(first.stdout) if s.startswith("train@")]) == 2 * len(vit["entries"])
    html = (repo / "reports/index.html").read_text()
    assert vit["title"] in html and vit["layout"]["columns"][-1] in html
    # the paper tables are in the report before any GPU run: private weights and not-run cells with reasons
    assert "ViT Table 2" in html and "private weights: ViT-H/14 pre-trained on JFT-300M" in html
    assert "not run yet" in html
    verdicts = pd.read_csv(repo / "results/verdicts.csv")
    assert len(verdicts[verdicts.table == "embedded_vit"]) == len(vit["entries"])
    assert set(verdicts[verdicts.table != "embedded_vit"].verdict) == {"UNAVAILABLE"}
    for entry in vit["entries"]:
        for seed in (0, 1):
            assert (repo / "runs" / entry / str(seed) / "metrics.json").is_file()

    again = _run(["dvc", "repro"], repo)
    assert again.returncode == 0 and _ran(again.stdout) == []

    text = (repo / "experiments/embedded/vit_digits.yaml").read_text()
    edited = text.replace("  vit_p2_digits:\n    <<: *vit\n", "  vit_p2_digits:\n    <<: *vit\n    recipe:\n"
                          "      <<: *vit_recipe\n      steps: 100\n", 1)
    assert edited != text
    text = edited
    (repo / "experiments/embedded/vit_digits.yaml").write_text(text)
    third = _run(["dvc", "repro"], repo)
    assert third.returncode == 0, third.stdout + third.stderr
    ran = set(_ran(third.stdout))
    assert {s for s in ran if s.startswith("train@")} == {"train@vit_p2_digits-0", "train@vit_p2_digits-1"}
    assert {"collect", "stats", "report"} <= ran
    assert not {s for s in ran if s.startswith("select@")} - {"select@vit_p2_digits"}


def test_bad_table_stops_pipeline_without_partial_outputs(tmp_path):
    from bench.cli import main

    (tmp_path / "params.yaml").write_text("suite: s\nsuites: {s: [t.yaml]}\nseeds: [0, 1]\nentries: [e]\n")
    (tmp_path / "t.yaml").write_text("version: 1\nid: t\n  bad: [\n")
    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["plan"]) == 2
        assert not (tmp_path / "plan").exists()
    finally:
        os.chdir(cwd)
