"""The controls of a run (model, sampler and its parameters), the same for the single view's
run and for each compared one, with the ranges the run's check uses."""

from __future__ import annotations

from imgui_bundle import imgui

from ..core import limits
from ..core.choices import SAMPLER_NOTES
from ..core.runs import MODELS, Run
from ..state import AppState

MODEL_TITLES = {
    "flow": "flow matching (shipped)",
    "diffusion": "diffusion (shipped)",
    "exact": "exact: memorises the data",
    "trained": "trained here",
    "yours": "yours (brought in)",
    "reflowed": "reflowed here (straightened)",
}


def combo(
    label: str,
    current: str,
    choices: tuple[str, ...] | list[str],
    titles: dict[str, str] | None = None,
) -> tuple[bool, str]:
    """A combo box over names (shown by their titles); returns (changed, chosen name)."""
    names = list(choices)
    shown = [(titles or {}).get(name, name) for name in names]
    changed, index = imgui.combo(label, names.index(current) if current in names else 0, shown)
    return changed, names[index]


def run_controls(state: AppState, index: int) -> None:
    """Edit run ``index`` of the state (the single view's run is run 0); a change that
    cannot run is refused with a message."""
    run: Run = state.runs[index]
    tag = f"##{index}" if state.comparing else ""
    changes: dict[str, object] = {}

    def edit(name: str, result: tuple[bool, object]) -> None:
        if result[0]:
            changes[name] = result[1]

    held = {"trained": state.trained, "yours": state.yours, "reflowed": state.reflowed}
    models = [m for m in MODELS if m not in held or held[m] is not None]
    edit("model", combo(f"model{tag}", run.model, models, MODEL_TITLES))
    edit("sampler", combo(f"sampler{tag}", run.sampler, list(SAMPLER_NOTES)))
    steps = limits.STEPS
    edit("steps", imgui.slider_int(f"steps{tag}", run.steps, int(steps.low), int(steps.high)))
    if run.sampler == "ddim":
        edit("eta", imgui.slider_float(f"eta{tag}", run.eta, limits.ETA.low, limits.ETA.high))
    if run.sampler == "euler_maruyama":
        noise = limits.NOISE_SCALE
        edit(
            "noise_scale",
            imgui.slider_float(f"noise scale{tag}", run.noise_scale, noise.low, noise.high),
        )
    classes = state.model_classes(run.model) if state.run_problem(run) == "" else ()
    if classes:
        names = ["all (in proportion)", *classes]
        current = 0 if run.label is None else run.label + 1
        changed, chosen = imgui.combo(f"class{tag}", current, names)
        edit("label", (changed, None if chosen == 0 else chosen - 1))
        guidance = limits.GUIDANCE
        edit(
            "guidance",
            imgui.slider_float(f"guidance{tag}", run.guidance_scale, guidance.low, guidance.high),
        )
    if changes:
        state.change_run(index, **changes)
