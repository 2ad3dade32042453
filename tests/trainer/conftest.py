"""A trained run shared by the tests of the tools that read one (extract, visrank, FeatureExtractor)."""
import pytest

from tests.trainer.test_run import tiny_run


@pytest.fixture(scope="session")
def trained_run(tiny_world, tmp_path_factory):
    """A run folder with a ResNet-18 baseline trained one epoch on the tiny world."""
    return tiny_run(tmp_path_factory.mktemp("extract"), tiny_world, epochs=1)


def checkpoint_of(run_dir):
    """The baseline's latest checkpoint in a run folder of `trained_run`."""
    return run_dir / "baseline" / "checkpoints" / "latest.pt"
