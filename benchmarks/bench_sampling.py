"""Sampling throughput: particle-steps per second against N, per sampler, network preset,
device and implementation, each also as a ratio against the plain-module (eager) baseline
measured in the same run, with the network's GFLOP/s against a matmul peak from the same run.

Implementations (``--impls``, comma-separated), each run through the back-end dispatcher
(dexplorer.engine.backends) with the back-end named in brackets forced:
  eager            [torch] the network module as written (the baseline)
  chunked          [chunked] dexplorer.core.fused.ChunkedMLP
  compiled         [chunked] ChunkedMLP with a torch.compile'd chunk kernel (mode "default")
  reduce-overhead  [chunked] the same with mode "reduce-overhead" (CUDA graphs; CUDA only)
  bf16             [torch] the module under bfloat16 autocast; error_vs_eager shows the
                   accuracy kept
  triton           [triton] the whole trajectory in one Triton kernel, hidden layers in tf32
                   (CUDA; euler, midpoint and heun only)
  triton-bf16      [triton] the same with bfloat16 hidden layers
                   (their tensor-core GFLOP/s exceed the float32 matmul peak: vs_peak > 1)
  native           [native] the whole trajectory in a compiled C kernel on the CPU threads
                   (euler, midpoint, heun)
  wgsl             [wgsl] the whole trajectory in one WGSL compute dispatch on the wgpu
                   adapter (the GPU through Vulkan; lavapipe on a machine without one, where
                   it is far slower than torch), float32, read back whole

    python benchmarks/bench_sampling.py --quick --json out/bench_sampling.json
    python benchmarks/bench_sampling.py --device cuda \
        --impls eager,chunked,compiled,reduce-overhead,bf16
    python benchmarks/bench_sampling.py --device cuda --presets original --samplers midpoint \
        --sizes 1000000,4000000 --steps 50 --impls eager,bf16,triton,triton-bf16
    python benchmarks/bench_sampling.py --device cuda --model checkerboard/flow \
        --presets original,default --samplers euler,heun --sizes 1000000,4000000,10000000 \
        --steps 50 --impls eager,bf16,triton,triton-bf16 --tune 4000000

Accuracy: ``error_vs_eager`` is the largest distance of a final position from the float32
eager one (the same noise); ``vs_float32`` is a bfloat16 implementation's rate over its
float32 one (bf16 over eager, triton-bf16 over triton). With ``--model`` (a shipped flow
model, which has the default preset's shape) that preset's rows run the trained network and
``quality`` is the sample-quality ratio of the final positions against the model's data
(core.metrics: 1 is as close as held-out data). On every device the bf16 section compares
the Triton kernel's arithmetic in float32 and in bfloat16, emulated in torch
(core.triton_sampler.reference), so bf16's accuracy shows without a GPU too. On CUDA,
``ceiling`` is the rate the measured bfloat16 matmul peak allows for the network's hidden
layers alone, and ``--tune N`` times the Triton bf16 kernel on the default preset at N
particles for several blocks and warps, called directly.
"""

from __future__ import annotations

import contextlib
import copy
import time

import torch
from common import parser, print_table, timed, write_json

from dexplorer.core import triton_sampler, whole_run
from dexplorer.core.checkpoints import Checkpoint, load_checkpoint
from dexplorer.core.datasets import make_dataset
from dexplorer.core.fields import NetworkField
from dexplorer.core.fused import ChunkedMLP
from dexplorer.core.metrics import QualityReference
from dexplorer.core.networks import PRESETS, NetworkConfig, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.pretrained import pretrained_path
from dexplorer.core.samplers import SAMPLERS, SamplerSettings, initial_noise
from dexplorer.engine import backends
from dexplorer.engine.devices import choose_device

EVALUATIONS = {
    "euler": 1,
    "midpoint": 2,
    "heun": 2,
    "rk4": 4,
    "ddpm": 1,
    "ddim": 1,
    "euler_maruyama": 2,
}
"""Network evaluations per step (Euler-Maruyama asks for the velocity and the noise)."""
TRITON_PRECISIONS = {"triton": "tf32", "triton-bf16": "bf16"}
IMPLS = {
    "eager": "torch",
    "chunked": "chunked",
    "compiled": "chunked",
    "reduce-overhead": "chunked",
    "bf16": "torch",
    "triton": "triton",
    "triton-bf16": "triton",
    "native": "native",
    "wgsl": "wgsl",
}
"""Each implementation and the back-end it forces."""
FLOAT32 = {"bf16": "eager", "triton-bf16": "triton"}
"""Each bfloat16 implementation and the float32 one its rate is compared with."""
HEADLINE = ("original", "midpoint", 50_000, 200)
TUNINGS = ((64, 4), (128, 4), (128, 8), (256, 8))
"""The (particles per program, warps) that ``--tune`` tries."""


