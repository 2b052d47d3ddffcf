"""ServerConfig: camelCase YAML, type checks, did-you-mean errors, CLI overrides, auth token sources."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from omninft.reward_servers.scorers.base import ScorerConfig
from omninft.reward_servers.serving.config import ServerConfig, TLSConfig

FULL_YAML = """
host: 0.0.0.0
port: 8001
metricsPort: -1
maxMessageBytes: 134217728
maxSamplesPerRequest: 32
maxPromptChars: 1000
allowedUriRoots: [/data/samples]
decodeWorkers: 4
maxVideoFrames: 500
maxVideoPixels: 100000000
maxAudioSeconds: 30
authTokenFile: /var/run/secrets/token
tls:
  certFile: /tls/tls.crt
  keyFile: /tls/tls.key
  clientCaFile: /tls/ca.crt
  requireClientAuth: true
maxConnectionAgeS: 120
maxConnectionAgeGraceS: 10
drainGraceS: 15
warmup: false
plugins:
  my_scorer: my_pkg.scorers:build
scorers:
  clap:
    weights: official
    backend: onnxruntime
    device: cuda:0
    maxBatchSize: 32
    maxQueueDelayMs: 2.5
    maxQueueSize: 512
    onnxDir: /cache/onnx
    options: {text_cache_size: 128}
  clip: {}
