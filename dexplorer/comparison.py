"""Side-by-side comparison: what each panel runs, and the ``--compare`` spec that names it.

A panel spec is ``MODEL:SAMPLER:STEPS`` followed by any of ``:eta=E`` (ddim only),
``:noise=S`` (euler_maruyama only), ``:class=K`` and ``:guidance=W`` (conditional models
only), for example ``flow:heun:50`` or ``diffusion:ddim:50:eta=0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core.samplers import MAX_STEPS, SAMPLERS

PANEL_MODELS = ("flow", "diffusion", "exact", "trained")
VIEW_COUNTS = (1, 2, 4)
"""Single view, two panels side by side, or four in a 2 x 2 grid."""
PANEL_PARTICLES = {2: 10000, 4: 5000}
"""At most this many particles per panel, so that all panels together cost what the
single view costs to draw."""
DEFAULT_PANELS = ("flow:heun:50", "diffusion:ddim:50", "flow:euler:4", "diffusion:ddpm:100")
SPEC_SYNTAX = "MODEL:SAMPLER:STEPS[:eta=E][:noise=S][:class=K][:guidance=W]"
OPTION_SAMPLERS = {"eta": "ddim", "noise": "euler_maruyama"}
"""The options that only one sampler takes."""


@dataclass(frozen=True)
class Panel:
    """What one comparison panel runs: a model, a sampler and its parameters. The dataset,
    the seed and the starting particles are shared by all panels.

    ``guidance`` and ``label`` are ``None`` when not set (conditional models then draw each
    particle's class in the data's proportions, with guidance 1).
    """

    model: str = "flow"
    sampler: str = "heun"
    steps: int = 50
    eta: float = 0.0
    noise_scale: float = 1.0
    guidance: float | None = None
    label: int | None = None

    def check(self) -> str:
        """What is wrong with this panel on its own ('' when nothing)."""
        if self.model not in PANEL_MODELS:
            return f"unknown model {self.model!r}: choose {', '.join(PANEL_MODELS)}"
        if self.sampler not in SAMPLERS:
            return f"unknown sampler {self.sampler!r}: choose {', '.join(SAMPLERS)}"
        if not 1 <= self.steps <= MAX_STEPS:
            return f"steps {self.steps} out of range: 1 to {MAX_STEPS}"
        if not 0 <= self.eta <= 1:
            return f"eta {self.eta:g} out of range: 0 to 1"
        if not 0 <= self.noise_scale <= 10:
            return f"noise {self.noise_scale:g} out of range: 0 to 10"
        if self.guidance is not None and not 0 <= self.guidance <= 10:
            return f"guidance {self.guidance:g} out of range: 0 to 10"
        if self.label is not None and self.label < 0:
            return f"class {self.label} does not exist"
        return ""

    @property
    def spec(self) -> str:
        """This panel as a ``--compare`` spec."""
        parts = [self.model, self.sampler, str(self.steps)]
        if self.sampler == "ddim":
            parts.append(f"eta={self.eta:g}")
        if self.sampler == "euler_maruyama":
            parts.append(f"noise={self.noise_scale:g}")
        if self.label is not None:
            parts.append(f"class={self.label}")
        if self.guidance is not None:
            parts.append(f"guidance={self.guidance:g}")
        return ":".join(parts)

    @property
    def title(self) -> str:
        """A short caption, e.g. ``"diffusion · ddim 50, eta 0"``."""
        return f"{self.model} · {self.sampler} {self.steps}{self._details}"

    @property
    def method(self) -> str:
        """The caption without the steps, e.g. ``"diffusion · ddim, eta 0"``."""
        return f"{self.model} · {self.sampler}{self._details}"

    @property
    def _details(self) -> str:
        details = ""
        if self.sampler == "ddim":
            details += f", eta {self.eta:g}"
        if self.sampler == "euler_maruyama":
            details += f", noise {self.noise_scale:g}"
        if self.label is not None:
            details += f", class {self.label}"
        if self.guidance is not None:
            details += f", w {self.guidance:g}"
        return details


def _number(name: str, text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} {text!r} is not {what}") from None


def parse_panel(spec: str) -> Panel:
    """Read a panel spec such as ``"diffusion:ddim:50:eta=0.5"``.

    Raises
    ------
    ValueError
        With a one-line message that names the bad part of the spec.
    """
    parts = spec.strip().split(":")
    if len(parts) < 3:
        raise ValueError(f"expected {SPEC_SYNTAX}, e.g. flow:heun:50")
    model, sampler, steps_text, *options = parts
    values: dict[str, object] = {
        "model": model,
        "sampler": sampler,
        "steps": _number("steps", steps_text, int),
    }
    keys = {"eta": ("eta", float), "noise": ("noise_scale", float)}
    keys |= {"class": ("label", int), "guidance": ("guidance", float)}
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in keys:
            raise ValueError(f"unknown option {option!r}: use {', '.join(keys)} as KEY=VALUE")
        if key in OPTION_SAMPLERS and sampler != OPTION_SAMPLERS[key]:
            raise ValueError(f"{key} applies only to the {OPTION_SAMPLERS[key]} sampler")
        name, kind = keys[key]
        values[name] = _number(key, text, kind)
    panel = Panel(**values)
    problem = panel.check()
    if problem:
        raise ValueError(problem)
    return panel


def default_panel(index: int, shipped: bool) -> Panel:
    """The panel a new comparison starts with at ``index``; the exact field stands in for
    the shipped models where there are none (custom data)."""
    panel = parse_panel(DEFAULT_PANELS[index])
    if not shipped:
        return Panel("exact", panel.sampler, panel.steps, panel.eta, panel.noise_scale)
    return panel
