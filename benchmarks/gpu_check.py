"""One command that checks the engine on a GPU, printing one summary line per figure.

    bash benchmarks/gpu_check.sh                 # on a machine with one CUDA GPU: about 10 minutes
    bash benchmarks/gpu_check.sh --device cpu    # fast settings, no GPU: what the tests run

Figures (each a `name=value` line at the end, `n/a` with the reason when a
check cannot run on this device):

  mfu               ViT-B/16 at 384 px, bf16, micro-batch 64: model FLOPs utilisation of the
                    harness step against the card's dense bf16 peak (target >= 40% on an H100);
                    benchmarks/train_step.py, which also gives
  sam_over_sgd      SAM's step time over the SGD step's (target <= 2.05), and
  loader_over_step  the streaming loader's images/s over the step's;
  compile_speedup   eager step time over torch.compile's, same model and batch;
  bf16_vs_fp32      the largest difference of the training loss over the first 100 steps, bf16
                    autocast against fp32 (same seed and data), as a share of the starting loss
                    (target <= 0.05). Not the relative difference step by step: the check fits 4
                    batches, its loss falls towards 0.01, and there a difference of 0.01 reads as
                    100% (an H200 run measured 5.58 that way, for curves that ended at 0.019
                    and 0.009 from 4.79);
  peak_memory_gb    peak GPU memory of the ViT-B/16 step;
  mfu_b7            the same step's MFU for EfficientNet-b7 at 600 px, bf16, micro-batch 16
                    (benchmarks/train_step.py, loader not measured): what `bench suite cost`
                    reads as b7's measured MFU (bench/scale/cost.py MEASURED; 2.5% timed by hand
                    on an H200, against the 40% the estimate assumes);
  memory_<entry>    measured against estimated peak memory of one real optimizer step of ViT-B/16
                    (ViT Table 5) and EfficientNet-b7 (SAM Table 10, plain and SAM) at their recipes'
                    micro-batches (benchmarks/memory_check.py);
  embedded_repro    `dvc repro` of the embedded suite on this device in a copy of the
                    repository, and whether its verdicts equal the committed CPU verdicts;
  torchrun_1gpu     a 1-process torchrun smoke run of `bench train` (in the repro's copy).

With --device cpu every check runs at toy sizes (ViT-Ti/16 at 64 px, a 2-entry
embedded subset): the script itself is tested, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], timeout: int, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def echo(text: str) -> None:
    """A check's own output, indented under its summary line (the figures' details: timings, losses, sizes)."""
    for line in text.strip().splitlines():
        print(f"    {line}", flush=True)


def step_figures(device: str, fast: bool, data_dir: str | None = None) -> dict[str, str]:
    args = ["--model", "vit_tiny_patch16_224", "--res", "64", "--batch", "4", "--rounds", "2", "--steps", "1",
            "--loader-batches", "2"] if fast else ["--model", "vit_base_patch16_224", "--res", "384", "--batch", "64"]
    if data_dir:
        args += ["--data-dir", data_dir]
    out = run([sys.executable, "benchmarks/train_step.py", "--device", device, *args], timeout=600)
    echo(out.stdout)
    if out.returncode != 0:
        return {"mfu": f"n/a (train_step.py failed: {out.stderr.strip().splitlines()[-1][:200]})"}
    text = out.stdout
    figures = dict(re.findall(r"(harness_vs_plain|sam_over_sgd|loader_over_step)=([0-9.]+)", text))
    mfu = re.search(r"MFU ([0-9.]+% of [^\n]*)", text)
    figures["mfu"] = mfu.group(1) if mfu else "n/a (CPU: no bf16 peak)"
    peak = re.search(r"peak GPU memory ([0-9.]+) GB", text)
    figures["peak_memory_gb"] = peak.group(1) if peak else "n/a (CPU)"
    return figures


def b7_figures(device: str, fast: bool) -> dict[str, str]:
    """MFU of the harness's step for EfficientNet-b7 at 600 px (depthwise convs: far below ViT's). On the CPU,
    tf_efficientnet_b0 at 64 px checks the plumbing."""
    args = ["--model", "tf_efficientnet_b0", "--res", "64", "--batch", "2", "--rounds", "1", "--steps", "1"] \
        if fast else ["--model", "tf_efficientnet_b7", "--res", "600", "--batch", "16", "--rounds", "3"]
    out = run([sys.executable, "benchmarks/train_step.py", "--device", device, *args, "--loader-batches", "0"],
              timeout=600)
    echo(out.stdout)
    if out.returncode != 0:
        return {"mfu_b7": f"n/a (train_step.py failed: {out.stderr.strip().splitlines()[-1][:200]})"}
    mfu = re.search(r"MFU ([0-9.]+% of [^\n]*)", out.stdout)
    ips = re.search(r"images/s: harness ([0-9.]+)", out.stdout)
    return {"mfu_b7": f"{mfu.group(1)}, {ips.group(1)} images/s" if mfu else
            f"n/a (CPU: no bf16 peak; the check ran: {ips.group(1) if ips else '?'} images/s)"}


def memory_figures(device: str) -> dict[str, str]:
    out = run([sys.executable, "benchmarks/memory_check.py", "--device", device], timeout=600)
    echo(out.stdout)
    figures = dict(re.findall(r"^(memory_\w+)=(.*)$", out.stdout, flags=re.M))
    if out.returncode != 0 and not figures:
        return {"memory": f"FAILED: {out.stderr.strip().splitlines()[-1][:200] if out.stderr.strip() else ''}"}
    return figures


COMPARE = r"""
import sys, json, time, torch, timm, torch.nn.functional as F
sys.path.insert(0, {root!r})
from bench.train.engine import make_engine
device, fast, what = {device!r}, {fast!r}, {what!r}
name, res, batch = ("vit_tiny_patch16_224", 64, 4) if fast else ("vit_base_patch16_224", 384, 64)

