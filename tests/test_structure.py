"""The code's structure: no import cycles, small files, light table parsing, stage deps that match the code."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bench import provenance
from conftest import ROOT

BENCH = ROOT / "bench"
MODULES = provenance.modules(BENCH)
GRAPH = {name: provenance.imports(path, MODULES) for name, path in MODULES.items()}
TOP_LEVEL = {name: provenance.imports(path, MODULES, top_level_only=True) for name, path in MODULES.items()}


def closure(roots: list[str]) -> set[str]:
    """The modules `roots` can run, by the rule bench.provenance.closure states (the study's code digest uses
    it too)."""
    return provenance.closure(roots, BENCH)


def test_import_graph_has_no_cycles():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_cycle_check_sees_function_level_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def g():\n    from bench.stats import holm\n    import bench.io\n")
    assert provenance.imports(f, MODULES) == {"bench.stats", "bench.io"}


def test_no_file_under_bench_exceeds_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in BENCH.rglob("*") if p.suffix in (".py", ".j2")
            for n in [len(p.read_text().splitlines())] if n > 400}
    assert not long, long


@pytest.mark.slow
def test_validate_imports_neither_pandas_nor_scipy():
    code = ("import sys; from bench.cli import main; rc = main(['validate']); "
            "print(rc, sorted(m for m in ('pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1] == "0 []"


# Where each stage's code starts: its handler's module. Every bench module that module imports,
# transitively, can change the stage's outputs, so dvc.yaml must list it. The aggregation stages share
# bench/cli/pipeline.py, so each depends on all of their code (they take seconds); the stages that
# train have a module of their own, so that changing the report does not retrain anything.
STAGE_ROOTS = {
    "prepare": ["bench.cli.pipeline"],
    "plan": ["bench.cli.pipeline"],
    "collect": ["bench.cli.pipeline"],
    "stats": ["bench.cli.pipeline"],
    "report": ["bench.cli.pipeline"],
    "select": ["bench.cli.training"],
    "train": ["bench.cli.training"],
    "study": ["bench.cli.study"],
    "study_stats": ["bench.cli.study"],
}


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(STAGE_ROOTS))
def test_stage_dependencies_cover_the_code_they_run(stage):
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = (deps.get("do") or deps)["deps"]
    needed = {str(MODULES[m].relative_to(ROOT)) for m in closure(STAGE_ROOTS[stage])}
    missing = sorted(p for p in needed if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r} misses dependencies on {missing}"


def test_the_train_stage_check_would_catch_a_missing_module():
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["deps"]
    needed = {str(MODULES[m].relative_to(ROOT)) for m in closure(STAGE_ROOTS["train"])}
    assert "bench/tables/vtab.py" in needed and "bench/train/stage.py" in needed
    without = [d for d in deps if d != "bench/tables/vtab.py"]
    assert _covered("bench/tables/vtab.py", deps) and not _covered("bench/tables/vtab.py", without)


def test_the_study_code_digest_hashes_the_code_the_train_stage_runs():
    """Study trials and final runs are keyed by the code the training entry point can run: the modules the train
    stage depends on."""
    from bench.study.tune import ENTRY

    assert [ENTRY] == STAGE_ROOTS["train"]


def test_a_registry_package_met_first_as_a_parent_is_still_read_in_full():
    """bench.pp.ops is imported by grammar (its registry finds every op module) and is also the parent of
    ops.normalize: whichever way the closure meets it first, every op module is in a training stage's code
    (an op changed must rerun training and retune the studies)."""
    ops = {f"bench.pp.ops.{p.stem}" for p in (BENCH / "pp/ops").glob("*.py") if p.stem != "__init__"}
    for roots in (["bench.pp.ops.normalize", "bench.pp.grammar"], ["bench.pp.grammar", "bench.pp.ops.normalize"]):
        assert ops <= closure(roots)
    assert ops <= closure(STAGE_ROOTS["train"])
