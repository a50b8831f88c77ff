"""The explain window's text: what the particles do under the current objective and sampler,
the update rule, and what each visible layer shows (Markdown, for imgui_md)."""

from __future__ import annotations

from ..core.guesses import GUESS_ALPHA

OBJECTIVES = {
    "flow": (
        "Flow matching",
        "Each particle starts as noise e ~ N(0, I) at t = 0 and rides the velocity the network "
        "learned, v(x, t) = E[x1 - e | x_t = x], to the data at t = 1. Training joins noise and "
        "data by straight lines x_t = (1 - t) e + t x1 and regresses their velocity x1 - e.",
    ),
    "diffusion": (
        "Diffusion (epsilon prediction)",
        "Data is blurred into noise along x_t = sin(pi t / 2) x1 + cos(pi t / 2) e; the network "
        "learned to guess the noise e in x_t. Sampling runs the blur backwards from pure noise "
        "at t = 0: the guessed noise gives a data estimate x1 = (x - s e) / a.",
    ),
    "vpred": (
        "Diffusion (v-prediction)",
        "The same blur as diffusion, but the network predicts v = a e - s x1, which stays "
        "well-behaved near pure noise; noise and data estimates follow from it.",
    ),
    "exact": (
        "Exact field: memorises the data",
        "No network: the best possible denoiser for these exact training points, a softmax-"
        "weighted mean of them. It is perfect on the training set, so every particle lands on "
        "a training point - this is memorisation, not generalisation.",
    ),
}
SAMPLERS = {
    "euler": ("Euler", "x' = x + dt * v(x, t)", "first order, one network call per step."),
    "midpoint": (
        "Midpoint",
        "x' = x + dt * v(x + dt/2 * v(x, t), t + dt/2)",
        "second order, two calls per step.",
    ),
    "heun": (
        "Heun",
        "x' = x + dt/2 * (v(x, t) + v(x + dt * v(x, t), t + dt))",
        "second order, two calls per step.",
    ),
    "rk4": (
        "Runge-Kutta 4",
        "x' = x + dt/6 * (k1 + 2 k2 + 2 k3 + k4)",
        "fourth order, four calls per step: the straightest paths for few steps.",
    ),
    "ddpm": (
        "DDPM",
        "x' = a' x1 + sqrt(s'^2 - c^2) e + c z,  c = (s'/s) sqrt(s^2 - (a s'/a')^2)",
        "ancestral sampling: fresh noise z every step, so paths jitter.",
    ),
    "ddim": (
        "DDIM",
        "x' = a' x1 + sqrt(s'^2 - c^2) e + c z,  c = eta * (DDPM's c)",
        "eta = 0 is deterministic, eta = 1 is DDPM.",
    ),
    "euler_maruyama": (
        "Reverse SDE",
        "x' = x + dt * (v - l^2 s e) + l sqrt(2 dt) s z",
        "noise scale l: 0 is the Euler ODE; more noise, same marginals.",
    ),
}
LAYERS = {
    "particles": "particles: where each sample is at time t.",
    "density": "density: how crowded the particles are, as contour bands.",
    "mesh": "mesh: a grid pushed along by the same flow - watch space stretch and fold.",
    "paths": "paths: the whole journey of the particles you clicked (past solid, future faint).",
    "vectors": "vectors: the velocity the model gives at this t - where particles go next.",
    "data": "data: the training points the particles should reach at t = 1.",
    "source": "source: where the particles start at t = 0: the 1, 2 and 3 sigma circles of "
    "N(0, I), or the source's own points when it is a shape.",
    "guess": (
        "guess: where the model thinks each particle will land, its denoised guess "
        "x1_hat = E[x1 | x_t = x], the mean of every data point that could have been blurred "
        "into x at this t (a line joins each particle you clicked to its guess). At t = 0 "
        "x is pure noise and tells nothing about x1, so every guess is the same: the mean "
        "of the data (of its class, when each particle has one), and they crowd there. As "
        "t grows x holds more of x1, the guesses spread out onto the data, and at t = 1 each "
        "guess is the particle itself. It is Tweedie's formula: x1_hat = (x + s^2 grad log "
        "p_t(x)) / a for x_t = a x1 + s e, the score turned into a guess. (A noise-predicting "
        f"model divides by a, which is 0 at t = 0: its guess is taken from where a = "
        f"{GUESS_ALPHA}.)"
    ),
    "likelihood": (
        "likelihood: the density the model itself defines at t (purple bands), not counted from"
        " particles: from each grid point the model's ODE is run backwards to the source at t ="
        " 0 (the Gaussian or a shape), adding up how much the flow stretches space on the way "
        "(the divergence of the velocity): log p_t(x) = log q(x(0)) - integral of div v. Where "
        "it matches the orange particle density, the sampler follows the model. NLL: the "
        "average -log p of held-out data at t = 1 in nats, lower is better (a model that "
        "learned nothing scores as N(0, I) does). It belongs to the model, not the sampler: "
        "DDPM or the SDE draw from the same density, so every run of a model shows the same "
        "NLL."
    ),
    "streaks": (
        "streaks: tracers carried by the velocity at this t, with fading trails - the field "
        "frozen at t, moving even when paused. Their pace is scaled so the field reads at "
        "every t: compare speeds within a frame, not between times."
    ),
}
SOURCE = (
    "## From {source} instead of noise",
    "Flow matching needs only samples of both ends. Training joins a source sample z and a "
    "data point y by the straight line x_t = (1 - t) z + t y and regresses its velocity "
    "y - z; the exact field is E[y - z | x_t = x] = (E[y | x] - x) / (1 - t), with each data "
    "point weighted by the source's density at (x - t y) / (1 - t), the place that y would "
    "have started from. So any shape can flow onto any other.",
    "Diffusion cannot: its network predicts the Gaussian noise itself, its schedule blurs "
    "the data into a Gaussian, and DDPM, DDIM (eta > 0) and the reverse SDE add fresh "
    "Gaussian noise every step. Diffusion models keep N(0, I); so do the shipped models, "
    "which were trained from it.",
)
GUIDANCE = (
    "## Guidance on the exact field",
    "With a class k the exact field uses only class k's points: cond. Classifier-free "
    "guidance mixes it with the field of all the points, uncond: uncond + w (cond - uncond). "
    "w = 0 ignores the class, w = 1 follows it, w > 1 pushes further away from the other "
    "classes - no network, no training.",
)

