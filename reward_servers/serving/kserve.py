"""The KServe v2 / Open Inference Protocol front (`inference.GRPCInferenceService`) on the RewardService port.

Each hosted scorer is a model (see `oip_schema` for its tensors and the per-sample failure convention).
ModelInfer turns the BYTES inputs into wire Samples and runs them through RewardServicer's own pipeline:
the same readiness gate, admission, decode, micro-batcher and per-sample outcomes; auth, TLS, limits and
request metrics come from the shared gRPC server and its interceptors. Also served: ServerLive/Ready/
Metadata, ModelReady/Metadata, and Triton's ModelConfig and ModelStatistics extensions, which
`perf_analyzer` needs, and RepositoryIndex, through which omninft_client finds the scorer-models. The
service stubs are the ones generated in `tritonclient` (a `serve` dependency).
"""

from __future__ import annotations

import time

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from omninft.reward_servers.media import echo
from omninft.reward_servers.serving.errors import BadRequestError, ServingError
from omninft.reward_servers.serving.interceptors import REQUEST_ID_HEADER, current_request_id
from omninft.reward_servers.serving.metrics import ServerMetrics
from omninft.reward_servers.serving.oip_schema import (
    ERROR_OUTPUT,
    MODEL_VERSION,
    ModelSchema,
    collect_results,
    deserialize_bytes,
    model_config,
    provenance_parameters,
    sample_from_row,
    schema_for,
    serialize_bytes,
)
from omninft.reward_servers.serving.servicer import RewardServicer

SERVER_NAME = "omninft"
# What ServerMetadata advertises: perf_analyzer asks ModelStatistics only when "statistics" is listed.
EXTENSIONS = ("model_configuration", "statistics")
# The `backend` our ModelConfig reports: the models run inside omninft-serve, not in a Triton backend.
BACKEND = "omninft"
_FP64 = np.dtype("<f8")