def model_and_data(precision):
    torch.manual_seed(0)
    m = timm.create_model(name, num_classes=100, img_size=res)
    engine = make_engine(device, m, precision=precision, compile=what == "compile")
    m = engine.prepare(m)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(batch, 3, res, res, generator=g), torch.randint(0, 100, (batch,), generator=g))
            for _ in range(4)]
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, **engine.optimizer_kwargs())
    return m, engine, data, opt

def step(m, engine, opt, fwd, x, y):
    opt.zero_grad(set_to_none=True)
    with engine.autocast():
        loss = F.cross_entropy(fwd(engine.batch(x.to(device))).float(), y.to(device))
    loss.backward()
    opt.step()
    return float(loss)

def sync():
    if device.startswith("cuda"):
        torch.cuda.synchronize()

if what == "compile":
    times = {{}}
    for label in ("eager", "compiled"):
        m, engine, data, opt = model_and_data("auto")
        # on the CPU only the plumbing is checked: the "eager" backend compiles nothing
        fwd = (torch.compile(m) if device.startswith("cuda") else torch.compile(m, backend="eager")) \
            if label == "compiled" else m
        for i in range(3):
            step(m, engine, opt, fwd, *data[i % 4])  # compilation and warm-up
        sync(); t = time.perf_counter()
        n = 3 if fast else 20
        for i in range(n):
            step(m, engine, opt, fwd, *data[i % 4])
        sync(); times[label] = (time.perf_counter() - t) / n
    print(json.dumps({{"compile_speedup": round(times["eager"] / times["compiled"], 3)}}))
else:
    losses = {{}}
    for precision in ("bf16", "fp32"):
        # on the CPU (no bf16 autocast here) both runs are fp32: only the plumbing is checked
        m, engine, data, opt = model_and_data(precision if device.startswith("cuda") else "fp32")
        losses[precision] = [step(m, engine, opt, m, *data[i % 4]) for i in range(10 if fast else 100)]
    gap = max(abs(a - b) for a, b in zip(losses["bf16"], losses["fp32"]))
    worst = max(range(len(losses["fp32"])), key=lambda i: abs(losses["bf16"][i] - losses["fp32"][i]))
    print(json.dumps({{"bf16_vs_fp32": round(gap / abs(losses["fp32"][0]), 4), "largest_gap": gap, "at_step": worst,
                      "first": losses["fp32"][0], "last_bf16": losses["bf16"][-1],
                      "last_fp32": losses["fp32"][-1]}}))