STRAIGHT_PATHS = (
    "## Straight paths: fewer steps",
    "The straightness under each panel is the mean squared gap between each particle's "
    "path and the straight chord from its start to its end (0 = straight). A sampler "
    "follows a path by short straight pieces, so a straight path is followed exactly by "
    "one Euler step; a bent one needs many steps, and with few steps the particles cut "
    "the corners and land off the data (a higher ED).",
    "",
    "**Reflow** (Reflow in the training section) straightens a flow model: it samples "
    "pairs (noise z, where the model carries it x1), then trains a new flow model on the "
    "straight lines from each z to its own x1. An ODE's paths never cross, so these pairs "
    "do not either, and nothing bends the new paths: the reflowed model lands in 1 or 2 "
    "Euler steps where the original needed dozens. Shown beside the original, same "
    "sampler, same starting particles.",
    "",
    "**OT coupling** (a training option) straightens while training: each batch pairs "
    "noise and data by minibatch optimal transport (nearby noise goes to nearby data) "
    "instead of at random, so the straight training lines cross less and the learned "
    "paths bend less.",
)


def explain(
    objective: str,
    sampler: str,
    visible: list[str],
    source: str = "gaussian",
    guided: bool = False,
) -> str:
    """Markdown for the explain window (with ``source`` other than "gaussian", how the flow
    starts from it; with ``guided``, how the exact field is guided)."""
    title, what = OBJECTIVES.get(objective, OBJECTIVES["flow"])
    name, rule, note = SAMPLERS[sampler]
    lines = [f"# {title}", what, ""]
    if source != "gaussian":
        heading, flow, diffusion = SOURCE
        lines += [heading.format(source=source), flow, "", diffusion, ""]
    if guided:
        lines += [*GUIDANCE, ""]
    lines += [
        f"## {name} sampler",
        *(f"`{part}`\n" for part in rule.split(",  ")),  # an equation a line, never split
        "",
        note,
        "",
        "## What you see",
    ]
    lines += [f"- {LAYERS[layer]}" for layer in visible if layer in LAYERS]
    lines += ["", *STRAIGHT_PATHS]
    return "\n".join(lines)


SCHEDULE = (
    "## The schedule (P)\n"
    "x_t = alpha(t) x1 + sigma(t) e: alpha is how much data is in a particle, sigma how much "
    "noise; log SNR = ln(alpha^2 / sigma^2) is the signal-to-noise ratio on a log scale, "
    "-inf at t = 0 (pure noise) and +inf at t = 1 (data). The linear path of flow matching "
    "trades noise for data at a steady rate (alpha + sigma = 1); the cosine and linear-beta "
    "paths keep alpha^2 + sigma^2 = 1 (variance preserving), so their particles never "
    "shrink towards the middle, and linear beta keeps almost no data until t ~ 0.3. The "
    "vertical line is now. Each distinct path of the panels is one curve."
)


LIVE_EDIT = (
    "## Live editing ({tool})\n"
    "Drag, add or erase a data point while the particles move. The exact field needs no "
    "training: its guess of the data is a softmax-weighted mean of the points, so the new "
    "data is the new model at once. A point pulls on a particle in proportion to the "
    "particle's posterior weight on it: late in the journey only the particles near it feel "
    "it, early on every particle feels about 1/M of it (M points). So the update comes in "
    "three steps: at once, the particles that landed on a point that moved follow it (a "
    "preview: exact only for a particle that only ever saw that point); then the particles "
    "near the edit are recomputed exactly; then every particle, as a fresh run would. Until "
    "then the far particles keep their old paths: right endpoints, paths a little off. "
    "Trained models do not follow the data: they start again on it."
)


def explain_more(schedule: bool, editing: str = "") -> str:
    """Markdown after :func:`explain` for the windows and tools in use ('' when none):
    the schedule window, and the live-editing tool ``editing`` ('' when none)."""
    parts = [SCHEDULE] if schedule else []
    if editing:
        parts.append(LIVE_EDIT.format(tool=editing))
    return "".join(f"\n\n{part}" for part in parts)
