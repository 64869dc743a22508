import pytest

from spacetime_snn.config import settings_from_dict
from spacetime_snn.data.synthetic import SyntheticSpec, generate_synthetic


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small synthetic data set in SHD format (train.h5 / test.h5)."""
    root = tmp_path_factory.mktemp("synthetic")
    spec = SyntheticSpec(num_channels=24, num_classes=3, num_train=48, num_test=24, group_size=6,
                         num_groups=3, duration_ms=200.0, seed=0)
    generate_synthetic(spec, root)
    return root


@pytest.fixture
def tiny_settings(tiny_data):
    def make(**model):
        return settings_from_dict({
            "data": {"source": "synthetic", "root": str(tiny_data), "dt_ms": 2.0, "validation_fraction": 0.25,
                     "augment": {"shift_channels": 2, "blend_samples": 8}},
            "model": {"hidden": 8, "delay_mode": "spatial", "max_delay_steps": 10,
                      "init": {"w_in_mean": 0.3, "w_in_std": 0.1}, **model},
            "train": {"epochs": 3, "patience": 5, "batch_size": 16, "delay_lr": 0.05},
            "seed": 3,
            "run": {"study": "test", "condition": "spatial", "hidden": 8, "seed": 3},
        })
    return make
