"""The paper suites: published numbers as printed, suite selection, and DVC stage expansion."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from bench.tables.params import load_all, load_params, runnable
from bench.tables.published import HEADER, published_csv
from conftest import ROOT, copy_repo

# Independent transcription (ViT arXiv:2010.11929v2 Table 2; SAM arXiv:2010.01412v3 Tables 10 and 3):
# entry -> (value, dispersion, dispersion_kind, n) exactly as printed.
PRINTED = {
    "vit_t2_h14_jft_imagenet": ("88.55", "0.04", "std", "3"),
    "vit_t2_h14_jft_cifar10": ("99.50", "0.06", "std", "3"),
    "vit_t2_h14_jft_vtab": ("77.63", "0.23", "std", "3"),
    "vit_t2_l16_jft_cifar100": ("93.90", "0.05", "std", "3"),
    "vit_t2_l16_jft_flowers": ("99.74", "0.00", "std", "3"),
    "vit_t2_l16_i21k_imagenet": ("85.30", "0.02", "std", "3"),
    "vit_t2_l16_i21k_real": ("88.62", "0.05", "std", "3"),
    "vit_t2_l16_i21k_cifar10": ("99.15", "0.03", "std", "3"),
    "vit_t2_l16_i21k_cifar100": ("93.25", "0.05", "std", "3"),
    "vit_t2_l16_i21k_pets": ("94.67", "0.15", "std", "3"),
    "vit_t2_l16_i21k_flowers": ("99.61", "0.02", "std", "3"),
    "vit_t2_l16_i21k_vtab": ("72.72", "0.21", "std", "3"),
    "vit_t2_bitl_real": ("90.54", "", "none", ""),
    "vit_t2_bitl_vtab": ("76.29", "1.70", "std", "3"),
    "vit_t2_ns_imagenet": ("88.4", "", "none", ""),
    "vit_t2_ns_real": ("90.55", "", "none", ""),
    "vit_t2_bitl_core_days": ("9.9k", "", "none", ""),
    "vit_t5_h14_real": ("88.70", "", "none", ""),
    "vit_t5_l32_cifar10": ("99.13", "", "none", ""),
    "vit_t9_l16_i21k_kitti_dist": ("79.9", "", "none", ""),
    "sam_t10_samopt_aircraft": ("6.80", "", "none", ""),
    "sam_t10_sam005_aircraft": ("7.06", "", "none", ""),
    "sam_t10_base_birdsnap": ("14.30", "", "none", ""),
    "sam_t10_samopt_cifar10": ("0.88", "", "none", ""),
    "sam_t10_sam005_food101": ("7.06", "", "none", ""),
    "sam_t3_sam_flowers": ("0.63", "0.02", "ci95", "5"),
    "sam_t3_base_birdsnap": ("14.30", "0.18", "ci95", "5"),
    "sam_t3_sam_imagenet": ("15.14", "0.03", "ci95", "5"),
    "sam_t3_base_imagenet": ("15.3", "", "none", ""),
    "sam_t1_wrn200_basic_c10_sam": ("2.7", "0.1", "ci95", "5"),
    "sam_t1_wrn200_aa_c10_sam": ("2.1", "<0.1", "ci95", "5"),
    "sam_t1_pyr_basic_c100_sam": ("14.6", "0.4", "ci95", "5"),
    "sam_t1_pyrsd_aa_c10_sgd": ("1.6", "<0.1", "ci95", "5"),
    "sam_t1_wrn1800_aa_c10_sgd": ("2.2", "<0.1", "ci95", "5"),
    "sam_t2_resnet50_100_sam": ("22.5", "0.1", "ci95", "5"),
    "sam_t2_resnet152_100_std": ("20.4", "<0.0", "ci95", "5"),
    "sam_t2_resnet101_400_sam": ("19.0", "<0.01", "ci95", "5"),
    "sam_t2_resnet50_100_std_top5": ("6.62", "0.11", "ci95", "5"),
    "sam_t2_resnet152_400_sam_top5": ("4.35", "0.04", "ci95", "5"),
    "vit_sam_b16_imagenet": ("80.246", "", "none", ""),
    "vit_sam_b32_real": ("80.216", "", "none", ""),
    "vit_sam_b16_real_top5": ("96.701", "", "none", ""),
    "vit_sam_b32_imagenet_top5": ("91.012", "", "none", ""),
}
TABLE10 = {  # row -> (optimal rho, rho = 0.05, baseline), SAM Table 10
    "aircraft": ("6.80", "7.06", "8.15"), "flowers": ("0.63", "0.81", "1.16"), "pets": ("3.97", "4.15", "4.24"),
    "cars": ("5.18", "5.57", "5.94"), "cifar10": ("0.88", "0.88", "0.95"), "cifar100": ("7.44", "7.56", "7.68"),
    "birdsnap": ("13.64", "13.64", "14.30"), "food101": ("7.02", "7.06", "7.17")}


@pytest.fixture(scope="module")
def published(request):
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        text = published_csv(load_all(load_params("params.yaml")))
    finally:
        os.chdir(cwd)
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], {r[2]: r for r in rows[1:]}


def test_published_csv_reproduces_the_papers(published):
    header, rows = published
    assert header == HEADER == "paper,table,entry,dataset,metric,value,dispersion,dispersion_kind,n".split(",")
    for entry, expected in PRINTED.items():
        assert tuple(rows[entry][5:9]) == expected, entry
    for key, values in TABLE10.items():
        for column, value in zip(("samopt", "sam005", "base"), values):
            row = rows[f"sam_t10_{column}_{key}"]
            assert row[:2] == ["SAM", "Table 10"] and row[4] == "top1_err" and row[5] == value
    assert rows["vit_t2_l16_i21k_cifar10"][:5] == ["ViT", "Table 2", "vit_t2_l16_i21k_cifar10", "cifar10", "top1"]
    assert rows["vit_t2_bitl_core_days"][4] == "tpuv3_core_days"


def test_table9_rows_average_to_the_printed_means(published):
    _, rows = published
    for model, mean in (("h14_jft", 77.6), ("l16_jft", 76.3), ("l16_i21k", 72.7)):
        tasks = [float(r[5]) for e, r in rows.items() if e.startswith(f"vit_t9_{model}_") and not e.endswith("_mean")]
        assert len(tasks) == 19
        assert sum(tasks) / 19 == pytest.approx(mean, abs=0.05)


def test_bench_published_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.cli", "published"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[0] == ",".join(HEADER)
    assert "ViT,Table 2,vit_t2_l16_jft_flowers,oxford_flowers102,top1,99.74,0.00,std,3" in out.splitlines()


@pytest.mark.parametrize("suite,tables", [  # one suite in the fast set, the others in the slow one
    ("vit_table2", {"vit_table2", "vit_table9"}),
    pytest.param("vit_table5", {"vit_table5_i21k"}, marks=pytest.mark.slow),
    pytest.param("sam_table10", {"sam_table10", "sam_table3"}, marks=pytest.mark.slow),
    pytest.param("timm_sam", {"timm_vit_sam", "timm_vit_sam_top5"}, marks=pytest.mark.slow),
    pytest.param("sam_table1", {"sam_table1"}, marks=pytest.mark.slow),
    pytest.param("sam_table2", {"sam_table2", "sam_table2_top5"}, marks=pytest.mark.slow),
])
def test_suite_expands_to_one_stage_per_entry_and_seed(suite, tables, tmp_path):
    """`bench suite use` then DVC's own expansion of dvc.yaml (`dvc stage list`), without running anything."""
    repo = copy_repo(tmp_path / "repo")
    env_bin = Path(sys.executable).parent
    env = {"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(tmp_path)}
    use = subprocess.run(["bench", "suite", "use", suite], cwd=repo, capture_output=True, text=True, env=env)
    assert use.returncode == 0, use.stderr
    params = load_params(repo / "params.yaml")
    assert params.suite == suite
    from bench.tables.table import load_tables

    chosen = load_tables([repo / t for t in params.tables])
    assert set(chosen) == tables
    entries = runnable(chosen)
    assert sorted(params.entries) == sorted(entries)
    listed = subprocess.run(["dvc", "stage", "list"], cwd=repo, capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    stages = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    # the seeds the suite's main table (its first file) asks for (`seeds:`), else params.yaml's
    main_table = next(iter(chosen.values()))
    assert params.seeds == (list(range(main_table.seeds)) if main_table.seeds else [0, 1, 2])
    assert {s for s in stages if s.startswith("train@")} == {f"train@{e}-{s}" for e in entries for s in params.seeds}
    assert {s for s in stages if s.startswith("select@")} == {f"select@{e}" for e in entries}
    assert {"prepare", "plan", "collect", "stats", "report"} <= stages
    # nothing ran
    assert not (repo / "runs").exists() and not (repo / "plan").exists()


def test_unavailable_entries_get_no_stages(published):
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        tables = load_all(load_params("params.yaml"))
    finally:
        os.chdir(cwd)
    entries = {e.id: e for t in tables.values() for e in t.entries.values()}
    assert not entries["vit_t2_h14_jft_imagenet"].runs and "JFT-300M" in entries["vit_t2_h14_jft_imagenet"].unavailable
    assert not entries["vit_t2_l16_i21k_real"].runs  # derived from the ImageNet run's ReaL evaluation
    assert entries["vit_t2_l16_i21k_cifar10"].runs and entries["vit_t2_ns_imagenet"].runs


def test_suite_run_selects_then_hands_over_to_dvc(tmp_path):
    """`bench suite run NAME` = `bench suite use NAME` + `dvc repro` (a stand-in dvc records its arguments)."""
    repo = copy_repo(tmp_path / "repo")
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'dvc-args'}\n")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for extra, expected in (([], "repro"), (["--exp"], "exp run")):
        out = subprocess.run(["bench", "suite", "run", "sam_table10", *extra], cwd=repo, capture_output=True,
                             text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / "dvc-args").read_text().strip() == expected
    assert load_params(repo / "params.yaml").suite == "sam_table10"


def test_suite_use_can_set_the_papers_number_of_runs(tmp_path, capsys):
    import shutil

    from bench.cli import main

    shutil.copy("params.yaml", tmp_path / "params.yaml")
    assert main(["--params", str(tmp_path / "params.yaml"), "suite", "use", "sam_table1", "--seeds", "5"]) == 0
    params = load_params(tmp_path / "params.yaml")
    assert params.seeds == [0, 1, 2, 3, 4] and params.suite == "sam_table1" and len(params.entries) == 60
    assert "60 entries x 5 seeds" in capsys.readouterr().out
    assert main(["--params", str(tmp_path / "params.yaml"), "suite", "use", "embedded"]) == 0
    assert load_params(tmp_path / "params.yaml").seeds == [0, 1, 2, 3, 4]  # kept unless asked
    assert main(["--params", str(tmp_path / "params.yaml"), "suite", "use", "embedded", "--seeds", "1"]) == 2


def test_suite_use_runs_the_seeds_its_tables_ask_for(tmp_path, capsys):
    """A table's `seeds:` is the seeds its cells run; DVC's train matrix is entries x one seed list, so a suite
    runs what its main table (its first file) asks for; `--seeds` overrides; a suite whose main table asks
    nothing keeps params.yaml's."""
    import shutil

    from bench.cli import main

    shutil.copy("params.yaml", tmp_path / "params.yaml")
    path = str(tmp_path / "params.yaml")
    assert main(["--params", path, "suite", "use", "sam_table1"]) == 0
    assert load_params(path).seeds == list(range(12))
    assert "60 entries x 12 seeds (sam_table1's seeds, the suite's main table)" in capsys.readouterr().out
    assert main(["--params", path, "suite", "use", "vit_table2"]) == 0  # Table 9's cells run with Table 2's
    assert load_params(path).seeds == list(range(6)) and "vit_table2's seeds" in capsys.readouterr().out
    assert main(["--params", path, "suite", "use", "vit_table2", "--seeds", "4"]) == 0
    assert load_params(path).seeds == list(range(4))
    assert main(["--params", path, "suite", "use", "embedded"]) == 0
    assert load_params(path).seeds == list(range(4))
    assert "params.yaml's seeds" in capsys.readouterr().out
