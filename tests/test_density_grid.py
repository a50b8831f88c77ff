"""The particles' density grid (engine/grids.py): the C kernel (``density.c``) and torch
give the same image, and both the closed form of one point's blurred count."""

import numpy as np
import pytest
import torch

from dexplorer.engine import grids
from dexplorer.engine.grids import DensityGrid


def c_kernel():
    from dexplorer.core import native_build

    if native_build.load("density").library is None:
        pytest.skip("the density kernel needs a C compiler")
    return grids.density_kernel()


@pytest.fixture(params=["c", "torch"])
def way(request, monkeypatch):
    """Each test runs with the C kernel and with torch."""
    if request.param == "c":
        assert c_kernel() is not None
    else:
        monkeypatch.setattr(grids, "density_kernel", lambda: None)
    return request.param


def test_one_point_is_the_outer_product_of_the_blur_kernel(way):
    grid = DensityGrid(resolution=64, extent=2.0, blur=1.5)
    kernel = grid.kernel.numpy().astype(float)
    radius = len(kernel) // 2
    # cell (x 40, y 10): its centre is at (-2 + 40.5 / 16, -2 + 10.5 / 16)
    point = torch.tensor([[-2 + 40.5 / 16, -2 + 10.5 / 16]], dtype=torch.float32)
    image = grid.compute(point, torch.zeros(64, 64)).numpy()
    expected = np.zeros((64, 64))
    expected[10 - radius : 11 + radius, 40 - radius : 41 + radius] = np.outer(kernel, kernel)
    assert image == pytest.approx(expected / expected.max(), abs=1e-6)


def test_points_outside_the_grid_or_not_numbers_are_not_counted(way):
    grid = DensityGrid(resolution=32, extent=1.0, blur=1.0)
    inside = torch.tensor([[0.1, 0.1], [0.1, 0.1], [-0.5, 0.5]], dtype=torch.float32)
    outside = torch.tensor([[5.0, 0.0], [0.0, -1.0 - 1e-3], [np.nan, 0.0], [np.inf, 0.0]])
    alone = grid.compute(inside, torch.zeros(32, 32)).clone()
    both = grid.compute(torch.cat([inside, outside.float()]), torch.zeros(32, 32))
    assert torch.equal(alone, both)
    assert alone.max() == 1.0


def test_the_c_kernel_gives_torchs_image(monkeypatch):
    assert c_kernel() is not None
    rng = np.random.default_rng(5)
    for count, blur in ((20_000, 2.0), (150, 4.0)):
        grid = DensityGrid(resolution=128, extent=3.5, blur=blur)
        points = torch.from_numpy(rng.normal(0, 1.4, (count, 2)).astype(np.float32))
        ours = grid.compute(points, torch.zeros(128, 128)).clone()
        with monkeypatch.context() as torch_only:
            torch_only.setattr(grids, "density_kernel", lambda: None)
            theirs = grid.compute(points, torch.zeros(128, 128))
        assert (ours - theirs).abs().max() < 1e-6
        again = grid.compute(points, torch.zeros(128, 128))  # the kernel's room is clear again
        assert torch.equal(again, ours)
