"""Per-sample input checks the scorers share: each failure is an InvalidSample for that sample only."""

from __future__ import annotations

import numpy as np

from omninft.reward_servers.functional.waveform import all_finite
from omninft.reward_servers.media import DecodedAudio, DecodedSample
from omninft.reward_servers.scorers.base import InvalidSample


def checked_pcm(audio: DecodedAudio | None, scorer: str, verb: str = "score") -> np.ndarray:
    """The sample's PCM as an array: present, non-empty and finite, else InvalidSample naming the problem."""
    if audio is None:
        raise InvalidSample(f"{scorer} needs audio; the sample has none")
    pcm = np.asarray(audio.pcm)
    if pcm.size == 0:
        raise InvalidSample(f"{scorer} cannot {verb} zero-length audio")
    if not all_finite(pcm):
        raise InvalidSample("audio contains NaN or infinite samples")
    return pcm


def sample_pcm(sample: DecodedSample, scorer: str, verb: str = "score") -> np.ndarray:
    """checked_pcm of a sample's audio track."""
    return checked_pcm(sample.audio, scorer, verb)
