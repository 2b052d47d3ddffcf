"""The frames VBench's GRiT dimensions feed GRiT (specs/vbench.md §1.8, 1.9, 1.11, 1.12), and a shared detector.

Frames: 16 frames by the reference's middle rule (`load_video(num_frames=16)`; a shorter video repeats its last
index). If the short side is above 768 px the clip is resized to short side 720 with int() sizes, and the two
reference paths resize differently:
- object_class, multiple_objects, spatial_relationship: float32 0-255 frames through torchvision's
  `transforms.Resize` (bilinear, antialiased by default since torchvision 0.17; `antialias=False` gives the
  older behaviour); GRiT gets the float frames unrounded;
- color: uint8 frames through `cv2.resize(INTER_LINEAR)` (OpenCV's fixed-point kernel, so OpenCV itself does
  it; the `serve` extra ships opencv-python-headless); GRiT gets the uint8 frames.
At 768 px or less no path resizes, so all four dimensions give GRiT the same pixels.

`SharedDetector` runs GRiT one frame per call (as the reference) and remembers the last frames' detections by
pixel content: object_class, multiple_objects and spatial_relationship asking about the same video share one
ObjectDet pass per frame, and a DenseCap pass (color) also serves them, because GRiT's boxes and ObjectDet
names do not depend on the task (the reference runs the same cascade twice and sets `det_obj` from it).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from omninft.reward_servers.functional.vbench_frames import vbench_frame_indices
from omninft.reward_servers.functional.vbench_grit_dims import grit_frame_size, resize_frames_torchvision
from omninft.reward_servers.models.grit.model import GRiT, GRiTDetections
from omninft.reward_servers.models.grit.tokenizer import WordPieceDecoder

NUM_FRAMES = 16


def sample_frames(frames: np.ndarray, num_frames: int = NUM_FRAMES) -> np.ndarray:
    """The `num_frames` uint8 frames `load_video(num_frames=...)` reads (middle rule, last index repeated)."""
    return frames[vbench_frame_indices(num_frames, int(frames.shape[0]))]


def detection_frames(frames: np.ndarray, num_frames: int = NUM_FRAMES, antialias: bool = True) -> np.ndarray:
    """float32 (T, H, W, 3) 0-255 frames of object_class / multiple_objects / spatial_relationship."""
    clip = sample_frames(frames, num_frames).astype(np.float32)
    size = grit_frame_size(clip.shape[1], clip.shape[2])
    return clip if size is None else resize_frames_torchvision(clip, size, antialias=antialias)


def color_frames(frames: np.ndarray, num_frames: int = NUM_FRAMES) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of color (cv2 INTER_LINEAR to short side 720 when the short side is > 768)."""
    clip = sample_frames(frames, num_frames)
    size = grit_frame_size(clip.shape[1], clip.shape[2])
    if size is None:
        return clip
    import cv2

    h, w = size
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in clip])


def frame_key(frame: np.ndarray) -> bytes:
    """Identity of a frame's pixel values (uint8 and float32 frames with equal values have equal keys)."""
    x = np.ascontiguousarray(frame, dtype=np.float32)
    h = hashlib.blake2b(x.tobytes(), digest_size=20)
    h.update(repr(x.shape).encode())
    return h.digest()


class SharedDetector:
    """GRiT plus its WordPiece decoder, one frame per call, with a bounded cache of recent frames' detections.

    Thread-safe; a cached DenseCap result (with captions) answers ObjectDet requests too. `cache_frames=0`
    turns the cache off. Model calls are serialised (one frame at a time, as the reference).
    """

    def __init__(
        self, model: GRiT, decoder: WordPieceDecoder, device: str = "cpu", cache_frames: int = 256
    ) -> None:
        self.model = model
        self.decoder = decoder
        self.device = device
        self.cache_frames = cache_frames
        self._cache: OrderedDict[bytes, GRiTDetections] = OrderedDict()
        self._lock = threading.Lock()
        self.model_calls = 0  # frames GRiT actually ran on (the rest came from the cache)

    def _cached(self, key: bytes, captions: bool) -> GRiTDetections | None:
        hit = self._cache.get(key)
        if hit is None or (captions and hit.captions is None):
            return None
        self._cache.move_to_end(key)
        return hit

    def detect(self, frame: np.ndarray, captions: bool = False) -> GRiTDetections:
        """GRiT on one H x W x 3 RGB frame (0-255): ObjectDet names, and DenseCap captions when asked."""
        key = frame_key(frame) if self.cache_frames > 0 else b""
        with self._lock:
            if self.cache_frames > 0:
                hit = self._cached(key, captions)
                if hit is not None:
                    return hit
            det = self.model.detect(frame, self.decoder, captions=captions)
            self.model_calls += 1
            if self.cache_frames > 0:
                self._cache[key] = det
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_frames:
                    self._cache.popitem(last=False)
            return det

    def detect_frames(
        self, frames: Sequence[np.ndarray] | np.ndarray, captions: bool = False
    ) -> list[GRiTDetections]:
        """detect() on every frame, in order."""
        return [self.detect(f, captions=captions) for f in frames]
