"""The Triton kernel behind :mod:`dexplorer.core.triton_sampler`. Imports triton at import
time: import it only through that module, which does so lazily.

One program owns ``BLOCK`` particles for the whole trajectory: it loads the network's
weights once, then runs every step (one or two network evaluations and the update) with
the particles' positions and activations in registers, writing the positions after each
step. Per evaluation, the first layer (2 inputs) and the output layer (2 outputs) run on
the CUDA cores in float32; the two hidden layers are ``tl.dot`` on the tensor cores in
tf32, bfloat16 or IEEE float32.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _activate(h, ACTIVATION: tl.constexpr):
    if ACTIVATION == 0:
        h = tl.where(h > 0, h, tl.exp(tl.minimum(h, 0.0)) - 1.0)
    elif ACTIVATION == 1:
        h = h * tl.sigmoid(h)
    else:
        h = tl.maximum(h, 0.0)
    return h


@triton.jit
def _dense(h, w, b, PRECISION: tl.constexpr):
    """h @ w + b for a (BLOCK, WIDTH) h and a (WIDTH, WIDTH) w."""
    if PRECISION == "bf16":
        out = tl.dot(h.to(tl.bfloat16), w)
    else:
        out = tl.dot(h, w, input_precision=PRECISION)
    return out + b[None, :]


@triton.jit
def _velocity(
    x0, x1, bias, w_a, w_b, w1, b1, w2, b2, wo_a, wo_b, bo_a, bo_b,
    ACTIVATION: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """The network's output at positions (x0, x1) with the first layer's bias at this time."""
    h = _activate(
        x0[:, None] * w_a[None, :] + x1[:, None] * w_b[None, :] + bias[None, :], ACTIVATION
    )
    h = _activate(_dense(h, w1, b1, PRECISION), ACTIVATION)
    h = _activate(_dense(h, w2, b2, PRECISION), ACTIVATION)
    v0 = tl.sum(h * wo_a[None, :], axis=1) + bo_a
    v1 = tl.sum(h * wo_b[None, :], axis=1) + bo_b
    return v0, v1


@triton.jit
def sample_kernel(
    x_ptr, out_ptr, bias_ptr, dt_ptr, w_in_ptr, w_ptr, b_ptr, w_out_ptr, b_out_ptr,
    n, steps,
    WIDTH: tl.constexpr, BLOCK: tl.constexpr, SAMPLER: tl.constexpr,
    ACTIVATION: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Integrate ``BLOCK`` particles over all ``steps`` and write their trajectory.

    Parameters
    ----------
    x_ptr : (n, 2) float32
        Positions at t = 0.
    out_ptr : (steps + 1, n, 2) float32
        The trajectory, written in full (row 0 is a copy of x).
    bias_ptr : (steps * evaluations, WIDTH) float32
        The first layer's bias at the time of each evaluation (time and class folded in).
    dt_ptr : (steps,) float32
        Each step's length.
    w_in_ptr : (2, WIDTH) float32
        The first layer's weights of x0 and x1.
    w_ptr : (2, WIDTH, WIDTH) float32 or bfloat16
        The two hidden layers' weights, transposed (input by output).
    b_ptr : (2, WIDTH) float32
        The two hidden layers' biases.
    w_out_ptr, b_out_ptr : (2, WIDTH) and (2,) float32
        The output layer.
    """
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = rows < n
    offsets = rows.to(tl.int64) * 2
    cols = tl.arange(0, WIDTH)
    square = cols[:, None] * WIDTH + cols[None, :]
    w_a = tl.load(w_in_ptr + cols)
    w_b = tl.load(w_in_ptr + WIDTH + cols)
    w1 = tl.load(w_ptr + square)
    w2 = tl.load(w_ptr + WIDTH * WIDTH + square)
    b1 = tl.load(b_ptr + cols)
    b2 = tl.load(b_ptr + WIDTH + cols)
    wo_a = tl.load(w_out_ptr + cols)
    wo_b = tl.load(w_out_ptr + WIDTH + cols)
    bo_a = tl.load(b_out_ptr)
    bo_b = tl.load(b_out_ptr + 1)
    x0 = tl.load(x_ptr + offsets, mask=mask, other=0.0)
    x1 = tl.load(x_ptr + offsets + 1, mask=mask, other=0.0)
    tl.store(out_ptr + offsets, x0, mask=mask)
    tl.store(out_ptr + offsets + 1, x1, mask=mask)
    evaluations = 1 if SAMPLER == 0 else 2
    step = 0
    while (
        step < steps
    ):  # a for loop over an int argument fails in Triton 3.6's interpreter with numpy 2.4
        dt = tl.load(dt_ptr + step)
        bias_row = bias_ptr + step * evaluations * WIDTH
        v0, v1 = _velocity(
            x0, x1, tl.load(bias_row + cols), w_a, w_b, w1, b1, w2, b2, wo_a, wo_b, bo_a, bo_b,
            ACTIVATION, PRECISION,
        )  # fmt: skip
        if SAMPLER == 0:
            x0 += dt * v0
            x1 += dt * v1
        elif SAMPLER == 1:
            u0, u1 = _velocity(
                x0 + 0.5 * dt * v0, x1 + 0.5 * dt * v1, tl.load(bias_row + WIDTH + cols),
                w_a, w_b, w1, b1, w2, b2, wo_a, wo_b, bo_a, bo_b, ACTIVATION, PRECISION,
            )  # fmt: skip
            x0 += dt * u0
            x1 += dt * u1
        else:
            u0, u1 = _velocity(
                x0 + dt * v0, x1 + dt * v1, tl.load(bias_row + WIDTH + cols),
                w_a, w_b, w1, b1, w2, b2, wo_a, wo_b, bo_a, bo_b, ACTIVATION, PRECISION,
            )  # fmt: skip
            x0 += 0.5 * dt * (v0 + u0)
            x1 += 0.5 * dt * (v1 + u1)
        target = out_ptr + (step + 1).to(tl.int64) * n * 2 + offsets
        tl.store(target, x0, mask=mask)
        tl.store(target + 1, x1, mask=mask)
        step += 1
