"""The tiny tokenizers are learned deterministically: every process gets the same vocabulary and ids."""

from __future__ import annotations

import subprocess
import sys

from omninft.reward_servers.models.tiny_tokenizers import learn_bpe_merges

_PROBE = (
    "import hashlib, json;"
    "from omninft.reward_servers.models.tiny_tokenizers import tiny_clip_tokenizer, tiny_roberta_tokenizer;"
    "c, r = tiny_clip_tokenizer(), tiny_roberta_tokenizer();"
    "print(hashlib.sha256(json.dumps([sorted(c.get_vocab().items()), sorted(r.get_vocab().items()),"
    " c('A red ball, 440 Hz!')['input_ids'], r('short beeps')['input_ids']]).encode()).hexdigest())"
)


def test_learned_merges_follow_counts_then_order() -> None:
    words = {("a", "b", "c"): 3, ("a", "b"): 2, ("b", "c"): 1, ("x", "y"): 5}
    # ("a","b") 5 ties ("x","y") 5: the smaller pair wins; then ("x","y"); then ("ab","c") 3 beats ("b","c") 1.
    assert learn_bpe_merges(words, 3) == [("a", "b"), ("x", "y"), ("ab", "c")]
    assert learn_bpe_merges({("a",): 1}, 5) == []  # nothing left to merge


def test_vocabularies_are_identical_across_processes() -> None:
    runs = [
        subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0].strip() and runs[0] == runs[1]
