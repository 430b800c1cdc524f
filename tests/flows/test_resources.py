"""GPU slots: a GPU job's work holds one slot of the Prefect global concurrency limit."""

from __future__ import annotations

import pytest

from flows.resources import GPU_LIMIT_ENV, gpu_slot

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _active_slots(name: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


@pytest.fixture
def limit():
    """A fresh limit of 2 slots, named per test so tests do not share slots."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    def create(name: str) -> str:
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=2))
        return name

    return create


def test_gpu_slot_holds_one_slot_while_the_body_runs(limit, monkeypatch):
    # Setup
    monkeypatch.setenv(GPU_LIMIT_ENV, limit("gpu-test-hold"))

    # Run
    with gpu_slot("gpu"):
        inside = _active_slots("gpu-test-hold")

    # Assert
    assert inside == 1
    assert _active_slots("gpu-test-hold") == 0


def test_gpu_slot_cpu_work_holds_nothing(limit, monkeypatch):
    # Setup
    monkeypatch.setenv(GPU_LIMIT_ENV, limit("gpu-test-cpu"))

    # Run
    with gpu_slot("cpu"):
        inside = _active_slots("gpu-test-cpu")

    # Assert
    assert inside == 0


def test_gpu_slot_without_a_limit_runs_unbounded(monkeypatch):
    # Setup: no limit of this name exists (an embedded server, a fresh install).
    monkeypatch.setenv(GPU_LIMIT_ENV, "gpu-never-created")
    ran = []

    # Run
    with gpu_slot("gpu"):
        ran.append(True)

    # Assert
    assert ran == [True]


def test_gpu_slot_without_a_limit_or_a_gpu_says_nothing(monkeypatch, caplog):
    # Setup: an image job's default `gpu` resource on a machine without CUDA, no limit created.
    import flows.resources

    monkeypatch.setattr(flows.resources, "has_gpu", lambda: False)
    monkeypatch.setenv(GPU_LIMIT_ENV, "gpu-absent-quiet")

    # Run
    with caplog.at_level("WARNING"), gpu_slot("gpu"):
        pass

    # Assert
    assert "gpu-absent-quiet" not in caplog.text


def test_gpu_slot_without_a_limit_on_a_gpu_machine_warns(monkeypatch, caplog):
    # Setup
    import flows.resources

    monkeypatch.setattr(flows.resources, "has_gpu", lambda: True)
    monkeypatch.setenv(GPU_LIMIT_ENV, "gpu-absent-loud")

    # Run
    with caplog.at_level("WARNING"), gpu_slot("gpu"):
        pass

    # Assert
    assert "gpu-absent-loud" in caplog.text
