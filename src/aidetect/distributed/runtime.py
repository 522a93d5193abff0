"""Ray itself: importing it (or saying how to install it), connecting, and reading its failures.

Ray and Ray Data are imported here and only when a distributed function runs,
so ``import aidetect`` and ``aidetect --help`` never pay for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aidetect.errors import AidetectError, DistributedError, MissingDependencyError

EXTRA = "ray"
"""The extra that installs Ray Data: ``pip install "aidetect-images[ray]"``."""

INSTALL_HINT = "pip install 'aidetect-images[ray]'"


def require_ray() -> Any:
    """The ``ray`` module with ``ray.data`` loaded, or a `MissingDependencyError` naming the ``[ray]`` extra."""
    try:
        import ray
        import ray.data
    except ModuleNotFoundError as exc:
        package = (exc.name or "ray").split(".")[0]
        error = MissingDependencyError("ray", [package], EXTRA)
        error.args = (f"the Ray engine (--engine ray, aidetect.distributed) needs {package}, which is not "
                      f"installed; run: {INSTALL_HINT}",)
        raise error from exc
    return ray


def connect(address: str | None) -> Any:
    """Ray, connected: to ``address`` (``"auto"``, ``"ray://head:10001"``) or, when None, to the cluster this
    process already joined, else a fresh local instance on this machine's cores."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise DistributedError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: {exc}") \
            from exc
    return ray


def run_failure(exc: BaseException) -> AidetectError:
    """The library error behind a failed Ray job (a detector that cannot run), else a `DistributedError`."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, AidetectError):
            return cause
        cause = getattr(cause, "cause", None) or cause.__cause__ or cause.__context__
    return DistributedError(f"the Ray job failed: {type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


@contextlib.contextmanager
def tolerating_failed_blocks(progress: bool) -> Iterator[None]:
    """Let the job go on past blocks whose tasks keep failing (their files are retried one by one afterwards),
    with Ray Data's progress bars on or off; the data context is restored after."""
    ray = require_ray()
    context = ray.data.DataContext.get_current()
    saved = context.max_errored_blocks, context.enable_progress_bars
    context.max_errored_blocks, context.enable_progress_bars = -1, progress
    try:
        yield
    finally:
        context.max_errored_blocks, context.enable_progress_bars = saved
