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
    "source": "source: the 1, 2 and 3 sigma circles of the starting Gaussian.",
    "streaks": (
        "streaks: tracers carried by the velocity at this t, with fading trails - the field "
        "frozen at t, moving even when paused. Their pace is scaled so the field reads at "
        "every t: compare speeds within a frame, not between times."
    ),
}


def explain(objective: str, sampler: str, visible: list[str]) -> str:
    """Markdown for the explain window."""
    title, what = OBJECTIVES.get(objective, OBJECTIVES["flow"])
    name, rule, note = SAMPLERS[sampler]
    lines = [
        f"# {title}",
        what,
        "",
        f"## {name} sampler",
        f"`{rule}`",
        "",
        note,
        "",
        "## What you see",
    ]
    lines += [f"- {LAYERS[layer]}" for layer in visible if layer in LAYERS]
    return "\n".join(lines)
