"""What each ``dexplorer`` subcommand does (the parser lives in :mod:`dexplorer.cli`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .cli import check_y_down, warn
from .core import limits, models, outputs
from .core.checkpoints import Checkpoint
from .core.choices import (
    DEFAULT_SECONDS,
    OBJECTIVE_NOTES,
    PRESET_NOTES,
    SAMPLER_NOTES,
    ReflowSettings,
    TrainingError,
    TrainSettings,
)
from .core.datasets import DATASETS, IDENTITY, Dataset, DatasetError, Normalisation, make_dataset
from .core.fields import Field
from .core.guesses import guesses, trajectory_guesses
from .core.importers import load_dataset_file
from .core.likelihood import (
    LikelihoodError,
    density_time,
    log_density_grid,
    negative_log_likelihood,
)
from .core.metrics import QualityError, QualityReference
from .core.networks import PRESETS, count_parameters
from .core.objectives import make_objective
from .core.pretrained import (
    PRETRAINED_LEARNING_RATE,
    PRETRAINED_OBJECTIVES,
    PRETRAINED_POINTS,
    PRETRAINED_STEPS,
    QUALITY_SAMPLER,
    model_filename,
    shipped_models,
)
from .core.reflow import SAMPLER as REFLOW_SAMPLER
from .core.reflow import reflow, reflow_problem, straightening
from .core.runs import Data, Run, class_problem
from .core.samplers import (
    SamplerSettings,
    finite_particles,
    nonfinite_message,
    sample,
)
from .core.sources import (
    CUSTOM_SOURCE,
    Source,
    gaussian_only,
    initial_positions,
    make_source,
    name_problem,
    source_names,
)
from .core.straightness import adds_noise, straightness
from .core.training import Progress, Trainer
from .engine import backends
from .engine.devices import choose_device
from .engine.likelihood import HELD_OUT_SEED, NLL_POINTS
from .user_files import POINT_SUFFIXES, UserError, check_output, write_points


def cmd_list(_: argparse.Namespace) -> None:
    print("datasets:")
    for name, (title, _generator) in DATASETS.items():
        print(f"  {name:16s} {title}")
    print(f"  {'custom':16s} any points (--data FILE: .csv, .json, .png, .jpg)")
    print("objectives:")
    for name, note in OBJECTIVE_NOTES.items():
        print(f"  {name:16s} {note}")
    print("samplers:")
    for name, note in SAMPLER_NOTES.items():
        print(f"  {name:16s} {note}")
    print("presets:")
    for name, note in PRESET_NOTES.items():
        print(f"  {name:16s} {note}")
    models = shipped_models()
    print(f"shipped models ({len(models)}, use --pretrained NAME):")
    for name in models:
        print(f"  {name}")


def cmd_data(args: argparse.Namespace) -> None:
    out = check_output(args.out, POINT_SUFFIXES)
    dataset = make_dataset(args.dataset, n=args.n, seed=args.seed)
    write_points(out, dataset.points, dataset.labels)
    print(f"wrote {len(dataset)} points of {dataset.title} to {out}")


def _settings(args: argparse.Namespace, objective: str) -> TrainSettings:
    settings = TrainSettings(
        objective=objective,
        schedule=args.schedule,
        ot_coupling=args.ot,
        preset=args.preset,
        seed=args.seed,
    )
    if args.lr is not None:
        settings = replace(settings, learning_rate=args.lr)
    if args.batch_size is not None:
        settings = replace(settings, batch_size=args.batch_size)
    return settings


def _train_one(
    dataset: Dataset,
    settings: TrainSettings,
    device: torch.device,
    seconds: float | None,
    steps: int | None,
    out: Path,
    half: bool,
    source: Source | None = None,
) -> None:
    trainer = Trainer(dataset, settings, device, source=source)
    params = count_parameters(trainer.network)
    label = f"{dataset.name}/{settings.objective}"
    total = steps if steps is not None else seconds
    unit = "step" if steps is not None else "s"
    with tqdm(total=total, desc=label, unit=unit, leave=True) as bar:

        def report(progress: Progress) -> None:
            bar.n = progress.step if steps is not None else round(progress.seconds, 1)
            bar.set_postfix(loss=f"{progress.loss:.3f}")
            bar.refresh()

        outcome = trainer.run(
            seconds=seconds, steps=steps, callback=report, report_every=50, tune_threads=True
        )
        bar.n = total if outcome.stopped == "budget" else bar.n
        bar.refresh()
    if outcome.warning:
        warn(outcome.warning)
    if outcome.stopped == "diverged":
        warn(outcome.message)
        if trainer.step == 0:
            raise TrainingError(f"{outcome.message}; nothing was saved")
    sampler, sampler_steps = QUALITY_SAMPLER[settings.objective]
    try:
        reference = trainer.reference()  # first: data that cannot be judged costs no samples
        samples = trainer.samples(8000, sampler_steps, sampler)
        quality = f"{reference.measure(samples).text} ({sampler})"
    except QualityError as error:
        quality = str(error)
    trainer.checkpoint().save(out, half=half)
    print(
        f"{label}: {params} parameters, {outcome.steps} steps in {outcome.seconds:.1f} s, "
        f"loss {outcome.loss:.4f}, {quality} -> {out}"
    )


def cmd_train(args: argparse.Namespace) -> None:
    check_y_down(args)
    settings = _settings(args, args.objective)
    _check_training_memory(settings)
    if args.all:
        _train_all(args, choose_device(args.device))
        return
    out = check_output(args.out, (".safetensors",))
    device = choose_device(args.device)
    if args.data:
        dataset = load_dataset_file(args.data, y_down=args.y_down)
    else:
        dataset = make_dataset(args.dataset, n=args.n, seed=args.seed)
    seconds = None if args.steps else args.seconds or DEFAULT_SECONDS
    source = _source(args.source)
    _train_one(dataset, settings, device, seconds, args.steps, out, False, source)


def _train_all(args: argparse.Namespace, device: torch.device) -> None:
    """Every bundled dataset x the shipped objectives, into the folder ``args.out``."""
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {args.out}: expected a folder for --all, found a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DATASETS:
        dataset = make_dataset(name, n=PRETRAINED_POINTS, seed=0)
        for objective in PRETRAINED_OBJECTIVES:
            steps = args.steps or (None if args.seconds else PRETRAINED_STEPS[objective])
            out = out_dir / model_filename(name, objective)
            settings = _settings(args, objective)
            if args.lr is None:
                settings = replace(settings, learning_rate=PRETRAINED_LEARNING_RATE)
            _train_one(dataset, settings, device, args.seconds, steps, out, half=True)


def _check_training_memory(settings: TrainSettings) -> None:
    """Refuse a batch whose training step would not fit in memory: per point, the
    activations the backward pass keeps and their gradients; with OT coupling, the batch's
    cost matrix and the Sinkhorn kernel and plan in float64."""
    config = PRESETS[settings.preset]
    batch = settings.batch_size
    needed = batch * 32 * config.width * config.depth
    if settings.ot_coupling:
        needed += 40 * batch * batch
    ot = " --ot" if settings.ot_coupling else ""
    limits.check_memory(f"train --batch-size {batch:,}{ot}", needed)


def _source(value: str) -> Source:
    """The source ``--source`` names: a source name, or a points file (when it names no
    source and looks like a file: a suffix or a folder)."""
    looks_like_file = Path(value).suffix or len(Path(value).parts) > 1
    if value == CUSTOM_SOURCE or (looks_like_file and value not in source_names()):
        try:
            return Source(CUSTOM_SOURCE, load_dataset_file(value).points)
        except DatasetError as error:
            raise UserError(f"--source {error}") from None
    problem = name_problem(value).replace(", custom-source", "")
    if problem:
        raise UserError(f"--source: {problem}")
    return make_source(value)


def _exact_data(args: argparse.Namespace) -> Dataset:
    """The points of ``--exact``: a bundled dataset's, or the ``--data`` file's."""
    if args.exact and args.data:
        raise UserError("--exact DATASET and --data FILE both name the data: give one")
    if args.data:
        try:
            return load_dataset_file(args.data)
        except DatasetError as error:
            raise UserError(str(error)) from None
    if not args.exact:
        raise UserError("--exact needs a dataset (--exact moons) or --data FILE")
    if args.exact not in DATASETS:
        raise UserError(f"--exact: {Data(dataset=args.exact).check()}")
    return make_dataset(args.exact, n=5000, seed=0)


def _field(args: argparse.Namespace, device: torch.device) -> tuple[Field, Normalisation, Source]:
    """The field to sample, the normalisation its outputs map back with, and the source its
    particles start from; the run is checked as the app checks one (same ranges, same
    messages)."""
    label = args.label
    guidance = None if args.guidance == 1.0 else args.guidance
    source = _source(args.source)
    if args.data and args.exact is None:
        raise UserError("--data gives the points of --exact: add --exact")
    points = labels = None
    dataset, model = "custom", "trained"
    if args.exact is not None:
        data = _exact_data(args)
        found, what, model = None, f"the exact field of {args.exact or data.title}", "exact"
        points, labels, classes = data.points, data.labels, data.class_names
        dataset = args.exact or "custom"
    elif args.model:
        found, what = models.from_file(args.model, device), args.model
    else:
        found = models.shipped(args.pretrained, device)
        dataset, _, model = args.pretrained.partition("/")
        what = f"the {model} model of {dataset}"  # as the app names it
    path_of_exact = found is None and args.objective != "flow"
    if found is not None:
        classes = found.class_names
    run = Run(model, args.sampler, args.steps, label=label)
    run = replace(run, eta=args.eta, noise_scale=args.noise_scale, guidance=guidance)
    shared = Data(dataset=dataset if dataset in DATASETS else "custom", source=source.name)
    problem = (
        run.check()
        or class_problem(run, classes, what)
        or models.source_problem(found, run, shared)
        or (gaussian_only("--objective diffusion", source.name) if path_of_exact else "")
    )
    if problem:
        raise UserError(problem)
    path = make_objective(args.objective).path if found is None else None
    field, _ = models.run_field(found, run, points, args.n, args.seed, device, path, labels, source)
    return field, IDENTITY if found is None else found.normalisation, source


def cmd_sample(args: argparse.Namespace) -> None:
    out = check_output(args.out, POINT_SUFFIXES)
    guess_out = check_output(str(guess_path(out)), POINT_SUFFIXES) if args.guess else None
    options = (("--trajectory", args.trajectory), ("--guess", args.guess))
    record = " ".join(option for option, given in options if given)
    limits.check_memory(
        f"sample -n {args.n:,} --steps {args.steps} {record}".strip(),
        _sampling_bytes(args.n, args.steps, args.trajectory, args.guess),
    )
    device = choose_device(args.device)
    field, normalisation, source = _field(args, device)
    backend = backends.choose(
        field, args.sampler, device, args.n, args.steps, precision=args.precision
    )
    if args.verbose:
        print("\n".join(backend.describe()), file=sys.stderr)
    if args.precision and backend.name != "triton":
        print(
            f"dexplorer: note: --precision applies to the triton back-end only: "
            f"{backend.name} sampled in float32",
            file=sys.stderr,
        )
    x0, generator = initial_positions(args.n, args.seed, device, source)
    settings = SamplerSettings(args.eta, args.noise_scale, generator)
    if args.trajectory:
        steps = torch.empty((args.steps + 1, args.n, 2), device=device)
        points = backends.trajectory(backend, x0, settings, steps)
        noisy = adds_noise(args.sampler, args.eta, args.noise_scale)
        measured = straightness(points, noisy)
    else:
        points = backends.final_positions(backend, x0, args.steps, settings)
    if guess_out is None:
        points, dropped = _finite_only(points)
    else:
        guessed = (
            trajectory_guesses(field, points) if args.trajectory else guesses(field, points, 1.0)
        )
        points, guessed, dropped = _finite_pairs(points, guessed)
    write_points(out, _to_file(normalisation, points.cpu().numpy()))
    what = f"{args.steps + 1} steps of " if args.trajectory else ""
    print(
        f"wrote {what}{points.shape[-2]} particles ({args.sampler}, {args.steps} steps) "
        f"to {out}{dropped}"
    )
    if guess_out is not None:
        write_points(guess_out, _to_file(normalisation, guessed.cpu().numpy()))
        print(f"wrote their guesses x1_hat to {guess_out}")
    if args.trajectory and measured is not None:
        print(measured.text)


def guess_path(out: Path) -> Path:
    """Where ``sample --guess`` writes the guesses: beside ``out``, NAME.guess.SUFFIX."""
    return out.with_name(f"{out.stem}.guess{out.suffix}")


def cmd_reflow(args: argparse.Namespace) -> None:
    out = check_output(args.out, (".safetensors",))
    device = choose_device(args.device)
    original = models.from_file(args.model, device)
    problem = reflow_problem(original)
    if problem:
        raise UserError(f"cannot reflow {args.model}: {problem}")
    settings = ReflowSettings(pairs=args.pairs, steps=args.steps, seed=args.seed)
    reference, against = _reflow_reference(original, device)
    before = straightening(original, reference, device=device)
    with tqdm(total=settings.steps, desc="reflow", unit="step", leave=True) as bar:

        def report(progress: Progress) -> None:
            bar.n = progress.step
            bar.set_postfix(loss=f"{progress.loss:.4f}")
            bar.refresh()

        reflowed, outcome = reflow(original, settings, device, report)
        bar.n = outcome.steps
        bar.refresh()
    if outcome.message:
        warn(outcome.message)
    reflowed.save(out)
    after = straightening(reflowed, reference, device=device)
    sampler, steps = REFLOW_SAMPLER
    print(f"quality against {against}; straightness of {sampler} {steps}-step paths")
    print(f"before: {before.text}")
    print(f"after:  {after.text}")
    print(f"reflowed {args.model} on {settings.pairs:,} pairs in {outcome.steps:,} steps -> {out}")


def _reflow_reference(original: Checkpoint, device: torch.device) -> tuple[QualityReference, str]:
    """What a reflow's quality numbers compare with: the bundled dataset the model was
    trained on, or else the model's own samples."""
    if original.dataset in DATASETS:
        points = make_dataset(original.dataset, n=5000, seed=0).points
        return QualityReference(points, seed=1), f"the {original.dataset} data"
    sampler, steps = REFLOW_SAMPLER
    labels = original.particle_labels(5000, 1, device) if original.conditional else None
    points = sample(original.field(labels), 5000, steps, sampler, seed=1, device=device)[-1]
    return QualityReference(points.cpu(), seed=1), "the original model's own samples"


