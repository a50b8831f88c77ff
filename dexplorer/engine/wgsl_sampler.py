"""Whole trajectories in a WGSL compute shader (``shaders/mlp_sampler.wgsl``): the same
work as the Triton kernel, on any GPU wgpu can use (Vulkan, Metal, D3D12, or lavapipe on a
CPU), with no CUDA and no torch on the device.

The positions it writes are a wgpu buffer, which on the renderer's device is what a sampler
feeding the renderer without any copy needs. The back-end dispatcher
(:mod:`dexplorer.engine.backends`) runs it only when asked for by name: it is slower than
torch on every device measured (``benchmarks/bench_sampling.py --impls wgsl``). float32
throughout, equal to the eager samplers within 1e-6. Measured (original preset, midpoint):
on an H100 through Vulkan, 5.1e7 particle-steps/s at 1M x 50, against 2.9e8 for eager torch
and 3.5e9 for the Triton kernel; on lavapipe (2 CPU cores) 1.6e4, against 6e5 for eager
torch, after about 10 s of compiling. One invocation per particle reads every weight from
storage for each multiply-add, with no tiling through workgroup memory and no tensor cores.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import wgpu
from pygfx.renderers.wgpu.shader.templating import apply_templating
from torch import Tensor

from ..core.fields import NetworkField
from ..core.whole_run import (
    ACTIVATION_CODES,
    SAMPLER_CODES,
    evaluation_times,
    field_unsupported,
    kernel_weights,
)
from ..resources import wgsl

WORKGROUP = 64
MAX_WORKGROUPS = 65535


BUFFER_LIMITS = ("max-buffer-size", "max-storage-buffer-binding-size")
"""The limits on the output buffer. A sampler's device asks for the adapter's largest:
trajectories are big (1M x 51 steps is 408 MB, over WebGPU's default of 256 MB)."""


class WgslSampler:
    """Owns a wgpu device and the compute pipelines built on it (one per network width,
    activation and sampler, compiled on first use), and integrates flow fields with them.

    Parameters
    ----------
    device : wgpu.GPUDevice, optional
        The device to run on; by default one of its own on the high-performance adapter,
        with the adapter's largest buffer limits.
    """

    def __init__(self, device: wgpu.GPUDevice | None = None) -> None:
        if device is None:
            adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
            limits = {name: adapter.limits[name] for name in BUFFER_LIMITS}
            device = adapter.request_device_sync(required_limits=limits)
        self.device = device
        self._pipelines: dict[tuple[int, str, str], wgpu.GPUComputePipeline] = {}

    @property
    def adapter_summary(self) -> str:
        return self.device.adapter.summary

    def _pipeline(self, width: int, activation: str, sampler: str) -> wgpu.GPUComputePipeline:
        key = (width, activation, sampler)
        if key not in self._pipelines:
            code = apply_templating(
                wgsl("mlp_sampler.wgsl"),
                width=width,
                activation=ACTIVATION_CODES[activation],
                sampler=SAMPLER_CODES[sampler],
            )
            module = self.device.create_shader_module(code=code)
            self._pipelines[key] = self.device.create_compute_pipeline(
                layout="auto", compute={"module": module, "entry_point": "main"}
            )
        return self._pipelines[key]

    def _storage(self, array: np.ndarray) -> wgpu.GPUBuffer:
        data = np.ascontiguousarray(array, dtype=np.float32)
        return self.device.create_buffer_with_data(data=data, usage=wgpu.BufferUsage.STORAGE)

    def run(
        self, field: NetworkField, x0: Tensor, steps: int, sampler: str, record: bool = True
    ) -> wgpu.GPUBuffer:
        """Submit the whole run and return the buffer it writes (on the device, not waited
        for): the trajectory, (steps + 1) x N x 2 float32, with ``record``; else the final
        positions, N x 2.

        Raises
        ------
        ValueError
            For a field or sampler the shader cannot run, or a trajectory larger than the
            device's largest buffer.
        """
        reason = field_unsupported(field, sampler)
        if reason is None and (x0.dim() != 2 or x0.shape[1] != 2):
            reason = f"x0 must have shape (N, 2), got {tuple(x0.shape)}"
        n = x0.shape[0]
        size = (steps + 1 if record else 1) * n * 8
        limit = min(self.device.limits[name] for name in BUFFER_LIMITS)
        if reason is None and size > limit:
            reason = f"the output needs {size / 2**20:.0f} MiB, over the device's "
            reason += f"{limit / 2**20:.0f}"
        if reason is not None:
            raise ValueError(f"the WGSL sampler cannot run this: {reason}")
        times, lengths = evaluation_times(steps, sampler)
        weights = kernel_weights(field, times, next(field.network.parameters()).device)
        small = np.concatenate(
            [
                weights.first.cpu().numpy().ravel(),
                weights.hidden_bias.cpu().numpy().ravel(),
                weights.output.cpu().numpy().ravel(),
                weights.output_bias.cpu().numpy(),
                np.asarray(lengths, np.float32),
            ]
        )
        config = field.network.config
        pipeline = self._pipeline(config.width, config.activation, sampler)
        usage = wgpu.BufferUsage
        params = np.array([n, steps, int(record), 0], np.uint32)
        out = self.device.create_buffer(size=size, usage=usage.STORAGE | usage.COPY_SRC)
        resources = [
            self.device.create_buffer_with_data(data=params, usage=usage.UNIFORM),
            self._storage(x0.detach().float().cpu().numpy()),
            out,
            self._storage(weights.bias.cpu().numpy()),
            self._storage(weights.hidden.cpu().numpy()),
            self._storage(small),
        ]
        bind_group = self.device.create_bind_group(
            layout=pipeline.get_bind_group_layout(0),
            entries=[
                {"binding": i, "resource": {"buffer": buffer, "offset": 0, "size": buffer.size}}
                for i, buffer in enumerate(resources)
            ],
        )
        groups = max(1, math.ceil(n / WORKGROUP))
        columns = min(groups, MAX_WORKGROUPS)
        encoder = self.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, bind_group)
        compute.dispatch_workgroups(columns, math.ceil(groups / columns), 1)
        compute.end()
        self.device.queue.submit([encoder.finish()])
        return out

    def sample(
        self, field: NetworkField, x0: Tensor, steps: int, sampler: str = "midpoint"
    ) -> Tensor:
        """Integrate ``x0`` (N, 2) from t = 0 to 1 and return the trajectory, a CPU tensor of
        shape (steps + 1, N, 2) whose row 0 is ``x0``."""
        out = self.run(field, x0, steps, sampler, record=True)
        data = np.frombuffer(self.device.queue.read_buffer(out), np.float32)
        return torch.from_numpy(data.copy()).view(steps + 1, x0.shape[0], 2)
