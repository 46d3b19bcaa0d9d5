"""The harness's training step against the leanest correct PyTorch step, SAM against SGD, and the loader.

    python benchmarks/train_step.py [--device cpu|cuda] [--model NAME] [--res N] [--batch N]

In one process, side by side and interleaved (round after round, each variant
a few steps per round, so drift in machine load hits all of them alike):

  harness  the step `bench train` runs: bench.train.sam.sgd_step through the
           engine (autocast, memory format), the schedule step included;
  plain    what any user would write: zero_grad, forward, cross-entropy,
           backward, optimizer.step, with the same model, batch, precision
           and optimizer (SGD, momentum 0.9; fused on CUDA for both);
  sam      bench.train.sam.sam_step (rho 0.05): two forward-backward passes;
  loader   the streaming input pipeline alone (tfds.data_source ->
           decode -> inception crop + flip at --res -> tensors), over a
           synthetic TFDS dataset of 500x375 JPEGs, DataLoader workers as in
           training.

Median step times give the ratios on the last line:

  harness_vs_plain=<plain step time / harness step time (= harness img/s over plain img/s)>
  sam_over_sgd=<SAM step time / harness SGD step time>
  loader_over_step=<loader img/s / harness step img/s>

With --device cuda it also prints the model FLOPs utilisation (MFU) of the
harness step against the card's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import timm  # noqa: E402  (torch and torchvision before TensorFlow)

from bench.train.engine import make_engine  # noqa: E402
from bench.train.sam import sam_step, sgd_step  # noqa: E402

def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(step, device: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def step_functions(args, device: str):
    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=100, img_size=args.res) if "vit" in args.model else \
        timm.create_model(args.model, num_classes=100)
    engine = make_engine(device, model, precision="auto")
    twins = [engine.prepare(timm.create_model(args.model, num_classes=100, **(
        {"img_size": args.res} if "vit" in args.model else {}))) for _ in range(3)]
    for t in twins:
        t.load_state_dict(model.state_dict())
        t.train()
    kw = engine.optimizer_kwargs()
    opts = [torch.optim.SGD(t.parameters(), lr=0.01, momentum=0.9, **kw) for t in twins]
    schedule = torch.optim.lr_scheduler.LambdaLR(opts[0], lambda s: 1.0)
    x = torch.randn(args.batch, 3, args.res, args.res, device=device)
    y = torch.randint(0, 100, (args.batch,), device=device)
    xb = engine.batch(x)

    def loss_fn(logits, target):
        return F.cross_entropy(logits.float(), target)

    def harness():
        sgd_step(twins[0], opts[0], loss_fn, xb, y, None, 1, 0.0, engine.autocast)
        schedule.step()

    def plain():
        opts[1].zero_grad(set_to_none=True)
        with engine.autocast():
            loss = F.cross_entropy(twins[1](xb), y)
        loss.backward()
        opts[1].step()

    def sam():
        sam_step(twins[2], opts[2], loss_fn, xb, y, 0.05, False, None, 1, None, 0.0, engine.autocast)

    return engine, twins[0], x, y, {"harness": harness, "plain": plain, "sam": sam}


def synthetic_jpeg(data_dir: str | None) -> Path:
    """The synthetic TFDS dataset of 500x375 JPEGs (bench.data.synthetic), built once under `data_dir`."""
    import tensorflow_datasets as tfds

    from bench.data.builders import register

    register()  # synthetic_jpeg
    data_dir = Path(data_dir or Path(tempfile.gettempdir()) / "bench-synthetic-tfds")
    if not tfds.builder("synthetic_jpeg", data_dir=str(data_dir)).is_prepared():
        # Built in a child process: building imports TensorFlow, after which this process would
        # not fork DataLoader workers (bench.data.stream), and the loader would not be measured as it runs.
        import subprocess

        code = ("import torchvision, tensorflow_datasets as tfds; from bench.data.builders import register; "
                "register(); tfds.builder('synthetic_jpeg', "
                f"data_dir={str(data_dir)!r}, file_format='array_record').download_and_prepare()")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    return data_dir


def loader_images_per_s(args, device: str, batches: int) -> float:
    from bench.pp.grammar import parse
    from bench.data.spec import data_spec
    from bench.data.stream import _workers, stream_train

    data_dir = synthetic_jpeg(args.data_dir)
    print(f"loader: {_workers()} DataLoader worker process(es)", flush=True)
    pipeline = parse(f"inception_crop({args.res})|flip_lr|normalize(vit)")  # ViT fine-tuning's training ops
    spec = data_spec("synthetic_jpeg", data_dir)
    feed = stream_train(spec, "train", pipeline, args.batch, data_dir, seed=0, device=device)
    next(feed.batches)  # worker start-up
    start = time.perf_counter()
    for _ in range(batches):
        next(feed.batches)
    _sync(device)
    return batches * args.batch / (time.perf_counter() - start)


def model_flops(args) -> float:
    """FLOPs of one training step (forward and backward) at --batch, counted on the meta device (no
    memory, no time on the card), as `bench suite cost` counts them (a grouped convolution's backward
    counted right: before, EfficientNet's MFU would have read 17 times too high)."""
    from bench.train.footprint import measure

    kwargs = {"img_size": args.res} if "vit" in args.model else {}
    return measure(args.model, kwargs, args.res, 3, num_classes=100).flops_per_image * args.batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--model", default="vit_tiny_patch16_224", help="timm model (default: ViT-Ti/16)")
    p.add_argument("--res", type=int, default=384, help="input resolution (default 384, the paper suites')")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2, help="steps per variant per round")
    p.add_argument("--loader-batches", type=int, default=12, help="0: the loader is not measured")
    p.add_argument("--data-dir", help="where to build the synthetic JPEG dataset (default: a temp folder)")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    torch.set_num_threads(torch.get_num_threads())
    engine, model, x, y, steps = step_functions(args, args.device)
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}), "
          f"model {args.model}, {args.res} px, batch {args.batch}, precision {engine.precision}, "
          f"channels_last {engine.channels_last}, torch {torch.__version__}", flush=True)
    for fn in steps.values():  # warm-up: allocator, autotuning, first-call costs
        _time(fn, args.device, 2)
    times = {k: [] for k in steps}
    for r in range(args.rounds):
        for name, fn in steps.items():
            times[name] += _time(fn, args.device, args.steps)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms"
                                                           for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    loader = loader_images_per_s(args, args.device, args.loader_batches) if args.loader_batches else None
    step_ips = args.batch / med["harness"]
    print(f"images/s: harness {step_ips:.1f}, plain {args.batch / med['plain']:.1f}, sam {args.batch / med['sam']:.1f}, "
          f"loader {f'{loader:.1f}' if loader else 'not measured'}")
    if args.device == "cuda":
        from bench.scale.cost import CARDS, card_of

        flops = model_flops(args)
        name = torch.cuda.get_device_name()
        card = card_of(name)
        peak = CARDS[card][0] if card else None
        achieved = flops / med["harness"] / 1e12
        mfu = f"{100 * achieved / peak:.1f}% of {peak:g} TFLOPS bf16 dense ({name})" if peak else f"(no peak known for {name})"
        print(f"model FLOPs per step {flops / 1e12:.2f} TFLOP; achieved {achieved:.1f} TFLOPS; MFU {mfu}")
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GB (batch {args.batch})")
    print(f"harness_vs_plain={med['plain'] / med['harness']:.3f} sam_over_sgd={med['sam'] / med['harness']:.3f}"
          + (f" loader_over_step={loader / step_ips:.3f}" if loader else ""))


if __name__ == "__main__":
    main()
