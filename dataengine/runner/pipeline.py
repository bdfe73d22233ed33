"""Execute a pipeline on Ray Data: partitions in, committed shards out.

The plan is one row per partition: the source reads a partition into a ``Batch`` of
documents, each stage maps the batch (CPU stages as Ray tasks, which Ray Data fuses into
one task per partition; stages with ``resources.concurrency`` on an actor pool, e.g. model
stages with ``num_gpus``), and the commit step writes the partition's shards, its rejected
rows and finally its ledger entry. A partition is the unit of retry: rerunning skips what
the ledger holds, and a partition that runs twice overwrites its own deterministic names.

A stage is set up (models, lists, tokenizers loaded) once per worker process, not per
partition: a task keeps its stages in ``_WORKER_STAGES`` for the next task Ray gives the same
worker, and an actor holds its own. CPU stages stay tasks with a per-process cache rather
than actor pools because tasks fuse into one per partition: on 2 cores, 200 partitions through
language_id, text_quality and url_blocklist took 4.1 s with the cache, 8.1 s with the stages
set up for each partition, and 43 s on actor pools of 2 per stage, which ship every batch
from operator to operator.

Corpus-level files that stages produce (``Stage.produces``, e.g. ``token_layout.json``) are
computed on the driver before any work (``Stage.corpus_files``, which needs no setup) and
written into the corpus when the run commits, after its last partition: a failed or killed
run leaves none, its resume writes them, and a rerun whose files would differ from those an
earlier run wrote is refused, since its partitions would not match the corpus's.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fsspec

from dataengine.errors import ConfigError
from dataengine.runner.config import PipelineConfig, SinkConfig, SourceConfig, StageConfig, pipeline_fingerprint
from dataengine.runner.progress import Progress
from dataengine.runner.ray_session import init_ray
from dataengine.shards import ShardWriter, write_rejected
from dataengine.shards.layout import (
    SHARD_FILES,
    TMP_MARK,
    join,
    shard_name,
    shard_path,
    staging_dir,
    storage_options,
)
from dataengine.shards.ledger import Ledger
from dataengine.shards.run_record import RunRecord, new_run_id, read_records
from dataengine.sources.base import Partition
from dataengine.stages.base import Batch, Stage, check_order
from schemas import Rejection
from schemas.corpus import LAYOUT_FILE
from schemas.token_layout import TokenLayout

if TYPE_CHECKING:
    import ray.data


@dataclass
class RunResult:
    """What a run did, for the CLI summary and for tests."""

    run_id: str
    partitions_total: int
    partitions_skipped: int
    partitions_done: int
    documents: int
    images: int = 0   # images stored with the documents (status ok)
    rejected: Counter = field(default_factory=Counter)  # (stage, level, reason) -> n


def _read_partition(row: dict[str, Any], source: SourceConfig) -> dict[str, Any]:
    partition: Partition = pickle.loads(row["partition"])
    batch = Batch(partition.id)
    start = time.perf_counter()
    for item in source.build().read(partition):
        if isinstance(item, Rejection):
            item.partition = partition.id
            batch.rejected.append(item)
        else:
            batch.docs.append(item)
    reasons = Counter(f"{r.level}:{r.reason}" for r in batch.rejected)
    batch.counts["source"] = {"in": len(batch.docs) + len(batch.rejected), "out": len(batch.docs), **reasons}
    batch.seconds["source"] = time.perf_counter() - start
    return {"partition": partition.id, "batch": pickle.dumps(batch)}


# (run id, position in the pipeline) -> that stage, built and set up in this worker process.
_WORKER_STAGES: dict[tuple[str, int], Stage] = {}


def _worker_stage(stage: StageConfig, run_id: str, position: int) -> Stage:
    """The stage at ``position`` of run ``run_id``, built and set up once in this process.

    Ray hands a worker process task after task, so what ``setup`` loaded serves every
    partition that lands here. Stages of other runs are dropped when a new run arrives, so a
    worker that outlives a run (a driver running several pipelines) holds one run's stages.
    """
    key = (run_id, position)
    if key not in _WORKER_STAGES:
        for old in [k for k in _WORKER_STAGES if k[0] != run_id]:
            del _WORKER_STAGES[old]
        _WORKER_STAGES[key] = stage.build().ready()
    return _WORKER_STAGES[key]


def _run_stage(row: dict[str, Any], stage: StageConfig, run_id: str, position: int) -> dict[str, Any]:
    batch = _worker_stage(stage, run_id, position)(pickle.loads(row["batch"]))
    return {"partition": row["partition"], "batch": pickle.dumps(batch)}


def _set_threads(threads: int | None) -> None:
    """Give torch ``threads``, else the CPUs Ray assigned to this worker: Ray's workers start with one."""
    wanted = threads or int(os.environ.get("OMP_NUM_THREADS") or 0)
    if wanted > 1 and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(wanted)


