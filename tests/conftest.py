import os

import pytest

from tinydtl.runtime.processes import no_stray_processes

# Quieter TensorFlow when a test imports it; no effect on results.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def no_tff_worker_outlives_the_tests():
    """Safety net: TFF's worker_binary outlives Python; none may survive the test session."""
    with no_stray_processes():
        yield


def pytest_configure(config):
    config.addinivalue_line("markers", "full_reproduce: the full `tinydtl reproduce` run (CI's last step)")


def pytest_collection_modifyitems(config, items):
    """The full reproduction runs after every other test (issue 12: 'CI runs the full mode once after the tests')."""
    items.sort(key=lambda item: item.get_closest_marker("full_reproduce") is not None)
