"""Image fetching: our ``fetch_images`` stage against img2dataset run standalone, same URLs, same server.

Both download the same URL list from the same loopback server (tests/fault_server.py serving
real photos: ``../shared/fixtures/photos`` when present, and scikit-image's) and put every
image through img2dataset's ``Resizer`` with the same settings (longer side to 512 if bigger,
JPEG quality 95). Each URL carries its own query string, so nothing is served twice from a
cache. Both use the same number of threads in one process:

- img2dataset: ``img2dataset.download`` with ``processes_count=1``, the ``dummy`` writer (no
  output written, as the stage writes none) and its defaults otherwise (EXIF extraction,
  sha256, ``X-Robots-Tag`` check with our user-agent token). Its rate is taken from the
  stats it records for the shard (download start to end), so the spawn of its worker
  process, which imports torch, is not counted against it.
- ours: the stage called on documents of 25 images, a fresh stage per partition of 500
  images as in a pipeline task (robots.txt fetched once per partition, per-host limit on;
  everything is one host here, so it caps our concurrent requests at ``max_per_host``). It
  also does what img2dataset does not: checks every image (a JPEG is decoded once by Pillow,
  at the smallest DCT scale the resize allows, which doubles as the truncation/corruption
  check), resizes on all threads and keeps connections alive. Its advantage is largest on
  photos much bigger than the target size.

Rounds alternate (ours, img2dataset) and the best round of each counts. Prints images per
second of each and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from dataengine.images.fetch import ImageFetcher
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, SourceRef

REPO = Path(__file__).resolve().parents[1]


def _load_fault_server():
    # The server lives with the tests; tests/ is not put on sys.path, where its folders
    # (tests/schemas, ...) would shadow the packages of the same name.
    spec = importlib.util.spec_from_file_location("fault_server", REPO / "tests" / "fault_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_server"] = module
    spec.loader.exec_module(module)
    return module


fault_server = _load_fault_server()
GOOD, FaultServer = fault_server.GOOD, fault_server.FaultServer

PHOTOS = REPO.parent / "shared" / "fixtures" / "photos"
RESIZE = {"image_size": 512, "resize_mode": "keep_ratio_largest", "resize_only_if_bigger": True,
          "encode_format": "jpg", "encode_quality": 95}
PER_DOC, PER_PARTITION = 25, 500


def photo_paths(server: FaultServer) -> list[str]:
    """Paths of the photos served: the fixture photos (added to the server) and the built-in good ones."""
    paths = [f"ok/{name}" for name in GOOD]
    if PHOTOS.is_dir():
        types = {".jpg": "image/jpeg", ".png": "image/png"}
        for photo in sorted(PHOTOS.iterdir()):
            if photo.suffix in types:
                server.add(f"/photos/{photo.name}", photo.read_bytes(), types[photo.suffix])
                paths.append(f"photos/{photo.name}")
    return paths


def run_ours(urls: list[str], threads: int) -> tuple[float, int]:
    """Seconds for the stage to fetch ``urls``, and how many images it kept."""
    kept = 0
    start = time.perf_counter()
    for p in range(0, len(urls), PER_PARTITION):
        chunk = urls[p:p + PER_PARTITION]
        docs = [Document(f"d{p + i}", "http://127.0.0.1/", SourceRef("crawl", "bench"),
                         images=[ImageRecord(j, url) for j, url in enumerate(chunk[i:i + PER_DOC])])
                for i in range(0, len(chunk), PER_DOC)]
        stage = ImageFetcher(threads=threads, allow_private=["127.0.0.0/8"], user_agent="dataengine", **RESIZE)
        batch = stage(Batch(f"p{p}", docs))
        kept += sum(image.status == "ok" for doc in batch.docs for image in doc.images)
    return time.perf_counter() - start, kept


def run_img2dataset(urls: list[str], threads: int, workdir: Path) -> tuple[float, float, int]:
    """img2dataset's download time for ``urls`` (from its shard stats), its wall time, and images kept."""
    from img2dataset import download

    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    out = Path(tempfile.mkdtemp(prefix="i2d-", dir=workdir))  # fresh: its overwrite mode deletes its own _tmp
    start = time.perf_counter()
    download(url_list=str(url_file), input_format="txt", output_folder=str(out), output_format="dummy",
             processes_count=1, thread_count=threads, number_sample_per_shard=len(urls), timeout=10,
             retries=0, user_agent_token="dataengine", **RESIZE)
    wall = time.perf_counter() - start
    stats = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
    return sum(s["duration"] for s in stats), wall, sum(s["successes"] for s in stats)


def main() -> int:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=2000, help="URLs in the list (default 2000)")
    parser.add_argument("--threads", type=int, default=32, help="download threads of each (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each, best counts (default 2)")
    args = parser.parse_args()

    with FaultServer() as server, tempfile.TemporaryDirectory() as tmp:
        paths = photo_paths(server)
        urls = [f"{server(paths[i % len(paths)])}?i={i}" for i in range(args.images)]
        print(f"{len(urls)} URLs over {len(paths)} photos on {server.url}, {args.threads} threads each, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        ours, theirs = [], []
        for r in range(args.rounds):
            seconds, kept = run_ours(urls, args.threads)
            ours.append(seconds)
            print(f"round {r + 1}: ours        {seconds:6.2f} s, {kept} kept", flush=True)
            seconds, wall, kept_i2d = run_img2dataset(urls, args.threads, Path(tmp))
            theirs.append(seconds)
            print(f"round {r + 1}: img2dataset {seconds:6.2f} s download ({wall:.2f} s with process start), "
                  f"{kept_i2d} kept", flush=True)
    ours_rate, theirs_rate = len(urls) / min(ours), len(urls) / min(theirs)
    print(f"ours:        {ours_rate:8.1f} images/s")
    print(f"img2dataset: {theirs_rate:8.1f} images/s")
    print(f"ratio:       {ours_rate / theirs_rate:8.2f}x (goal >= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