class _StageActor:
    """A stage held by an actor of a pool: built and set up once (models load once), called per partition."""

    def __init__(self, stage: StageConfig):
        self.stage = stage.build().ready()
        _set_threads(stage.resources.threads)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        batch = self.stage(pickle.loads(row["batch"]))
        return {"partition": row["partition"], "batch": pickle.dumps(batch)}


def _clear_partition_outputs(output: str, partition: str) -> None:
    """Remove what an interrupted earlier attempt of this partition may have left.

    That is its staging folder (temporary files) and its shards, found by name: they are
    numbered from 0 and committed in order, so the first number with no file ends them (a
    rerun may write fewer). Nothing is listed but the partition's own folder, so the cost
    does not grow with the corpus.
    """
    fs, root = fsspec.core.url_to_fs(output)
    staging = staging_dir(root, partition)
    if fs.exists(staging):
        fs.rm(staging, recursive=True)
    for k in itertools.count():
        present = [p for p in (shard_path(root, shard_name(partition, k), kind) for kind in SHARD_FILES)
                   if fs.exists(p)]
        if not present:
            return
        fs.rm(present)


def _commit_partition(row: dict[str, Any], output: str, sink: SinkConfig, run_id: str,
                      layout: TokenLayout | None = None) -> dict[str, Any]:
    with storage_options(output, sink.storage_options):  # a worker has not seen the driver's settings
        return _commit(pickle.loads(row["batch"]), output, sink, run_id, layout)


def _commit(batch: Batch, output: str, sink: SinkConfig, run_id: str, layout: TokenLayout | None) -> dict[str, Any]:
    start = time.perf_counter()
    _clear_partition_outputs(output, batch.partition)
    written = images = 0
    with ShardWriter(output, batch.partition, maxcount=sink.maxcount, maxsize=sink.maxsize,
                     layout=layout) as writer:  # the layout counts text and image tokens in the manifest
        for doc in batch.docs:
            try:
                writer.write(doc)  # checks the document against the contract before writing any of it
                written += 1
                images += sum(1 for image in doc.images if image.status == "ok")
            except ValueError as exc:
                batch.rejected.append(Rejection(doc.id, doc.url, "document", "sink", "invalid_document",
                                                detail=str(exc)[:2000], partition=batch.partition))
    shards = writer.close()
    write_rejected(output, batch.partition, batch.rejected)
    batch.counts["sink"] = {"in": len(batch.docs), "out": written}
    batch.seconds["sink"] = time.perf_counter() - start
    Ledger(output).record(batch.partition, {
        "run_id": run_id, "n_docs": written, "n_rejected": len(batch.rejected),
        "shards": [s.to_json() for s in shards]})
    summary = {
        "counts": batch.counts, "seconds": batch.seconds, "documents": written, "images": images,
        "rejected": [(r.stage, r.level, r.reason) for r in batch.rejected],
    }
    return {"partition": batch.partition, "summary": pickle.dumps(summary)}


def _build_dataset(config: PipelineConfig, todo: list[Partition], output: str, run_id: str,
                   layout: TokenLayout | None) -> ray.data.Dataset:
    import ray.data

    ds = ray.data.from_items([{"partition": pickle.dumps(p)} for p in todo], override_num_blocks=len(todo))
    ds = ds.map(_read_partition, fn_kwargs={"source": config.source})
    for position, stage in enumerate(config.stages):
        res = stage.resources
        if res.concurrency:
            ds = ds.map(_StageActor, fn_constructor_kwargs={"stage": stage},
                        compute=ray.data.ActorPoolStrategy(size=res.concurrency), num_cpus=res.num_cpus,
                        num_gpus=res.num_gpus)
        else:
            extra = {k: v for k, v in (("num_cpus", res.num_cpus), ("num_gpus", res.num_gpus)) if v is not None}
            ds = ds.map(_run_stage, fn_kwargs={"stage": stage, "run_id": run_id, "position": position}, **extra)
    return ds.map(_commit_partition, fn_kwargs={"output": output, "sink": config.sink, "run_id": run_id,
                                                "layout": layout})


def _build_stage(stage: StageConfig, position: int) -> Stage:
    """Build ``stage`` (parameters only, no setup); a value its ``__init__`` refuses is a ``ConfigError``."""
    try:
        return stage.build()
    except ValueError as exc:
        raise ConfigError(f"stages[{position}] ({stage.name}): {exc}") from None


def _check_stages(config: PipelineConfig, output: str) -> dict[str, str]:
    """Build every stage (no setup) and check their order; return the corpus files they produce, by name.

    Files that differ from those already in ``output`` are refused: that corpus's partitions
    were made by other settings.
    """
    stages = [_build_stage(stage, position) for position, stage in enumerate(config.stages)]
    problems = check_order([type(stage) for stage in stages])
    if problems:
        raise ConfigError("; ".join(problems))
    files: dict[str, str] = {}
    for position, stage in enumerate(stages):
        if not stage.produces:
            continue
        try:
            made = stage.corpus_files()
        except (OSError, ValueError) as exc:  # e.g. a tokenizer or VQ path that does not load
            raise ConfigError(f"stages[{position}] ({stage.name}): {exc}") from None
        for name, text in made.items():
            if files.setdefault(name, text) != text:
                raise ConfigError(f"two stages of the pipeline produce {name} with different contents ({stage.name})")
    fs, root = fsspec.core.url_to_fs(output)
    for name, text in files.items():
        path = join(root, name)
        if fs.exists(path) and fs.cat_file(path).decode("utf-8") != text:
            raise ConfigError(f"{output}/{name} was written by an earlier run with other settings, so that run's "
                              f"partitions do not match this one's: write this run into a new output")
    return files


