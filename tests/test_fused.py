"""The chunked network evaluation: the same trajectories as the plain module, for every
sampler, preset, objective, chunk boundary, class labels and guidance; the compile fallback."""

import logging

import pytest
import torch

from dexplorer.core.fields import NetworkField, draw_labels
from dexplorer.core.fused import ChunkedMLP
from dexplorer.core.networks import build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import SAMPLERS, sample
from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

N = 250  # not a multiple of the chunk: the last chunk is short
CHUNK = 64


def network(preset, num_classes=0, dtype=torch.float32):
    torch.manual_seed(1)
    net = build_network(preset, num_classes).to(dtype).eval().requires_grad_(False)
    # Larger weights than the initialisation, so the activations' negative side is used.
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return net


def both(net, objective="flow", label=None, guidance=1.0):
    """The same field evaluated by the plain module and by the chunked evaluator."""
    eager = NetworkField(net, make_objective(objective), label, guidance)
    eager.fast = None
    fused = NetworkField(net, make_objective(objective), label, guidance)
    fused.fast = ChunkedMLP(net, chunk=CHUNK)
    return eager, fused


def trajectories(fields, sampler, steps=12):
    return [sample(f, N, steps, sampler, seed=3, eta=0.4) for f in fields]


@pytest.mark.parametrize("preset", ["original", "default"])
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_chunked_matches_the_module_in_float64(preset, sampler, float64):
    objective = "diffusion" if sampler in ("ddpm", "ddim") else "flow"
    eager, fused = trajectories(both(network(preset, dtype=torch.float64), objective), sampler)
    assert fused.dtype == torch.float64
    assert torch.allclose(eager, fused, rtol=0, atol=1e-10)


@pytest.mark.parametrize("preset", ["original", "default"])
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_chunked_matches_the_module_in_float32(preset, sampler):
    eager, fused = trajectories(both(network(preset)), sampler)
    assert torch.allclose(eager, fused, rtol=0, atol=1e-4)


@pytest.mark.parametrize("objective", ["flow", "diffusion", "vpred"])
def test_chunked_matches_for_every_objective(objective, float64):
    eager, fused = trajectories(both(network("default", dtype=torch.float64), objective), "heun")
    assert torch.allclose(eager, fused, rtol=0, atol=1e-10)


@pytest.mark.parametrize("guidance", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("per_particle", [False, True])
def test_chunked_matches_with_labels_and_guidance(guidance, per_particle, float64):
    net = network("default", num_classes=3, dtype=torch.float64)
    label = draw_labels([0.2, 0.5, 0.3], N, seed=0) if per_particle else 2
    eager, fused = trajectories(both(net, "flow", label, guidance), "midpoint")
    assert torch.allclose(eager, fused, rtol=0, atol=1e-10)


def test_unconditional_call_of_a_conditional_network_uses_the_null_class(float64):
    eager, fused = trajectories(both(network("original", 4, torch.float64)), "euler")
    assert torch.allclose(eager, fused, rtol=0, atol=1e-10)


@pytest.mark.parametrize("chunk", [1, 7, N, 10 * N])
def test_any_chunk_size_gives_the_same_output(chunk):
    net = network("original")
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.3)
    assert torch.allclose(ChunkedMLP(net, chunk=chunk)(x, t), net(x, t), atol=1e-5)


def test_calls_that_need_gradients_or_per_particle_times_use_the_module():
    net = build_network("original")  # trainable parameters
    field = NetworkField(net, make_objective("flow"))
    field.fast = ChunkedMLP(net)
    x = torch.randn(10, 2, requires_grad=True)
    assert not field.fast.applies(x, torch.tensor(0.5))
    field.velocity(x, 0.5).sum().backward()
    assert x.grad is not None and net.output.weight.grad is not None
    with torch.no_grad():
        assert field.fast.applies(x, torch.tensor(0.5))
        assert not field.fast.applies(x, torch.rand(10))
        per_time = field.velocity(x, torch.full((10,), 0.5))
        assert torch.allclose(per_time, field.velocity(x, 0.5), atol=1e-6)


def test_a_failing_compiled_kernel_falls_back_to_eager(caplog):
    net = network("original")
    fast = ChunkedMLP(net, chunk=CHUNK)

    def broken(*args):
        raise RuntimeError("no C++ compiler")

    fast.compiled = broken
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.7)
    with caplog.at_level(logging.WARNING, logger="dexplorer.core.fused"):
        out = fast(x, t)
    assert fast.compiled is None
    assert "no C++ compiler" in caplog.text
    assert torch.allclose(out, net(x, t), atol=1e-5)


def test_the_compiled_kernel_path_pads_the_last_chunk():
    """The compiled path's chunking, with a stand-in kernel (the real one needs a compiler):
    every call sees exactly CHUNK rows."""
    net = network("default")
    fast = ChunkedMLP(net, chunk=CHUNK)
    sizes = []

    def kernel(x, weights, biases, w_out, b_out, activation):
        sizes.append(len(x))
        h = x
        for w, b in zip(weights, biases, strict=True):
            h = torch.nn.functional.silu(torch.nn.functional.linear(h, w, b))
        return torch.nn.functional.linear(h, w_out, b_out)

    fast.compiled = kernel
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.2)
    assert torch.allclose(fast(x, t), net(x, t), atol=1e-5)
    assert sizes == [CHUNK] * 4


def test_the_trajectory_cache_samples_through_the_chunked_path(monkeypatch):
    calls = []
    original = ChunkedMLP.__call__

    def counted(self, *args, **kwargs):
        calls.append(len(args[0]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ChunkedMLP, "__call__", counted)
    field = NetworkField(network("original"), make_objective("flow"))
    cache = TrajectoryCache("cpu", native=False)  # not the compiled kernel
    cache.start(RunSpec(field, "midpoint", steps=5, n=300))
    assert cache.wait(30)
    assert calls == [300] * 10
