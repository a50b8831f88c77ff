"""The explain window's text: what the particles do under the current objective and sampler,
the update rule, and what each visible layer shows (Markdown, for imgui_md)."""

from __future__ import annotations

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
        f"`{rule}`",
        "",
        note,
        "",
        "## What you see",
    ]
    lines += [f"- {LAYERS[layer]}" for layer in visible if layer in LAYERS]
    return "\n".join(lines)