def flops_per_evaluation(config: NetworkConfig) -> int:
    """Multiply-adds x 2 of one network evaluation (the time features are per call)."""
    w = config.width
    return 2 * (2 * w + (config.depth - 1) * w * w + w * 2)


def matmul_peak(device: torch.device) -> float:
    """GFLOP/s of a large float32 matmul: the ceiling the network's figures compare with."""
    a = torch.randn(2048, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    out = torch.empty(2048, 1024, device=device)
    seconds = timed(lambda: torch.mm(a, b, out=out), device, 5)
    return 2 * 2048 * 1024 * 1024 / seconds / 1e9


def bf16_peak(device: torch.device) -> float | None:
    """TFLOP/s of a large bfloat16 matmul on CUDA (the tensor cores' ceiling), else None."""
    if device.type != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    out = torch.empty_like(a)
    seconds = timed(lambda: torch.mm(a, a, out=out), device, 10)
    return 2 * 8192**3 / seconds / 1e12


def hidden_flops(config: NetworkConfig) -> int:
    """Multiply-adds x 2 of the square hidden layers of one evaluation (the tensor cores')."""
    return 2 * (config.depth - 1) * config.width**2


def uses_model(preset: str, model: Checkpoint | None) -> bool:
    """Whether ``preset``'s rows run the trained ``model`` (it has that preset's shape)."""
    return model is not None and PRESETS[preset] == model.network.config


def make_field(
    preset: str, impl: str, device: torch.device, model: Checkpoint | None = None
) -> NetworkField:
    torch.manual_seed(0)
    if uses_model(preset, model):
        network = copy.deepcopy(model.network).to(device)
    else:
        network = build_network(preset).to(device).eval().requires_grad_(False)
    field = NetworkField(network, make_objective("flow"))
    if impl in ("compiled", "reduce-overhead"):
        field.fast = ChunkedMLP(network, compile="default" if impl == "compiled" else impl)
    return field


def backend(
    field: NetworkField, sampler: str, impl: str, n: int, steps: int, device: torch.device
) -> backends.Backend:
    """The dispatcher's back-end for ``impl``; ValueError when it cannot run this."""
    precision = TRITON_PRECISIONS.get(impl)
    return backends.choose(field, sampler, device, n, steps, force=IMPLS[impl], precision=precision)


def measure(
    preset: str, sampler: str, impl: str, n: int, steps: int, device, repeats: int, model=None
):
    """(particle-steps per second, final positions, seconds of the first call)."""
    field = make_field(preset, impl, device, model)
    chosen = backend(field, sampler, impl, n, steps, device)
    out = torch.empty((steps + 1, n, 2), device=device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if impl == "bf16"
        else contextlib.nullcontext()
    )

    def run() -> None:
        x0, generator = initial_noise(n, 0, device)  # the same trajectories for every impl
        with autocast:
            backends.trajectory(chosen, x0, SamplerSettings(generator=generator), out)

    start = time.perf_counter()
    run()  # warm-up; compiles the kernel for the compiled implementations
    first = time.perf_counter() - start
    seconds = timed(run, device, repeats, warm_up=False)
    if field.fast is not None and field.fast.compiled is None:
        print(f"  ({impl} fell back to the eager kernel)")
    return n * steps / seconds, out[-1].float().clone(), first


def bf16_accuracy(preset: str, sampler: str, n: int, steps: int, device, model, reference) -> dict:
    """The Triton kernel's arithmetic in float32 and in bfloat16 (emulated in torch, on any
    device) from the same noise: the largest and median distance between their final
    positions, and the quality of each when the preset runs the trained model."""
    field = make_field(preset, "eager", device, model)
    x0, _ = initial_noise(n, 0, device)
    finals = {
        precision: triton_sampler.reference(field, x0, steps, sampler, precision)[-1]
        for precision in ("ieee", "bf16")
    }
    distance = (finals["bf16"] - finals["ieee"]).norm(dim=1)
    row = {
        "preset": preset,
        "sampler": sampler,
        "n": n,
        "steps": steps,
        "max_error": float(distance.max()),
        "median_error": float(distance.median()),
    }
    if reference is not None and uses_model(preset, model):
        row["quality_float32"] = reference.measure(finals["ieee"].cpu()).ratio
        row["quality_bf16"] = reference.measure(finals["bf16"].cpu()).ratio
    return row


def tune(preset: str, sampler: str, n: int, steps: int, device, model) -> list[dict]:
    """The Triton bf16 kernel's rate at ``n`` particles for each of :data:`TUNINGS`."""
    field = make_field(preset, "triton-bf16", device, model)
    x0, _ = initial_noise(n, 0, device)
    out = torch.empty((steps + 1, n, 2), device=device)
    rows = []
    for block, warps in TUNINGS:
        seconds = timed(
            lambda b=block, w=warps: triton_sampler.sample(
                field, x0, steps, sampler, out, "bf16", block=b, num_warps=w
            ),
            device,
        )
        rate = n * steps / seconds
        rows.append({"preset": preset, "sampler": sampler, "n": n, "steps": steps})
        rows[-1].update({"block": block, "warps": warps, "particle_steps_per_s": rate})
        print(f"  tune {preset} {sampler} block {block} warps {warps}: {rate:.3e}", flush=True)
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--impls",
        help=f"eager plus any of {', '.join(IMPLS)} (default: eager,chunked,compiled, and "
        "native on a CPU; --quick leaves compiled out: compiling takes 5-30 s here)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--sizes", help="comma-separated particle counts instead of the defaults")
    p.add_argument("--samplers", help="comma-separated samplers instead of the defaults")
    p.add_argument(
        "--presets", help=f"comma-separated presets (default: all of {', '.join(PRESETS)})"
    )
    p.add_argument("--steps", type=int, help="steps per run instead of 4 to 50 after N")
    p.add_argument(
        "--model", help="a shipped flow model (DATASET/flow) run for its preset, with quality"
    )
    p.add_argument(
        "--tune",
        type=int,
        metavar="N",
        help="time the default preset's Triton bf16 kernel's blocks at N (CUDA)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # One compiled kernel per preset, chunk shape and mode: more than dynamo's default limit.
    torch._dynamo.config.cache_size_limit = 64
    device = choose_device(args.device)
    default_impls = "eager,chunked" if args.quick else "eager,chunked,compiled"
    if device.type == "cpu":
        default_impls += ",native"
    impls = [i for i in (args.impls or default_impls).split(",") if i]
    unknown = set(impls) - set(IMPLS)
    if unknown or "eager" not in impls:
        raise SystemExit(f"--impls takes eager plus any of {', '.join(IMPLS)}")
    if device.type != "cuda" and "reduce-overhead" in impls:
        impls.remove("reduce-overhead")
    if "wgsl" in impls:
        print(f"  (wgsl runs on {backends.wgsl_sampler().adapter_summary})")
    model = reference = None
    if args.model:
        try:
            model = load_checkpoint(pretrained_path(args.model))
        except ValueError as error:
            raise SystemExit(f"--model: {error}") from None
        if model.objective.prediction != "velocity" or model.conditional:
            raise SystemExit("--model takes an unconditional flow model (DATASET/flow)")
        reference = QualityReference(make_dataset(model.dataset, 8000, 0).points)
    if args.quick:
        sizes, samplers, repeats = [10_000, 50_000], ["euler", "midpoint"], 1
        headline_steps = 20
    elif device.type == "cuda":
        sizes = [10_000, 100_000, 1_000_000, 4_000_000, 10_000_000]
        samplers, repeats = list(SAMPLERS), 3
        headline_steps = HEADLINE[3]
    else:
        sizes, samplers, repeats = [1_000, 10_000, 100_000, 1_000_000], list(SAMPLERS), 2
        headline_steps = HEADLINE[3]
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    if args.samplers:
        samplers = args.samplers.split(",")
    presets = args.presets.split(",") if args.presets else list(PRESETS)
    if set(presets) - set(PRESETS):
        raise SystemExit(f"--presets takes any of {', '.join(PRESETS)}")
    peak = matmul_peak(device)
    print(f"matmul peak: {peak:.1f} GFLOP/s on {device.type}, {torch.get_num_threads()} threads")
    tensor_peak = bf16_peak(device)
    if tensor_peak is not None:
        print(f"bf16 matmul peak: {tensor_peak:.0f} TFLOP/s")
    plan = [
        (preset, sampler, n, args.steps or (10 if args.quick else max(4, min(50, 2_000_000 // n))))
        for n in sizes
        for preset in presets
        for sampler in samplers
    ]
    plan.insert(0, (*HEADLINE[:3], headline_steps))
    rows = []
    for index, (preset, sampler, n, steps) in enumerate(plan):
        baseline = reference_final = None
        rates: dict[str, float] = {}
        for impl in impls:
            try:
                field = make_field(preset, impl, device, model)
                backend(field, sampler, impl, n, steps, device)
            except ValueError as error:
                print(f"  ({impl} skipped for {preset} {sampler}: {error})")
                continue
            rate, final, first = measure(preset, sampler, impl, n, steps, device, repeats, model)
            rates[impl] = rate
            baseline = baseline or rate
            reference_final = final if reference_final is None else reference_final
            flops = rate * EVALUATIONS[sampler] * flops_per_evaluation(PRESETS[preset])
            row = {
                "case": "headline" if index == 0 else "",
                "device": device.type,
                "n": n,
                "steps": steps,
                "preset": preset,
                "sampler": sampler,
                "impl": impl,
                "particle_steps_per_s": rate,
                "vs_eager": rate / baseline,
                "vs_float32": rate / rates[FLOAT32[impl]] if FLOAT32.get(impl) in rates else None,
                "gflops": flops / 1e9,
                "vs_peak": flops / 1e9 / peak,
                "error_vs_eager": float((final - reference_final).abs().max()),
                "quality": None,
                "first_call_s": first,
            }
            if reference is not None and uses_model(preset, model):
                row["quality"] = reference.measure(final.cpu()).ratio
            if tensor_peak is not None:
                per_step = EVALUATIONS[sampler] * hidden_flops(PRESETS[preset])
                row["ceiling"] = tensor_peak * 1e12 / per_step
            rows.append(row)
            print(
                f"{n:>9} x {steps:<3} {preset:>8} {sampler:>14} {impl:>15}: {rate:.3e} "
                f"particle-steps/s ({rate / baseline:.2f}x eager, {flops / 1e9:.1f} GFLOP/s)",
                flush=True,
            )
    print()
    columns = ["case", "device", "n", "steps", "preset", "sampler", "impl"]
    columns += ["particle_steps_per_s", "vs_eager", "vs_float32", "gflops", "vs_peak"]
    columns += ["error_vs_eager", "quality"] + (["ceiling"] if tensor_peak else [])
    print_table(rows, columns)
    headline = {r["impl"]: r for r in rows if r["case"] == "headline"}
    for impl, row in headline.items():
        print(
            f"headline original midpoint 50k x {row['steps']} {impl}: "
            f"{row['particle_steps_per_s']:.3e} particle-steps/s, {row['gflops']:.1f} GFLOP/s "
            f"({row['vs_peak']:.0%} of the {peak:.0f} GFLOP/s matmul peak)"
        )
    payload = {
        "benchmark": "sampling",
        "matmul_peak_gflops": peak,
        "bf16_peak_tflops": tensor_peak,
        "model": args.model,
        "headline": headline,
        "results": rows,
    }
    write_json(args.json, payload)  # kept should what follows fail or run out of time
    accuracy_n = 2_000 if args.quick else 20_000
    accuracy_steps = args.steps or (10 if args.quick else 100)
    accuracy = [
        bf16_accuracy(preset, sampler, accuracy_n, accuracy_steps, device, model, reference)
        for preset in presets
        for sampler in samplers
        if sampler in whole_run.SAMPLERS
    ]
    if accuracy:
        print()
        print("bf16: the Triton kernel's arithmetic, bfloat16 against float32 (torch emulation)")
        print_table(accuracy, list(dict.fromkeys(k for row in accuracy for k in row)))
    tuning = []
    if args.tune and device.type == "cuda" and triton_sampler.triton_installed():
        print()
        for sampler in samplers:
            if sampler in whole_run.SAMPLERS:
                tuning += tune("default", sampler, args.tune, args.steps or 50, device, model)
    write_json(args.json, {**payload, "bf16_accuracy": accuracy, "tuning": tuning})


if __name__ == "__main__":
    main()