STATE_BYTES = 128  # a particle's state and the sampler stages computed from it
RECORD_BYTES = 32  # a particle-step recorded: float32, its finite check, float64 for a file


def _sampling_bytes(n: int, steps: int, record: bool, guess: bool = False) -> int:
    """What sampling ``n`` particles keeps in memory at once: their state, and with
    ``record`` every step of it (twice with their ``guess``)."""
    recorded = RECORD_BYTES * (steps + 1) * (2 if guess else 1) if record else 0
    return n * (STATE_BYTES + recorded)


def _finite_only(points: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The particles that stayed finite (at every step of a trajectory (steps + 1, n, 2), or
    at the end for positions (n, 2)), and what to say about the others, which are left out
    of the file whole ('' if none).

    Raises
    ------
    UserError
        When no particle stayed finite (then nothing is written).
    """
    finite = finite_particles(points)
    count, total = int((~finite).sum()), len(finite)
    if count == total:
        raise UserError(f"{nonfinite_message(count, total)}: nothing was written")
    if not count:
        return points, ""
    return points[..., finite, :], f"; {nonfinite_message(count, total)} and were left out"


def _finite_pairs(
    points: torch.Tensor, guessed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The particles whose positions and guesses stayed finite (at every step of a
    trajectory), their guesses, and what to say about the others, left out of both files
    whole ('' if none).

    Raises
    ------
    UserError
        When no particle stayed finite (then nothing is written).
    """
    moved = finite_particles(points)
    finite = moved & finite_particles(guessed)
    total = len(finite)
    if not finite.any():
        raise UserError(
            f"all {total:,} particles or their guesses became non-finite (inf or nan): "
            "nothing was written"
        )
    notes = []
    if not moved.all():
        notes.append(nonfinite_message(int((~moved).sum()), total))
    lost = int((moved & ~finite).sum())
    if lost:
        notes.append(f"the guesses of {lost:,} more became non-finite")
    dropped = f"; {' and '.join(notes)} and were left out" if notes else ""
    return points[..., finite, :], guessed[..., finite, :], dropped


def _to_file(normalisation: Normalisation, points: np.ndarray) -> np.ndarray:
    """Points (or a trajectory) in the coordinates of the model's training file."""
    return points if normalisation.identity else normalisation.to_file(points)


def _density_field(
    args: argparse.Namespace, device: torch.device
) -> tuple[Field, np.ndarray | None, str]:
    """The field whose density is asked for, the points whose NLL is measured (in the
    field's coordinates; ``None`` when unknown) and what they are, in words."""
    if args.y_down and not args.data:
        raise UserError("--y-down is the orientation of a --data file; give --data FILE too")
    if args.pretrained and args.data:
        raise UserError("--data goes with --exact or --model, not --pretrained")
    if args.exact is not None:
        if bool(args.exact) == bool(args.data):
            raise UserError("--exact takes a bundled dataset or --data FILE (one of them)")
        if args.data:
            dataset = load_dataset_file(args.data, y_down=args.y_down)
            held_out, what = dataset.subset(NLL_POINTS, HELD_OUT_SEED), f"points of {args.data}"
        else:
            if args.exact not in DATASETS:
                raise UserError(f"--exact {args.exact}: choose one of {', '.join(DATASETS)}")
            dataset = make_dataset(args.exact, n=5000, seed=0)
            held_out = make_dataset(args.exact, n=NLL_POINTS, seed=HELD_OUT_SEED)
            what = f"held-out points of {args.exact}"
        path = make_objective(args.objective).path
        field, _ = models.run_field(None, Run("exact"), dataset.points, 1, 0, device, path)
        return field, held_out.points, what
    if args.model:
        found = models.from_file(args.model, device)
    else:
        found = models.shipped(args.pretrained, device)
    field = found.field()
    if args.data:
        data = load_dataset_file(args.data, y_down=args.y_down).subset(NLL_POINTS, HELD_OUT_SEED)
        points = found.normalisation.to_model(data.normalisation.to_file(data.points))
        return field, points, f"points of {args.data}"
    if found.dataset in DATASETS:
        held_out = make_dataset(found.dataset, n=NLL_POINTS, seed=HELD_OUT_SEED)
        return field, held_out.points, f"held-out points of {found.dataset}"
    return field, None, ""


def cmd_density(args: argparse.Namespace) -> None:
    out = check_output(args.out, (".npz",))
    device = choose_device(args.device)
    field, points, what = _density_field(args, device)
    try:
        x, y, logp = log_density_grid(field, args.t, args.grid, device=device)
    except LikelihoodError as error:
        raise UserError(str(error)) from None
    bad = int((~np.isfinite(logp)).sum())
    if bad:
        raise UserError(
            f"log p is not finite at {bad:,} of {logp.size:,} cells: nothing was written"
        )
    with outputs.replacing(out) as temporary, open(temporary, "wb") as file:
        np.savez(file, x=x, y=y, logp=logp)
    taken = density_time(field, args.t)
    at = f"t = {taken:g}" + (f" (the field is singular at {args.t:g})" if taken != args.t else "")
    print(f"wrote log p at {at} on a {args.grid}x{args.grid} grid to {out}")
    if points is None:
        warn("no NLL: the model was trained on a file's points; give them with --data FILE")
        return
    tensor = torch.as_tensor(points, dtype=torch.float32, device=device)
    try:
        nll = negative_log_likelihood(field, tensor)
    except LikelihoodError as error:
        warn(str(error))
        return
    end = density_time(field, 1.0)
    at = "" if end == 1.0 else f" at t = {end:g}"
    print(f"NLL {nll:.4f} nats{at}: -log p of {len(points):,} {what}")
