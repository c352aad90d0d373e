"""A kubeconfig that cannot be read is one clear error naming the file (a service exits with
one line, no traceback), never an exception from inside the client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import InvalidInput
from shared.kube import KubeClient
from shared.kube.errors import KubeConfigInvalid


@pytest.mark.parametrize("content", [None, "", "not: [a kubeconfig"])
def test_an_unreadable_kubeconfig_names_the_file(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "kc.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KubeConfigInvalid, match=f"cannot read the kubeconfig {path}") as info:
        KubeClient(str(path))
    assert isinstance(info.value, InvalidInput)


def test_a_service_given_a_missing_kubeconfig_exits_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.kubeconfig"
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "reporter", "--kubeconfig", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert f"cannot read the kubeconfig {missing}" in out.stderr
    assert "Traceback" not in out.stderr
