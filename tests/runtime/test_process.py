"""ProcessRuntime with real processes: exit codes, logs, stop, exec, env/cwd, limits, restart."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tasks.kubelet import cri
from tests.runtime.conftest import exited, kill_all, run, sandbox_config, wait_for
from workers.runtime.cgroups import limits_enforced
from workers.runtime.process import VERSION, ProcessRuntime

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


def log_lines(path: str) -> list[tuple[str, str, str]]:
    out = []
    for line in Path(path).read_text().splitlines():
        m = LOG_LINE.match(line)
        assert m, line
        out.append((m[1], m[2], m[3]))
    return out


def test_version_and_sandbox(runtime: ProcessRuntime, tmp_path: Path) -> None:
    assert runtime.version() == VERSION == "kubeq-process://0.1.0"
    cfg = sandbox_config(tmp_path)
    sid = runtime.run_pod_sandbox(cfg)
    assert runtime.run_pod_sandbox(cfg) == sid  # same pod uid, same sandbox
    st = runtime.pod_sandbox_status(sid)
    assert st.state == cri.SANDBOX_READY and st.config.namespace == "default" and st.ip
    assert os.path.isdir(cfg.pod_dir)
    assert [s.id for s in runtime.list_pod_sandboxes()] == [sid]
    runtime.stop_pod_sandbox(sid)
    assert runtime.pod_sandbox_status(sid).state == cri.SANDBOX_NOTREADY
    runtime.remove_pod_sandbox(sid)
    assert runtime.list_pod_sandboxes() == [] and not os.path.exists(cfg.pod_dir)
    with pytest.raises(KeyError):
        runtime.pod_sandbox_status(sid)


def test_exit_codes_and_reasons(runtime: ProcessRuntime, sandbox: str) -> None:
    ok = run(runtime, sandbox, ["sh", "-c", "exit 0"], name="ok")
    bad = run(runtime, sandbox, ["python3", "-c", "raise SystemExit(3)"], name="bad")
    killed = run(runtime, sandbox, ["sh", "-c", "kill -9 $$"], name="killed")
    st = exited(runtime, ok)
    assert (st.exit_code, st.reason, st.finished_at >= st.started_at > 0) == (0, "Completed", True)
    assert (exited(runtime, bad).exit_code, exited(runtime, bad).reason) == (3, "Error")
    assert (exited(runtime, killed).exit_code, exited(runtime, killed).reason) == (137, "Error")
    assert {s.id for s in runtime.list_containers(sandbox)} == {ok, bad, killed}
    with pytest.raises(FileNotFoundError):
        run(runtime, sandbox, ["/no/such/binary"], name="missing")
    missing = [s for s in runtime.list_containers() if s.name == "missing"][0]
    assert missing.state == cri.EXITED and missing.reason == "StartError"
    with pytest.raises(KeyError):
        runtime.container_status("nope")


def test_logs_cri_format(runtime: ProcessRuntime, sandbox: str) -> None:
    script = "import sys; print('out1'); print('err1', file=sys.stderr); sys.stdout.write('tail-no-newline')"
    cid = run(runtime, sandbox, ["python3", "-u", "-c", script])
    st = exited(runtime, cid)
    assert st.log_path.endswith("/logs/c/0.log")
    lines = log_lines(st.log_path)
    assert ("stdout", "F", "out1") in lines and ("stderr", "F", "err1") in lines
    # each stream keeps its order; lines of the two streams interleave as they arrive
    assert [line for line in lines if line[0] == "stdout"][-1] == ("stdout", "F", "tail-no-newline")


def test_log_rotation(tmp_path: Path) -> None:
    rt = ProcessRuntime(str(tmp_path / "root"), log_max_bytes=4096)
    try:
        sid = rt.run_pod_sandbox(sandbox_config(tmp_path))
        cid = run(rt, sid, ["python3", "-c", "for i in range(400): print(f'line-{i:04d}')"])
        st = exited(rt, cid)
        assert os.path.getsize(st.log_path) <= 4096 and os.path.getsize(st.log_path + ".1") <= 4096
        assert not os.path.exists(st.log_path + ".2")
        current, rotated = log_lines(st.log_path), log_lines(st.log_path + ".1")
        assert current[-1][2] == "line-0399"
        numbers = [int(t[6:]) for _, _, t in rotated + current]
        assert numbers == list(range(numbers[0], 400))  # contiguous, newest kept
    finally:
        rt.close()


def test_long_line_is_split_into_partials(runtime: ProcessRuntime, sandbox: str) -> None:
    cid = run(runtime, sandbox, ["python3", "-c", "print('x' * 40000)"])
    lines = log_lines(exited(runtime, cid).log_path)
    assert [tag for _, tag, _ in lines] == ["P", "P", "F"]
    assert "".join(t for _, _, t in lines) == "x" * 40000


def test_stop_graceful_then_kill(runtime: ProcessRuntime, sandbox: str) -> None:
    graceful = (
        "import signal, sys, time\n"
        "def bye(*_):\n    print('got TERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('up', flush=True)\ntime.sleep(60)\n"
    )
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    g = run(runtime, sandbox, ["python3", "-c", graceful], name="g")
    s = run(runtime, sandbox, ["python3", "-c", stubborn], name="s")
    for cid in (g, s):
        wait_for(lambda cid=cid: "up" in Path(runtime.container_status(cid).log_path).read_text())
    runtime.stop_container(g, 5)
    st = runtime.container_status(g)
    assert (st.state, st.exit_code, st.reason) == (cri.EXITED, 0, "Completed")
    assert "got TERM" in Path(st.log_path).read_text()
    t0 = time.monotonic()
    runtime.stop_container(s, 0.5)
    assert time.monotonic() - t0 >= 0.5
    st = runtime.container_status(s)
    assert (st.state, st.exit_code, st.reason) == (cri.EXITED, 137, "Error")
    runtime.stop_container(s, 1)  # stopping a stopped container is fine
    runtime.remove_container(s)
    assert s not in {c.id for c in runtime.list_containers()} and not os.path.exists(st.log_path)


def test_env_cwd_and_exec_sync(runtime: ProcessRuntime, sandbox: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    cid = run(
        runtime, sandbox, ["sh", "-c", 'echo "$GREETING from $(pwd) on $HOSTNAME"; sleep 30'],
        env={"GREETING": "hello"}, working_dir=str(work),
    )  # fmt: skip
    log = runtime.container_status(cid).log_path
    wait_for(lambda: os.path.exists(log) and f"hello from {work} on web" in Path(log).read_text())
    res = runtime.exec_sync(cid, ["sh", "-c", 'echo "$GREETING $(pwd)"; echo oops >&2; exit 4'], 5)
    assert (res.exit_code, res.stdout, res.stderr) == (4, f"hello {work}\n".encode(), b"oops\n")
    with pytest.raises(TimeoutError):
        runtime.exec_sync(cid, ["sleep", "10"], 0.3)
    runtime.stop_container(cid, 0)
    with pytest.raises(ValueError):
        runtime.exec_sync(cid, ["true"], 1)


def test_default_cwd_is_pod_dir(runtime: ProcessRuntime, sandbox: str) -> None:
    cid = run(runtime, sandbox, ["pwd"])
    st = exited(runtime, cid)
    assert log_lines(st.log_path)[0][2] == runtime.pod_sandbox_status(sandbox).config.pod_dir


def test_state_survives_a_new_runtime(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    first = ProcessRuntime(root)
    sid = first.run_pod_sandbox(sandbox_config(tmp_path))
    done = run(first, sid, ["sh", "-c", "exit 2"], name="done")
    exited(first, done)
    script = "import time\nfor i in range(100): print(f'tick {i}', flush=True); time.sleep(0.1)"
    live = run(first, sid, ["python3", "-c", script], name="live")
    pid = first.container_status(live).pid
    first.close()
    second = ProcessRuntime(root)
    try:
        assert [s.id for s in second.list_pod_sandboxes()] == [sid]
        st = second.container_status(live)
        assert (st.state, st.pid) == (cri.RUNNING, pid)
        assert (second.container_status(done).exit_code, second.container_status(done).reason) == (2, "Error")
        size = os.path.getsize(st.log_path)
        wait_for(lambda: os.path.getsize(st.log_path) > size + 100)  # the new runtime goes on logging
        assert second.exec_sync(live, ["echo", "hi"], 5).stdout == b"hi\n"
        second.stop_container(live, 1)
        st = second.container_status(live)
        assert st.state == cri.EXITED and st.exit_code == 137
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        kill_all(second)
        second.close()


def test_memory_limit(runtime: ProcessRuntime, sandbox: str) -> None:
    script = "b = bytearray(400 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('allocated')"
    cid = run(runtime, sandbox, ["python3", "-c", script], memory_limit=128 * 1024 * 1024)
    st = exited(runtime, cid, 15)
    if limits_enforced():  # a memory cgroup (v2, or v1 here) kills the container
        assert (st.exit_code, st.reason) == (137, "OOMKilled")
    else:  # RLIMIT_AS: the allocation fails inside the container
        assert (st.exit_code, st.reason) == (1, "Error")
        assert "MemoryError" in Path(st.log_path).read_text()
    assert "allocated" not in Path(st.log_path).read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_run_as_user_and_group(runtime: ProcessRuntime, sandbox: str) -> None:
    cid = run(runtime, sandbox, ["sh", "-c", "id -u; id -g; id -G"], run_as_user=65534, run_as_group=65533)
    assert [t for _, _, t in log_lines(exited(runtime, cid).log_path)] == ["65534", "65533", "65533"]


def test_only_exits_nobody_asked_for_are_reported(tmp_path: Path) -> None:
    changes: list[cri.ContainerStatus] = []
    rt = ProcessRuntime(str(tmp_path / "root"), on_change=changes.append)
    try:
        sb = rt.run_pod_sandbox(sandbox_config(tmp_path))
        quits = run(rt, sb, ["sh", "-c", "exit 3"], name="quits")
        stopped = run(rt, sb, ["sleep", "60"], name="stopped")
        wait_for(lambda: rt.container_status(quits).state == cri.EXITED)
        rt.stop_container(stopped, 1)
        assert rt.container_status(stopped).state == cri.EXITED
        time.sleep(0.2)
        assert [(c.id, c.exit_code) for c in changes] == [(quits, 3)]  # the stop's caller knows already
    finally:
        kill_all(rt)
        rt.close()
