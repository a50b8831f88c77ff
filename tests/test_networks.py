"""Networks: presets, shapes known without allocation, conditioning inputs."""

import pytest
import torch

from dexplorer.core.networks import (
    PRESETS,
    NetworkConfig,
    build_network,
    count_parameters,
    parameter_shapes,
)


@pytest.mark.parametrize(
    "config",
    [
        PRESETS["default"],
        PRESETS["original"],
        PRESETS["default"].with_classes(8),
        NetworkConfig(width=16, depth=1, time_features=4, num_classes=2, class_features=3),
    ],
)
def test_parameter_shapes_match_the_built_network(config):
    built = {name: tuple(t.shape) for name, t in build_network(config).state_dict().items()}
    assert parameter_shapes(config) == built


def test_presets_have_the_documented_sizes():
    original = build_network("original")
    assert [layer.out_features for layer in original.hidden] == [64, 64, 64]
    assert original.hidden[0].in_features == 3  # x and raw t
    assert count_parameters(original) == 3 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 2 + 2
    default = build_network("default")
    assert [layer.out_features for layer in default.hidden] == [128, 128, 128]
    assert 30_000 < count_parameters(default) < 50_000


def test_time_features_separate_nearby_times():
    network = build_network("default")
    features = network.time_features(torch.tensor([0.0, 0.01, 1.0]))
    assert features.shape == (3, 32)
    assert (features[0] - features[1]).norm() > 0.1


@pytest.mark.parametrize(
    "change",
    [
        {"activation": "tanh"},
        {"time_embedding": "learned"},
        {"width": 0},
        {"time_features": 7},
        {"num_classes": -1},
    ],
)
def test_bad_configs_are_refused(change):
    with pytest.raises(ValueError):
        NetworkConfig(**change)
