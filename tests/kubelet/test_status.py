"""Pod status building: container statuses, phase and conditions from runtime instances."""

from __future__ import annotations

import os

from tasks.kubelet.cri import CREATED, EXITED, RUNNING, ContainerStatus
from tasks.kubelet.lifecycle import crashloop_delay
from tasks.kubelet.status import ContainerView, container_status, merge_conditions, pod_conditions, pod_phase

T0 = 1_700_000_000.0


def inst(state: str, attempt: int = 0, code: int | None = None, ready: bool = True) -> ContainerStatus:
    return ContainerStatus(
        id=f"c{attempt}",
        sandbox_id="s",
        name="app",
        image="python:3",
        state=state,
        attempt=attempt,
        created_at=T0,
        started_at=T0 + 1,
        finished_at=T0 + 2 if state == EXITED else 0.0,
        exit_code=code,
        reason="" if code is None else ("Completed" if code == 0 else "Error"),
        ready=ready,
        started=True,
    )


def test_running_container_status() -> None:
    out = container_status(ContainerView("app", "python:3", inst(RUNNING)))
    assert out["state"] == {"running": {"startedAt": "2023-11-14T22:13:21Z"}}
    assert out["ready"] and out["started"] and out["restartCount"] == 0
    assert out["containerID"] == "kubeq-process://c0" and out["imageID"].startswith("python@sha256:")


def test_crashloop_shows_waiting_with_last_termination() -> None:
    view = ContainerView(
        "app", "python:3", inst(EXITED, 2, 1), inst(EXITED, 1, 1), ("CrashLoopBackOff", "back-off")
    )
    out = container_status(view)
    assert out["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    assert (
        out["lastState"]["terminated"]["exitCode"] == 1
        and out["lastState"]["terminated"]["reason"] == "Error"
    )
    assert out["restartCount"] == 2 and not out["ready"]
    assert pod_phase([], [view], "Always") == "Running"


def test_restarted_container_keeps_previous_as_last_state() -> None:
    out = container_status(ContainerView("app", "i", inst(RUNNING, 1), inst(EXITED, 0, 137)))
    assert out["lastState"]["terminated"]["exitCode"] == 137 and out["restartCount"] == 1


def test_phases() -> None:
    done = ContainerView("app", "i", inst(EXITED, 0, 0))
    failed = ContainerView("app", "i", inst(EXITED, 0, 1))
    running = ContainerView("app", "i", inst(RUNNING))
    creating = ContainerView("app", "i", inst(CREATED))
    assert pod_phase([], [done], "Never") == "Succeeded"
    assert pod_phase([], [failed], "Never") == "Failed"
    assert pod_phase([], [done, running], "Never") == "Running"
    assert pod_phase([], [creating], "Always") == "Pending"
    assert pod_phase([failed], [ContainerView("m", "i")], "Never") == "Failed"
    assert pod_phase([running], [ContainerView("m", "i")], "Always") == "Pending"
    assert pod_phase([done], [running], "Always") == "Running"
    assert pod_phase([], [done], "OnFailure") == "Succeeded"


def test_conditions_keep_transition_time_while_unchanged() -> None:
    running = ContainerView("app", "i", inst(RUNNING))
    first = pod_conditions([], [running], "Running", True, "t1")
    again = merge_conditions(first, pod_conditions([], [running], "Running", True, "t2"))
    assert {c["type"]: c["lastTransitionTime"] for c in again}["Ready"] == "t1"
    unready = ContainerView("app", "i", inst(RUNNING, ready=False))
    moved = {
        c["type"]: c for c in merge_conditions(again, pod_conditions([], [unready], "Running", True, "t3"))
    }
    assert moved["Ready"]["status"] == "False" and moved["Ready"]["lastTransitionTime"] == "t3"
    assert moved["Ready"]["message"] == "containers with unready status: [app]"
    assert moved["Initialized"]["lastTransitionTime"] == "t1"


def test_crashloop_delay_doubles_to_five_minutes() -> None:
    old = os.environ.pop("KUBEQ_CRASHLOOP_BASE_SECONDS", None)
    try:
        assert [crashloop_delay(a) for a in range(7)] == [10, 20, 40, 80, 160, 300, 300]
        assert crashloop_delay(5, ran_for=900) == 10
    finally:
        if old is not None:
            os.environ["KUBEQ_CRASHLOOP_BASE_SECONDS"] = old
