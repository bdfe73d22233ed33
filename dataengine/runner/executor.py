"""The executor of whole-corpus phases: one call per shard or partition, as Ray tasks or in this process.

Dedup, publish and opt-out run their per-shard work through ``run_tasks``, so each phase
scales to a cluster the way ``dataengine run`` does:

- ``executor="ray"``: one Ray task per call (one CPU each) on the cluster at ``address``
  (or ``RAY_ADDRESS``, as ``ray job submit`` sets it), else on a local Ray bound to loopback
  (``ray_session.init_ray``); a Ray already running in this process is used as it is.
- ``executor="local"``: the calls run here, one after the other, or on ``concurrency``
  threads; for tiny inputs and tests, where starting Ray costs more than the work.

Either way the results come back in call order and progress shows on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dataengine.runner.progress import Progress

EXECUTORS = ("ray", "local")


def check_executor(executor: str) -> str:
    """Return ``executor`` if it is one of ``EXECUTORS``; ``ValueError`` naming them otherwise."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    return executor


def run_tasks(fn: Callable[..., Any], calls: list[tuple], *, executor: str = "ray", address: str | None = None,
              what: str = "tasks", concurrency: int | None = None, progress: bool = True,
              on_result: Callable[[Any], None] | None = None,
              counts: Callable[[tuple, Any], dict[str, int]] | None = None) -> list[Any]:
    """``[fn(*args) for args in calls]``, each call a Ray task or run here (see the module docstring).

    ``fn`` is a Python function (Ray ships it to its workers; builtins are refused). ``concurrency``
    caps the calls running at once (``None``: as many as Ray schedules, one at a time here).
    ``on_result`` is called in this process with each result once its call is done (a run
    record counting finished shards). ``counts(args, result)`` names what a finished call
    carried (``{"docs": 120}``); the progress bar shows those as rates. A failed call raises its
    exception here.
    """
    check_executor(executor)
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    out: list[Any] = [None] * len(calls)
    if not calls:
        return out
    with Progress(len(calls), what, "task", enabled=progress) as bar:

        def finished(n: int, result: Any) -> None:
            out[n] = result
            bar.update(1, **(counts(calls[n], result) if counts else {}))
            if on_result is not None:
                on_result(result)

        if executor == "local":
            _run_here(fn, calls, concurrency or 1, finished)
        else:
            _run_on_ray(fn, calls, address, concurrency, finished)
    return out


def _run_here(fn: Callable[..., Any], calls: list[tuple], threads: int,
              finished: Callable[[int, Any], None]) -> None:
    if threads == 1:
        for n, args in enumerate(calls):
            finished(n, fn(*args))
        return
    with ThreadPoolExecutor(threads) as pool:
        jobs = [pool.submit(fn, *args) for args in calls]
        for n, job in enumerate(jobs):
            finished(n, job.result())


def _run_on_ray(fn: Callable[..., Any], calls: list[tuple], address: str | None, concurrency: int | None,
                finished: Callable[[int, Any], None]) -> None:
    from dataengine.runner.ray_session import init_ray

    init_ray(address)  # before the first import of ray: a local Ray binds to loopback
    import ray

    remote = ray.remote(num_cpus=1)(fn)
    calls = _share(ray, calls)
    limit = concurrency or len(calls)
    pending: dict[Any, int] = {}
    todo = iter(enumerate(calls))
    for n, args in todo:
        pending[remote.remote(*args)] = n
        if len(pending) >= limit:
            break
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            finished(pending.pop(ref), ray.get(ref))
            for n, args in todo:  # one finished, one more may start
                pending[remote.remote(*args)] = n
                break


def _share(ray: Any, calls: list[tuple]) -> list[tuple]:
    """The calls with every argument that several of them pass (the same object) put in Ray's store once.

    A phase passes the same config or opt-out list to every call; without this Ray would
    serialise it again for each task. Ray hands a task the object behind a reference.
    """
    seen: dict[int, int] = {}
    for args in calls:
        for arg in args:
            seen[id(arg)] = seen.get(id(arg), 0) + 1
    refs: dict[int, Any] = {}
    shared = []
    for args in calls:
        row = []
        for arg in args:
            if seen[id(arg)] > 1 and not isinstance(arg, (str, int, float, bool, type(None))):
                if id(arg) not in refs:
                    refs[id(arg)] = ray.put(arg)
                arg = refs[id(arg)]
            row.append(arg)
        shared.append(tuple(row))
    return shared