def _write_corpus_files(output: str, files: dict[str, str]) -> None:
    """Write each file under a temporary name and rename it into place: readers never see half of one."""
    fs, root = fsspec.core.url_to_fs(output)
    if files:
        fs.makedirs(root, exist_ok=True)
    for name, text in files.items():
        tmp = join(root, f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}")
        fs.pipe_file(tmp, text.encode("utf-8"))
        fs.mv(tmp, join(root, name))


def _quiet_ray_data() -> None:
    """Ray Data's own bars and INFO lines off: the run shows one bar of its own (``Progress``)."""
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled"


def _claim_output(config: PipelineConfig, output: str, overwrite: bool) -> None:
    """Refuse an output that holds another pipeline's corpus (``ConfigError``), or clear it with ``overwrite``.

    Records of ``dataengine run`` under ``runs/`` say which pipeline wrote a corpus; one of the
    same fingerprint is this pipeline's own (a resume, or more input). Other commands' records
    (dedup, publish) are not pipelines and claim nothing.
    """
    mine = config.fingerprint()
    others = [r for _, r in read_records(output)
              if isinstance(r.get("config"), dict) and "stages" in r["config"]
              and pipeline_fingerprint(r["config"]) != mine]
    if not others:
        return
    if not overwrite:
        last = others[-1]
        what = (f"was written by pipeline '{config.name}' with other settings (run {last.get('run_id')}), so its "
                "partitions would not match this run's" if last.get("pipeline") == config.name else
                f"holds the corpus of another pipeline ('{last.get('pipeline')}', run {last.get('run_id')})")
        raise ConfigError(f"{output} {what}; write into a new folder, or pass --overwrite to replace it")
    fs, root = fsspec.core.url_to_fs(output)
    print(f"--overwrite: removing the corpus in {output}", file=sys.stderr)
    fs.rm(root, recursive=True)


def run_pipeline(config: PipelineConfig, output: str, address: str | None = None,
                 progress: bool = True, overwrite: bool = False) -> RunResult:
    """Run ``config`` into ``output``, skipping committed partitions; return what happened.

    ``progress`` shows partitions done of those to do on stderr, with documents and images
    written per second. An output holding another pipeline's corpus is refused, or with
    ``overwrite`` cleared first (``_claim_output``).

    Every stage is built here first (parameters only: ``setup`` runs on the workers), so a
    bad parameter value fails before any work, and so does a stage that reads what only a
    later stage writes, or corpus files that differ from those already in ``output``
    (``ConfigError``).
    """
    output = output.rstrip("/")
    with storage_options(output, config.sink.storage_options):
        return _run(config, output, address, progress, overwrite)


def _run(config: PipelineConfig, output: str, address: str | None, progress: bool, overwrite: bool) -> RunResult:
    _claim_output(config, output, overwrite)
    files = _check_stages(config, output)
    record = RunRecord(new_run_id(), config.name, config.to_json(), output)
    start = time.perf_counter()
    source = config.source.build()
    if source.uses_ray:  # a crawl fetches on actors while listing its partitions
        init_ray(address)
    partitions = source.partitions()
    done = Ledger(output).committed()
    todo = [p for p in partitions if p.id not in done]
    record.partitions = {"total": len(partitions), "skipped": len(partitions) - len(todo), "done": 0}
    result = RunResult(record.run_id, len(partitions), len(partitions) - len(todo), 0, 0)
    print(f"run {record.run_id}: {len(partitions)} partitions, {len(done & {p.id for p in partitions})} "
          f"already committed, {len(todo)} to do", file=sys.stderr)
    with record.running():
        if todo:
            init_ray(address)
            _quiet_ray_data()
            layout = TokenLayout.from_json(files[LAYOUT_FILE]) if LAYOUT_FILE in files else None
            dataset = _build_dataset(config, todo, output, record.run_id, layout)
            with Progress(len(todo), f"run {config.name}", "partition", enabled=progress) as bar:
                for row in dataset.iter_rows():
                    summary = pickle.loads(row["summary"])
                    record.add(summary["counts"], summary["seconds"])
                    result.partitions_done += 1
                    result.documents += summary["documents"]
                    result.images += summary["images"]
                    result.rejected.update(tuple(r) for r in summary["rejected"])
                    record.partitions["done"] = result.partitions_done
                    bar.update(1, docs=summary["documents"], images=summary["images"])
        _write_corpus_files(output, files)  # every partition is committed: the run commits
        record.add({}, {"total": time.perf_counter() - start})
    return result
