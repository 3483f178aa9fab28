"""The CRI JSON codec: every type survives a round trip; errors keep their type."""

from __future__ import annotations

import json

import pytest

from tasks.kubelet import cri, cri_codec


def test_round_trip_nested_types() -> None:
    cfg = cri.ContainerConfig(
        "c", "img", ["a"], mounts=[cri.Mount("/h", "/c", True)], liveness=cri.Probe("tcpSocket", port=80)
    )
    wire = json.loads(cri_codec.request("create_container", {"sandbox_id": "s", "config": cfg}))
    params = cri_codec.decode_params(wire["method"], wire["params"])
    assert params == {"sandbox_id": "s", "config": cfg}
    res = cri.ExecResult(1, b"\x00out", b"")
    assert cri_codec.decode_result("exec_sync", json.loads(cri_codec.dumps(res))) == res


def test_errors_keep_their_type() -> None:
    for exc in (FileNotFoundError("x"), PermissionError("y"), KeyError("z"), TimeoutError("t")):
        with pytest.raises(type(exc)):
            cri_codec.raise_error(json.loads(json.dumps(cri_codec.error(exc))))
    with pytest.raises(RuntimeError):
        cri_codec.raise_error(cri_codec.error(ZeroDivisionError("boom")))
