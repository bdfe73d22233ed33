"""``trainer.text_tokenizer``: the one loader of text tokenizers, for the engine and the trainer alike.

BPE training itself (``dataengine.tokenize.bpe``) and the engine's use of the loader are tested in
``tests/dataengine/tokenize/test_tokenize.py``; here the specs: ``byte``, a file, a directory, a hub name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO

from dataengine.tokenize.bpe import train_bpe
from trainer.text_tokenizer import load_text_tokenizer, tokenizer_digest

TEXTS = ["hello world, the quick brown fox", "a page may write <|eos|> literally", "naïve café 日本語"] * 30
HUB_NAME = "tests-org/tiny-tok"


@pytest.fixture(scope="module")
def bpe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BPE trained on the spot, as a directory."""
    out = tmp_path_factory.mktemp("bpe") / "tokenizer"
    train_bpe(TEXTS, 300, out)
    return out


def hub_cache(root: Path, folder: Path) -> Path:
    """A Hugging Face hub cache at ``root`` holding ``folder`` as ``HUB_NAME`` (as a download leaves it)."""
    commit = "0" * 40
    repo = root / f"models--{HUB_NAME.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "snapshots" / commit / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


def test_every_spec_encodes_alike_one_at_a_time_and_in_a_batch(bpe):
    for spec in ("byte", str(bpe), str(bpe / "tokenizer.json")):
        tok = load_text_tokenizer(spec)
        assert tok.spec == spec
        assert [tok.encode(t) for t in TEXTS[:3]] == tok.encode_batch(TEXTS[:3])
        assert [tok.decode(tok.encode(t)) for t in TEXTS[:3]] == TEXTS[:3]
    folder, file = load_text_tokenizer(str(bpe)), load_text_tokenizer(str(bpe / "tokenizer.json"))
    assert folder.encode(TEXTS[1]) == file.encode(TEXTS[1])
    assert tokenizer_digest(str(bpe)) == tokenizer_digest(str(bpe / "tokenizer.json"))
    assert tokenizer_digest("byte") is None


def test_decode_drops_ids_outside_the_vocabulary(bpe):
    assert load_text_tokenizer("byte").decode([72, 300, -1, 105]) == "Hi"
    for spec in (str(bpe), str(bpe / "tokenizer.json")):
        tok = load_text_tokenizer(spec)
        assert tok.decode([*tok.encode("hello"), tok.vocab_size, 10_000, -3]) == "hello"


def test_a_hub_name_is_passed_as_given_and_read_from_the_local_cache(bpe, tmp_path):
    # A fresh interpreter, so that the hub library reads the offline switch and the cache folder:
    # nothing is downloaded, a name the cache lacks is a clear error.
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache(tmp_path / "hub", bpe)), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    code = f"""
import json
from trainer.text_tokenizer import load_text_tokenizer
tok = load_text_tokenizer({HUB_NAME!r})
try:
    load_text_tokenizer("tests-org/not-cached")
    error = None
except ValueError as exc:
    error = str(exc)
print(json.dumps({{"spec": tok.spec, "vocab_size": tok.vocab_size, "ids": tok.encode({TEXTS[1]!r}), "error": error}}))
"""
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    local = load_text_tokenizer(str(bpe))
    assert result["spec"] == HUB_NAME and result["vocab_size"] == local.vocab_size
    assert result["ids"] == local.encode(TEXTS[1])
    assert result["error"].startswith("text tokenizer 'tests-org/not-cached' cannot be loaded as a local path or "
                                      "reachable hub name")