"""


def test_full_yaml_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "server.yaml"
    p.write_text(FULL_YAML)
    cfg = ServerConfig.from_yaml(p)
    assert cfg.host == "0.0.0.0" and cfg.port == 8001 and cfg.metrics_port == -1
    assert cfg.max_audio_seconds == 30.0 and isinstance(cfg.max_audio_seconds, float)
    assert cfg.tls == TLSConfig("/tls/tls.crt", "/tls/tls.key", "/tls/ca.crt", True)
    assert cfg.scorers["clap"].max_queue_delay_ms == 2.5
    assert cfg.scorers["clap"].options == {"text_cache_size": 128}
    assert cfg.scorers["clip"] == ScorerConfig()
    assert cfg.plugins == {"my_scorer": "my_pkg.scorers:build"}
    # to_dict gives the same camelCase document back.
    assert cfg.to_dict() == {
        **ServerConfig().to_dict(),
        **yaml.safe_load(FULL_YAML),
        "scorers": cfg.to_dict()["scorers"],
    }
    assert ServerConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["scorers"]["clap"]["maxBatchSize"] == 32


def test_every_field_has_a_mechanical_camel_case_key() -> None:
    keys = ServerConfig().to_dict()
    for f in dataclasses.fields(ServerConfig):
        parts = f.name.split("_")
        assert parts[0] + "".join(p.title() for p in parts[1:]) in keys


def test_defaults_hold_a_raw_five_second_clip() -> None:
    cfg = ServerConfig()
    raw_clip = 5 * 24 * 480 * 854 * 3
    assert cfg.max_message_bytes > raw_clip
    assert cfg.host == "127.0.0.1" and cfg.port == 50051 and cfg.metrics_port == 9400


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"maxSampelsPerRequest": 3}, "Did you mean 'maxSamplesPerRequest'"),
        ({"max_message_bytes": 3}, "Did you mean 'maxMessageBytes'"),
        ({"maxBatchSize": 3}, "per-scorer key"),
        ({"scorers": {"clap": {"maxBatchsize": 3}}}, "scorers.clap.maxBatchsize"),
        ({"tls": {"certfile": "x"}}, "Did you mean 'certFile'"),
        ({"port": "50051"}, "port: expected int"),
        ({"port": True}, "port: expected int"),
        ({"warmup": "yes"}, "warmup: expected bool"),
        ({"allowedUriRoots": "/data"}, "expected a list"),
        ({"allowedUriRoots": [1]}, r"allowedUriRoots\[0\]"),
        ({"scorers": ["clap"]}, "scorers: expected a mapping"),
        ({"port": 70000}, "port: must be in"),
        ({"metricsPort": -2}, "metricsPort"),
        ({"maxMessageBytes": 2**31}, "2 GiB"),
        ({"tls": {"certFile": "a"}}, "go together"),
        ({"tls": {"requireClientAuth": True}}, "needs clientCaFile"),
        ({"plugins": {"x": "no_colon"}}, "module:function"),
        ({"scorers": {"clap": {"maxBatchSize": 0}}}, "maxBatchSize: must be positive"),
        ({"maxSamplesPerRequest": 500}, "maxQueueSize: must be >= maxSamplesPerRequest"),
    ],
)
def test_invalid_documents(doc: dict, fragment: str) -> None:
    if doc.get("maxSamplesPerRequest") == 500:
        doc = {**doc, "scorers": {"clap": {}}}
    with pytest.raises(ValueError, match=fragment):
        ServerConfig.from_dict(doc)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("portt: 1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown key 'portt'"):
        ServerConfig.from_yaml(p)
    p.write_text("- a list\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        ServerConfig.from_yaml(p)
    p.write_text("")
    assert ServerConfig.from_yaml(p) == ServerConfig()


def test_cli_overrides_win_over_yaml(tmp_path: Path) -> None:
    p = tmp_path / "server.yaml"
    p.write_text(FULL_YAML)
    cfg = ServerConfig.from_cli(
        p,
        scorer_overrides={"weights": "tiny", "max_batch_size": 4, "backend": None},
        port=0,
        host=None,
        allowed_uri_roots=["/tmp/a"],
    )
    assert cfg.port == 0 and cfg.host == "0.0.0.0"
    assert cfg.allowed_uri_roots == ["/tmp/a"]
    assert {n: (s.weights, s.max_batch_size, s.backend) for n, s in cfg.scorers.items()} == {
        "clap": ("tiny", 4, "onnxruntime"),
        "clip": ("tiny", 4, "torch"),
    }


def test_cli_scorer_selection_keeps_known_configs_and_adds_new_ones(tmp_path: Path) -> None:
    p = tmp_path / "server.yaml"
    p.write_text(FULL_YAML)
    cfg = ServerConfig.from_cli(p, scorers=["clap", "imagebind"])
    assert list(cfg.scorers) == ["clap", "imagebind"]
    assert cfg.scorers["clap"].backend == "onnxruntime"
    assert cfg.scorers["imagebind"] == ScorerConfig()
    fresh = ServerConfig.from_cli(
        None, scorers=["clap"], scorer_overrides={"device": "cuda:1"}, metrics_port=0
    )
    assert fresh.scorers["clap"].device == "cuda:1" and fresh.metrics_port == 0


def test_cli_override_type_errors() -> None:
    with pytest.raises(ValueError, match="port: expected int"):
        ServerConfig.from_cli(None, port="x")
    with pytest.raises(ValueError, match="unknown server override"):
        ServerConfig.from_cli(None, nope=1)
    with pytest.raises(ValueError, match="unknown scorer override"):
        ServerConfig.from_cli(None, scorers=["clap"], scorer_overrides={"nope": 1})


def test_auth_token_sources(tmp_path: Path) -> None:
    assert ServerConfig(auth_token="direct").resolve_auth_token({"OMNINFT_AUTH_TOKEN": "env"}) == "direct"
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert (
        ServerConfig(auth_token_file=str(f)).resolve_auth_token({"OMNINFT_AUTH_TOKEN": "env"}) == "from-file"
    )
    assert ServerConfig().resolve_auth_token({"OMNINFT_AUTH_TOKEN": "env"}) == "env"
    assert ServerConfig().resolve_auth_token({}) == ""
    f.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        ServerConfig(auth_token_file=str(f)).resolve_auth_token({})


def test_media_limits_follow_the_config() -> None:
    lim = ServerConfig(max_video_frames=10, max_video_pixels=1000, max_audio_seconds=2.0).media_limits
    assert (lim.max_video_frames, lim.max_video_pixels, lim.max_audio_seconds) == (10, 1000, 2.0)


def test_scorer_options_are_typed_and_checked_at_load() -> None:
    with pytest.raises(
        ValueError, match=r"^scorers\.videoalign\.options\.use_nrom: unknown option; did you mean use_norm\?$"
    ):
        ServerConfig.from_dict({"scorers": {"videoalign": {"options": {"use_nrom": True}}}})
    with pytest.raises(ValueError, match=r"scorers\.clap\.options\.text_cache_size: expected int"):
        ServerConfig.from_dict({"scorers": {"clap": {"options": {"text_cache_size": "many"}}}})
    cfg = ServerConfig.from_dict(
        {"scorers": {"audiobox_aesthetics": {"weightsDir": "/w", "options": {"max_audio_len_s": "none"}}}}
    )
    assert cfg.scorers["audiobox_aesthetics"].weights_dir == "/w"
    # plugins (bare "module:function" targets) have no spec: their options are not checked here
    ServerConfig.from_dict({"plugins": {"x": "m:f"}, "scorers": {"x": {"options": {"anything": 1}}}})
