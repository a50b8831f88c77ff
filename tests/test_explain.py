"""The explain panel says what the current objective, sampler and layers do."""

import pytest

from dexplorer.core.samplers import SAMPLERS
from dexplorer.state import AppState
from dexplorer.ui.explain import explain


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_has_its_update_rule(sampler):
    text = explain("flow", sampler, ["particles"])
    assert "x' =" in text and "sampler" in text
    assert all(line.count("`") in (0, 2) for line in text.splitlines())  # whole equations


def test_an_equation_and_its_definition_are_lines_of_their_own():
    """DDPM's rule and its c wrapped in the middle of an expression on one line."""
    text = explain("diffusion", "ddpm", [])
    assert "`x' = a' x1 + sqrt(s'^2 - c^2) e + c z`\n" in text
    assert "\n`c = (s'/s) sqrt(s^2 - (a s'/a')^2)`\n" in text


def test_objective_and_layers_follow_the_state():
    state = AppState()
    state.change(model="exact", sampler="ddim")
    text = explain(state.objective, state.run.sampler, ["mesh", "vectors"])
    assert text.startswith("# Exact field: memorises the data")
    assert "eta = 0 is deterministic" in text
    assert "mesh:" in text and "vectors:" in text and "density:" not in text
    assert explain("diffusion", "heun", []).startswith("# Diffusion (epsilon prediction)")


def test_a_source_and_guidance_on_the_exact_field_are_explained():
    text = explain("exact", "heun", ["source"], "moons", guided=True)
    assert "## From moons instead of noise" in text
    assert "E[y - z | x_t = x]" in text and "Diffusion models keep N(0, I)" in text
    assert "uncond + w (cond - uncond)" in text
    assert "From" not in explain("flow", "heun", [])
