from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Video(_message.Message):
    __slots__ = ("container", "frames", "uri", "fps")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    container: bytes
    frames: Tensor
    uri: str
    fps: float
    def __init__(self, container: _Optional[bytes] = ..., frames: _Optional[_Union[Tensor, _Mapping]] = ..., uri: _Optional[str] = ..., fps: _Optional[float] = ...) -> None: ...

class Audio(_message.Message):
    __slots__ = ("container", "pcm", "uri", "sample_rate")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    container: bytes
    pcm: Tensor
    uri: str
    sample_rate: int
    def __init__(self, container: _Optional[bytes] = ..., pcm: _Optional[_Union[Tensor, _Mapping]] = ..., uri: _Optional[str] = ..., sample_rate: _Optional[int] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("id", "prompt", "audio_prompt", "video", "audio")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_PROMPT_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    id: str
    prompt: str
    audio_prompt: str
    video: Video
    audio: Audio
    def __init__(self, id: _Optional[str] = ..., prompt: _Optional[str] = ..., audio_prompt: _Optional[str] = ..., video: _Optional[_Union[Video, _Mapping]] = ..., audio: _Optional[_Union[Audio, _Mapping]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("samples", "scorers")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    scorers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., scorers: _Optional[_Iterable[str]] = ...) -> None: ...

class SampleResult(_message.Message):
    __slots__ = ("id", "scores", "error", "scorer_errors")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ScorerErrorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _status_pb2.Status
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SCORER_ERRORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    scores: _containers.ScalarMap[str, float]
    error: _status_pb2.Status
    scorer_errors: _containers.MessageMap[str, _status_pb2.Status]
    def __init__(self, id: _Optional[str] = ..., scores: _Optional[_Mapping[str, float]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., scorer_errors: _Optional[_Mapping[str, _status_pb2.Status]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("results", "scorers", "request_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SampleResult]
    scorers: _containers.RepeatedCompositeFieldContainer[ScorerInfo]
    request_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[SampleResult, _Mapping]]] = ..., scorers: _Optional[_Iterable[_Union[ScorerInfo, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("samples", "scorers")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    scorers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., scorers: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedResult(_message.Message):
    __slots__ = ("id", "embeddings", "error", "scorer_errors")
    class EmbeddingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    class ScorerErrorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _status_pb2.Status
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SCORER_ERRORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    embeddings: _containers.MessageMap[str, Tensor]
    error: _status_pb2.Status
    scorer_errors: _containers.MessageMap[str, _status_pb2.Status]
    def __init__(self, id: _Optional[str] = ..., embeddings: _Optional[_Mapping[str, Tensor]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., scorer_errors: _Optional[_Mapping[str, _status_pb2.Status]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("results", "scorers", "request_id")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EmbedResult]
    scorers: _containers.RepeatedCompositeFieldContainer[ScorerInfo]
    request_id: str
    def __init__(self, results: _Optional[_Iterable[_Union[EmbedResult, _Mapping]]] = ..., scorers: _Optional[_Iterable[_Union[ScorerInfo, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListScorersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputSpec(_message.Message):
    __slots__ = ("modalities", "video_fps", "video_frames", "image_size", "audio_sample_rate", "max_audio_seconds")
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FPS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FRAMES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    modalities: _containers.RepeatedScalarFieldContainer[str]
    video_fps: float
    video_frames: int
    image_size: int
    audio_sample_rate: int
    max_audio_seconds: float
    def __init__(self, modalities: _Optional[_Iterable[str]] = ..., video_fps: _Optional[float] = ..., video_frames: _Optional[int] = ..., image_size: _Optional[int] = ..., audio_sample_rate: _Optional[int] = ..., max_audio_seconds: _Optional[float] = ...) -> None: ...

class ScorerInfo(_message.Message):
    __slots__ = ("name", "outputs", "embeddings", "version", "weights_id", "weights_sha256", "tiny_weights", "max_batch_size", "input_spec", "backend", "device", "protocol", "model_family")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    TINY_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPEC_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FAMILY_FIELD_NUMBER: _ClassVar[int]
    name: str
    outputs: _containers.RepeatedScalarFieldContainer[str]
    embeddings: _containers.RepeatedScalarFieldContainer[str]
    version: str
    weights_id: str
    weights_sha256: str
    tiny_weights: bool
    max_batch_size: int
    input_spec: InputSpec
    backend: str
    device: str
    protocol: str
    model_family: str
    def __init__(self, name: _Optional[str] = ..., outputs: _Optional[_Iterable[str]] = ..., embeddings: _Optional[_Iterable[str]] = ..., version: _Optional[str] = ..., weights_id: _Optional[str] = ..., weights_sha256: _Optional[str] = ..., tiny_weights: _Optional[bool] = ..., max_batch_size: _Optional[int] = ..., input_spec: _Optional[_Union[InputSpec, _Mapping]] = ..., backend: _Optional[str] = ..., device: _Optional[str] = ..., protocol: _Optional[str] = ..., model_family: _Optional[str] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("package_version", "git_hash", "max_samples_per_request", "max_message_bytes")
    PACKAGE_VERSION_FIELD_NUMBER: _ClassVar[int]
    GIT_HASH_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLES_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    package_version: str
    git_hash: str
    max_samples_per_request: int
    max_message_bytes: int
    def __init__(self, package_version: _Optional[str] = ..., git_hash: _Optional[str] = ..., max_samples_per_request: _Optional[int] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class ListScorersResponse(_message.Message):
    __slots__ = ("scorers", "server")
    SCORERS_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    scorers: _containers.RepeatedCompositeFieldContainer[ScorerInfo]
    server: ServerInfo
    def __init__(self, scorers: _Optional[_Iterable[_Union[ScorerInfo, _Mapping]]] = ..., server: _Optional[_Union[ServerInfo, _Mapping]] = ...) -> None: ...