"""


BF16_TARGET = 0.05  # the largest bf16 - fp32 loss gap over 100 steps, as a share of the starting loss


def compare_figure(device: str, fast: bool, what: str) -> dict[str, str]:
    code = COMPARE.format(root=str(ROOT), device=device, fast=fast, what=what)
    out = run([sys.executable, "-c", code], timeout=600)
    key = "bf16_vs_fp32" if what == "bf16" else "compile_speedup"
    if out.returncode != 0:
        return {key: f"FAILED: {out.stderr.strip().splitlines()[-1][:200]}"}
    data = json.loads(out.stdout.strip().splitlines()[-1])
    echo(out.stdout)
    if device == "cpu":
        why = "bf16 autocast needs CUDA" if what == "bf16" else "the eager backend: nothing compiled"
        return {key: f"n/a on cpu ({why}; the check ran: {data[key]})"}
    if what == "bf16" and data[key] > BF16_TARGET:
        return {key: f"FAILED: {data[key]} of the starting loss, over {BF16_TARGET}"}
    return {key: str(data[key])}


def embedded_repro(device: str, fast: bool, with_torchrun: bool = True, timeout: int = 900,
                   target: str | None = None) -> dict[str, str]:
    """`dvc repro` of the embedded suite in a copy of the working tree; verdicts against the committed ones;
    then (there: plan and data are built) the torchrun smoke run."""
    import pandas as pd
    import yaml

    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    git = shutil.which("git") is not None and (ROOT / ".git").exists()
    for name in working_tree(git) + [".dvc/config"]:
        src = ROOT / name
        if src.is_file() and not name.startswith(("runs/", "results/", "reports/", "select/", "dvc.lock")):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / name)
    env = {"GIT_AUTHOR_NAME": "gpu-check", "GIT_AUTHOR_EMAIL": "gpu-check@localhost",
           "GIT_COMMITTER_NAME": "gpu-check", "GIT_COMMITTER_EMAIL": "gpu-check@localhost"}
    if shutil.which("git"):
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
            run(cmd, 60, cwd=work, env=env)
    else:  # a machine without git: DVC without an SCM (runs record their commit as 'unknown')
        with open(work / ".dvc/config", "a") as f:
            f.write("[core]\n    no_scm = true\n")
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["device"] = device
    if fast:  # two cells of table (a), one seed less: the script is checked, not the figures
        vit = yaml.safe_load((work / "experiments/embedded/vit_digits.yaml").read_text())
        params["suites"]["embedded"] = ["experiments/embedded/vit_digits.yaml"]
        params.update(suite="embedded", seeds=[0, 1], entries=list(vit["entries"]))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.perf_counter()
    try:
        out = run(["dvc", "repro", *([target] if target else [])], timeout, cwd=work, env=env)
    except subprocess.TimeoutExpired as exc:  # say how far it got: the stages DVC started
        text = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stages = re.findall(r"^Running stage '([^']+)'", text, flags=re.M)
        echo("\n".join(stages))
        return {"embedded_repro": f"n/a (timed out after {timeout} s, in stage {len(stages)}: "
                                  f"{stages[-1] if stages else 'none started'})"}
    wall = time.perf_counter() - start
    if out.returncode != 0:
        return {"embedded_repro": f"FAILED after {wall:.0f} s: {(out.stderr or out.stdout).strip()[-300:]}"}
    ours = pd.read_csv(work / "results/verdicts.csv").set_index("entry")
    ref = pd.read_csv(ROOT / "results/verdicts.csv").set_index("entry")
    ran = ours[ours.n_runs > 0]
    same = all(ref.loc[e, "verdict"] == v for e, v in ran.verdict.items() if e in ref.index)
    what = f"`dvc repro {target}`" if target else "`dvc repro`"
    figures = {"embedded_repro": f"{what} ok in {wall:.0f} s on {device}, {len(ran)} cells, verdicts "
                                 + ("equal to the committed CPU verdicts" if same
                                    else "DIFFER from the committed CPU verdicts")}
    for e, row in ran.iterrows():  # each cell: this device's mean against the committed CPU run's
        cpu = f"{ref.loc[e, 'mean']:.2f} {ref.loc[e, 'verdict']}" if e in ref.index else "not in the CPU run"
        print(f"  {e}: {row['mean']:.2f} ({row['values']}) {row['verdict']}; CPU {cpu}", flush=True)
    if with_torchrun:
        figures.update(torchrun_smoke(device, work))
    shutil.rmtree(work, ignore_errors=True)
    return figures


# Not part of the repository's tracked files: built or carried alongside it.
UNTRACKED = (".git/", ".venv/", ".whl/", ".gpudata/", ".dvc/cache/", ".dvc/tmp/", "plan/", "data/tfds/",
             ".pytest_cache/", ".hypothesis/")


def working_tree(git: bool) -> list[str]:
    """The repository's files: git's list where git is, else every file outside what is built or carried (a
    copied working tree on a machine without git)."""
    if git:
        return run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], 60).stdout.split()
    names = []
    for path in ROOT.rglob("*"):
        name = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in name and not (name + "/").startswith(UNTRACKED) \
                and not name.startswith(UNTRACKED) and ".egg-info/" not in name:
            names.append(name)
    return names


def torchrun_smoke(device: str, work: Path) -> dict[str, str]:
    """`bench train` under a 1-process torchrun, in the copy the embedded repro ran in (plan/, data/ built)."""
    out = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
               "bench.cli", "train", "--entry", "vit_p4_digits", "--seed", "7", "--device", device], 600, cwd=work)
    ok = out.returncode == 0 and (work / "runs/vit_p4_digits/7/metrics.json").is_file()
    return {"torchrun_1gpu": "ok" if ok else f"FAILED: {out.stderr.strip()[-300:]}"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--skip", action="append", default=[],
                   choices=("step", "b7", "memory", "compile", "bf16", "repro", "torchrun"))
    p.add_argument("--data-dir", help="the loader check's synthetic TFDS dataset, built already (building needs "
                                      "TensorFlow; default: built in a temp folder)")
    p.add_argument("--repro-timeout", type=int, default=900, help="seconds the embedded dvc repro may take")
    p.add_argument("--repro-target", help="a stage to reproduce up to (e.g. stats: the suite's runs and verdicts, "
                                          "without the study); default: the whole pipeline")
    args = p.parse_args()
    fast = args.device == "cpu"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: --device cuda but CUDA is not available (use --device cpu for the fast check)")
            return 2
        print(f"gpu_check on {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})",
              flush=True)
    checks = [("step", lambda: step_figures(args.device, fast, args.data_dir)),
              ("b7", lambda: b7_figures(args.device, fast)),
              ("memory", lambda: memory_figures(args.device)),
              ("compile", lambda: compare_figure(args.device, fast, "compile")),
              ("bf16", lambda: compare_figure(args.device, fast, "bf16")),
              ("repro", lambda: embedded_repro(args.device, fast, "torchrun" not in args.skip, args.repro_timeout,
                                                     args.repro_target))]
    figures: dict[str, str] = {}
    for name, check in checks:
        if name in args.skip:
            continue
        start = time.perf_counter()
        try:
            got = check()
        except subprocess.TimeoutExpired as exc:
            got = {name: f"n/a (timed out after {exc.timeout} s)"}
        figures.update(got)
        print(f"[{name}] {time.perf_counter() - start:.0f} s: " + ", ".join(f"{k}={v}" for k, v in got.items()),
              flush=True)
    print("== gpu_check summary ==")
    keys = ["mfu", "sam_over_sgd", "harness_vs_plain", "loader_over_step", "peak_memory_gb", "mfu_b7",
            *sorted(k for k in figures if k.startswith("memory")), "compile_speedup", "bf16_vs_fp32",
            "embedded_repro", "torchrun_1gpu"]
    for key in keys:
        if key in figures:
            print(f"{key}={figures[key]}")
    failed = [k for k, v in figures.items() if str(v).startswith(("FAILED", "OUT OF MEMORY"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