class ModelNotFoundError(ServingError):
    """Unknown model name or version (KServe: NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND


class KServeServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService over the scorers of a RewardServicer."""

    def __init__(
        self,
        reward: RewardServicer,
        *,
        version: str,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._reward = reward
        self._version = version
        self._metrics = metrics
        self._schemas: dict[str, ModelSchema] = {}
        self._last_inference_ms: dict[str, int] = {}

    # ----------------------------------------------------------------------------------------- health

    async def ServerLive(
        self, request: service_pb2.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerLiveResponse:
        """The process answers: live (loading or not)."""
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: service_pb2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerReadyResponse:
        """Ready once every scorer is loaded and warmed up, until draining starts."""
        return service_pb2.ServerReadyResponse(ready=self._ready())

    async def ModelReady(
        self, request: service_pb2.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelReadyResponse:
        """A hosted model is ready when the server is (scorers load together); unknown models are not."""
        scorer = self._reward.scorers.get(request.name)
        known = scorer is not None and bool(scorer.info.outputs) and request.version in ("", MODEL_VERSION)
        return service_pb2.ModelReadyResponse(ready=known and self._ready())

    # ----------------------------------------------------------------------------------------- metadata

    async def ServerMetadata(
        self, request: service_pb2.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ServerMetadataResponse:
        """Server name, package version and the protocol extensions served."""
        return service_pb2.ServerMetadataResponse(
            name=SERVER_NAME, version=self._version, extensions=list(EXTENSIONS)
        )

    async def ModelMetadata(
        self, request: service_pb2.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelMetadataResponse:
        """Tensor names, types and shapes (-1 = the batch dimension) of one model."""
        schema = await self._model_or_abort(context, request.name, request.version)
        if schema is None:
            return service_pb2.ModelMetadataResponse()
        meta = service_pb2.ModelMetadataResponse(name=schema.name, versions=[MODEL_VERSION], platform=BACKEND)
        for name in schema.inputs:
            meta.inputs.add(name=name, datatype="BYTES", shape=[-1, 1])
        for name in schema.outputs:
            meta.outputs.add(name=name, datatype="FP64", shape=[-1, 1])
        meta.outputs.add(name=ERROR_OUTPUT, datatype="BYTES", shape=[-1, 1])
        return meta

    async def ModelConfig(
        self, request: service_pb2.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelConfigResponse:
        """Triton's ModelConfig: max_batch_size, dynamic batching delay, tensors, scorer provenance."""
        schema = await self._model_or_abort(context, request.name, request.version)
        if schema is None:
            return service_pb2.ModelConfigResponse()
        info = self._reward.scorers[schema.name].info
        cfg = model_config(
            schema,
            max_queue_delay_ms=self._reward.batchers[schema.name].max_queue_delay_ms,
            backend=BACKEND,
            instance_kind="KIND_GPU" if info.device.startswith("cuda") else "KIND_CPU",
            parameters={
                **provenance_parameters(info),
                "backend": info.backend,
                "device": info.device,
            },
        )
        return service_pb2.ModelConfigResponse(config=cfg)

    async def RepositoryIndex(
        self, request: service_pb2.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.RepositoryIndexResponse:
        """The hosted models (Triton's model_repository extension): how clients discover the scorers."""
        state = "READY" if self._ready() else "UNAVAILABLE"
        resp = service_pb2.RepositoryIndexResponse()
        if request.ready and state != "READY":
            return resp
        for name, scorer in self._reward.scorers.items():
            if scorer.info.outputs:
                resp.models.add(name=name, version=MODEL_VERSION, state=state)
        return resp

    async def ModelStatistics(
        self, request: service_pb2.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelStatisticsResponse:
        """Cumulative per-model counters from the server metrics (both fronts together), Triton-style."""
        if request.name:
            schema = await self._model_or_abort(context, request.name, request.version)
            names = [schema.name] if schema is not None else []
        else:
            names = [n for n, s in self._reward.scorers.items() if s.info.outputs]
        return service_pb2.ModelStatisticsResponse(model_stats=[self._statistics(n) for n in names])

    # ----------------------------------------------------------------------------------------- inference

    async def ModelInfer(
        self, request: service_pb2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> service_pb2.ModelInferResponse:
        """Score a batch: BYTES media/prompts in, FP64 scores + BYTES per-sample errors out."""
        deadline = _deadline(context)
        return await self._reward.guarded(context, lambda: self._infer(request, deadline))

    async def _infer(
        self, request: service_pb2.ModelInferRequest, deadline: float | None
    ) -> service_pb2.ModelInferResponse:
        """ModelInfer body (inside the readiness gate)."""
        schema = self._model(request.model_name, request.model_version)
        columns, batch = _read_inputs(request, schema)
        wanted = _requested_outputs(request, schema)
        samples = [sample_from_row(i, {k: v[i] for k, v in columns.items()}) for i in range(batch)]
        outcomes, sample_errors = await self._reward.evaluate(samples, [schema.name], deadline)
        self._last_inference_ms[schema.name] = int(time.time() * 1000)
        scores, errors = collect_results(
            outcomes[schema.name], sample_errors, schema.outputs, current_request_id()
        )
        response = service_pb2.ModelInferResponse(
            model_name=schema.name, model_version=MODEL_VERSION, id=request.id
        )
        for name in wanted:
            if name == ERROR_OUTPUT:
                response.outputs.add(name=name, datatype="BYTES", shape=[batch, 1])
                response.raw_output_contents.append(serialize_bytes([e.encode() for e in errors]))
            else:
                response.outputs.add(name=name, datatype="FP64", shape=[batch, 1])
                column = np.asarray([row[name] for row in scores], dtype=_FP64)
                response.raw_output_contents.append(column.tobytes())
        return response

    # ----------------------------------------------------------------------------------------- helpers

    def _ready(self) -> bool:
        """Serving, and not draining."""
        return self._reward.ready and not self._reward.draining

    def _model(self, name: str, version: str) -> ModelSchema:
        """The schema of a hosted model; ModelNotFoundError for an unknown name or version."""
        scorers = self._reward.scorers
        if name not in scorers or not scorers[name].info.outputs:
            hosted = ", ".join([n for n, s in scorers.items() if s.info.outputs][:24]) or "(none loaded yet)"
            raise ModelNotFoundError(f"unknown model {echo(name)}; this server hosts: {hosted}")
        if version not in ("", MODEL_VERSION):
            raise ModelNotFoundError(
                f"model {name!r} has no version {echo(version)}; its only version is {MODEL_VERSION}"
            )
        schema = self._schemas.get(name)
        if schema is None:
            schema = schema_for(scorers[name].info, self._reward.batchers[name].max_batch_size)
            self._schemas[name] = schema
        return schema

    async def _model_or_abort(
        self, context: grpc.aio.ServicerContext, name: str, version: str
    ) -> ModelSchema | None:
        """_model, ending the RPC with NOT_FOUND instead of raising."""
        try:
            return self._model(name, version)
        except ModelNotFoundError as exc:
            await context.abort(
                exc.code, str(exc), trailing_metadata=((REQUEST_ID_HEADER, current_request_id()),)
            )
            return None

    def _statistics(self, name: str) -> service_pb2.ModelStatistics:
        """One model's cumulative statistics, read back from the Prometheus registry."""
        stats = service_pb2.ModelStatistics(
            name=name, version=MODEL_VERSION, last_inference=self._last_inference_ms.get(name, 0)
        )
        if self._metrics is None:
            return stats
        value = self._metrics.registry.get_sample_value

        def num(metric: str, **labels: str) -> float:
            return value(metric, {"scorer": name, **labels}) or 0.0

        ok = int(num("omninft_request_success_total"))
        failed = int(sum(num("omninft_samples_total", outcome=o) for o in ("invalid", "error", "deadline")))
        stats.inference_count = int(num("omninft_batch_size_sum"))
        stats.execution_count = int(num("omninft_batch_size_count"))
        inf = stats.inference_stats
        inf.success.count = ok
        inf.fail.count = failed
        inf.queue.count = ok
        inf.queue.ns = int(num("omninft_queue_duration_us_total") * 1000)
        for field, stage in (
            ("compute_input", "preprocess"),
            ("compute_infer", "forward"),
            ("compute_output", "postprocess"),
        ):
            duration = getattr(inf, field)
            duration.count = ok
            duration.ns = int(num("omninft_stage_seconds_total", stage=stage) * 1e9)
        return stats


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    """The caller's deadline in time.monotonic() seconds, if it set one."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _read_inputs(
    request: service_pb2.ModelInferRequest, schema: ModelSchema
) -> tuple[dict[str, list[bytes]], int]:
    """Validate the inputs against the model and split each into per-sample byte strings; returns (columns, batch)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequestError(
            f"request has {len(request.inputs)} inputs but {len(raw)} raw_input_contents; they must pair up in order"
        )
    columns: dict[str, list[bytes]] = {}
    batch = -1
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if name not in schema.inputs:
            raise BadRequestError(
                f"unexpected input {echo(name)} for model {schema.name!r}; its inputs are {', '.join(schema.inputs)}"
            )
        if name in columns:
            raise BadRequestError(f"input {name!r} is given twice")
        if tensor.datatype != "BYTES":
            raise BadRequestError(
                f"input {name!r} has datatype {echo(tensor.datatype)}; model {schema.name!r} expects BYTES"
            )
        shape = list(tensor.shape)
        if len(shape) != 2 or shape[1] != 1 or shape[0] < 1:
            raise BadRequestError(f"input {name!r} has shape {shape}; expected [batch, 1] with batch >= 1")
        if batch == -1:
            batch = shape[0]
        elif shape[0] != batch:
            raise BadRequestError(f"input {name!r} has batch size {shape[0]}; other inputs have {batch}")
        if batch > schema.max_batch_size:
            raise BadRequestError(
                f"batch size {batch} exceeds model {schema.name!r}'s max_batch_size {schema.max_batch_size}"
            )
        if raw:
            if tensor.HasField("contents"):
                raise BadRequestError(
                    f"input {name!r} sets contents while the request uses raw_input_contents"
                )
            try:
                columns[name] = deserialize_bytes(raw[index], batch)
            except ValueError as exc:
                raise BadRequestError(f"input {name!r}: {exc}") from None
        else:
            items = list(tensor.contents.bytes_contents)
            if len(items) != batch:
                raise BadRequestError(
                    f"input {name!r} has {len(items)} bytes_contents elements; its shape says {batch}"
                )
            columns[name] = items
    missing = [n for n in schema.inputs if n not in columns]
    if missing:
        raise BadRequestError(
            f"model {schema.name!r} requires input(s) {', '.join(missing)}; the request lacks them"
        )
    return columns, batch


def _requested_outputs(request: service_pb2.ModelInferRequest, schema: ModelSchema) -> list[str]:
    """Requested output names (all, with `error`, when none are named); unknown names are INVALID_ARGUMENT."""
    if not request.outputs:
        return list(schema.all_outputs)
    names = list(dict.fromkeys(o.name for o in request.outputs))
    unknown = [n for n in names if n not in schema.all_outputs]
    if unknown:
        raise BadRequestError(
            f"unknown output {echo(unknown[0])} for model {schema.name!r}; its outputs are "
            f"{', '.join(schema.all_outputs)}"
        )
    return names
