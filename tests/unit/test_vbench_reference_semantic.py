"""The Semantic reference-comparison driver's pure parts: the generated BERT vocabulary, label parsing, id rows."""

from __future__ import annotations

from pathlib import Path

from omninft.bench.perf.scripts.vbench_reference_semantic import (
    VIDEOS,
    VOCAB_SIZE,
    _action_label,
    _scene_label,
    _strip_ref_ids,
    write_vocab,
)


def test_generated_vocab_has_berts_size_and_special_ids_and_covers_the_tag_words(tmp_path: Path) -> None:
    from omninft.reward_servers.models.tag2text import Tag2TextTokenizer
    from omninft.reward_servers.models.tag2text.model import tag_names

    path = tmp_path / "vocab.txt"
    write_vocab(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == VOCAB_SIZE == len(set(lines))
    assert [lines[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tag2TextTokenizer.from_vocab_file(path)
    assert (tok.vocab_size, tok.sep_token_id, tok.pad_token_id) == (VOCAB_SIZE + 2, 102, 0)
    ids, _mask = tok.tags([" | ".join(tag_names()[:300])], max_length=4000)
    assert 100 not in ids.tolist()[0]  # no [UNK]: every tag word is a whole token


def test_labels_parse_as_the_reference_does() -> None:
    assert _action_label("A person is riding a bike-0.mp4") == "riding a bike"
    assert _action_label("A person is playing_guitar-3.mp4") == "playing"
    assert _scene_label("indoor swimming pool-1.mp4") == "indoor swimming pool"
    assert {dim for _p, dim, *_ in VIDEOS} == {
        "human_action",
        "scene",
        "overall_consistency",
        "temporal_style",
        "appearance_style",
    }


def test_reference_rows_lose_eos_and_padding_only() -> None:
    assert _strip_ref_ids([30522, 1037, 3861, 7, 8, 102, 0, 0], 4, sep=102, pad=0) == [
        30522,
        1037,
        3861,
        7,
        8,
    ]
    assert _strip_ref_ids([30522, 1037, 0, 9], 4, sep=102, pad=0) == [30522, 1037, 0, 9]
