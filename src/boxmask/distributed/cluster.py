"""Joining a Ray cluster, or starting a local Ray when none runs; ``import ray`` lives here."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from boxmask.errors import BoxmaskError

__all__ = ["ClusterError", "RayNotInstalledError", "connect", "disconnect"]


class RayNotInstalledError(BoxmaskError, ImportError):
    """``ray[data]`` is not installed: ``pip install 'boxmask[ray]'``."""


class ClusterError(BoxmaskError):
    """The Ray cluster could not be reached or started; the message says which address."""


def _ray() -> Any:
    try:
        import ray
        import ray.data  # the Data library is the part boxmask needs
    except ImportError as exc:
        raise RayNotInstalledError(
            f"the Ray engine needs ray[data] ({exc}); install it with: pip install 'boxmask[ray]'"
        ) from None
    return ray


def pool_keywords(size: int | None, *, actors: bool = False) -> dict[str, Any]:
    """``map_batches`` keywords for a pool of at most ``size`` tasks (``actors``: exactly
    ``size`` actors of a callable class). Ray 2.51 deprecated ``concurrency`` for
    ``compute=TaskPoolStrategy(size)``/``ActorPoolStrategy(size)`` and logs a warning on
    every call that passes it; older Ray (the extra allows 2.40) keeps ``concurrency``,
    its documented keyword there, as boxmask always passed it."""
    ray = _ray()
    version = tuple(int(part) for part in re.findall(r"\d+", ray.__version__)[:2])
    if version < (2, 51):
        return {"concurrency": size}
    if actors:
        return {"compute": ray.data.ActorPoolStrategy(size=size)}
    return {"compute": ray.data.TaskPoolStrategy(size=size)} if size is not None else {}


def connect(
    address: str | None = "auto", *, num_cpus: int | None = None, quiet: bool = False
) -> str:
    """Connect this process to Ray and say what was done (one line for users).

    - Already connected (``ray.init`` was called): nothing changes.
    - ``address="auto"`` (or None): join the cluster named by ``RAY_ADDRESS`` or started on
      this machine with ``ray start``; when there is none, start a local Ray with
      ``num_cpus`` CPUs (default: all), which stops when this process exits.
    - ``address="local"``: always start a local Ray.
    - anything else (``ray://head:10001``, ``10.0.0.5:6379``): join that cluster;
      :class:`ClusterError` when it cannot be reached.

    ``quiet`` keeps Ray's console logging to errors (the CLI does this; Ray's log files
    keep everything). :func:`disconnect` undoes what this call did.
    """
    global _CONNECTED_HERE
    ray = _ray()
    if ray.is_initialized():
        return f"using the connected Ray ({_cpus(ray)} CPUs)"
    _CONNECTED_HERE = True
    level = logging.ERROR if quiet else logging.INFO
    local = {"num_cpus": num_cpus, "include_dashboard": False, "logging_level": level}
    if address in (None, "auto"):
        try:
            ray.init(address="auto", logging_level=level)
        except ConnectionError:
            ray.init(**local)
            message = f"no Ray cluster found; started a local Ray with {_cpus(ray)} CPUs"
        else:
            message = f"joined the Ray cluster at {_address(ray)} ({_cpus(ray)} CPUs)"
    elif address == "local":
        ray.init(**local)
        message = f"started a local Ray with {_cpus(ray)} CPUs"
    else:
        try:
            ray.init(address=address, logging_level=level)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ClusterError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
        message = f"joined the Ray cluster at {address} ({_cpus(ray)} CPUs)"
    if quiet:
        _quiet_ray_data()
    return message


def disconnect() -> None:
    """Leave Ray (stopping the local Ray it started) if :func:`connect` joined it;
    a Ray connected by the caller is left alone."""
    global _CONNECTED_HERE
    if _CONNECTED_HERE:
        _CONNECTED_HERE = False
        _ray().shutdown()


_CONNECTED_HERE = False


def _cpus(ray: Any) -> int:
    return int(ray.cluster_resources().get("CPU", 0))


def _address(ray: Any) -> str:
    with contextlib.suppress(Exception):
        return str(ray.get_runtime_context().gcs_address)
    return "auto"


def _quiet_ray_data() -> None:
    """Ray Data's console handler at ERROR (its log file keeps everything)."""
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)
