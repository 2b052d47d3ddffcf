"""Bearer-token auth (health exempt), TLS and mutual TLS with certificates generated in the test."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omninft.reward_servers.serving.config import TLSConfig
from omninft_client.v1 import reward_pb2, reward_pb2_grpc
from tests.helpers.media import gradient_frames
from tests.helpers.server import frames_video, running_server, sample

REQ = reward_pb2.ScoreRequest(
    samples=[sample(video=frames_video(gradient_frames(8, 16, 16)))], scorers=["brightness"]
)


async def test_bearer_token_is_required_except_for_health() -> None:
    async with running_server(auth_token="s3cret-token") as r:
        for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", "s3cret-token"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await r.stub.Score(REQ, metadata=metadata, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "x-request-id" in dict(err.value.trailing_metadata() or ())
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.ListScorers(reward_pb2.ListScorersRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Kubernetes gRPC probes send no headers: health stays open.
        assert await r.health_status() == health_pb2.HealthCheckResponse.SERVING
        resp = await r.stub.Score(REQ, metadata=(("authorization", "Bearer s3cret-token"),), timeout=10)
        assert "brightness" in resp.results[0].scores
        unauth = r.server.metrics.registry.get_sample_value(
            "omninft_requests_total", {"method": "omninft.v1.RewardService/Score", "code": "UNAUTHENTICATED"}
        )
        assert unauth == 3


async def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNINFT_AUTH_TOKEN", "from-env")
    async with running_server() as r:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await r.stub.Score(REQ, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await r.stub.Score(REQ, metadata=(("authorization", "Bearer from-env"),), timeout=10)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, "test-ca", ca_key, ca=True)
    files = {"ca": ca.public_bytes(serialization.Encoding.PEM)}
    for who in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{who}_cert"] = _cert(who, key, "test-ca", ca_key, ca=False).public_bytes(
            serialization.Encoding.PEM
        )
        files[f"{who}_key"] = _pem_key(key)
    paths = {}
    for name, data in files.items():
        paths[name] = d / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


async def test_tls(pki: dict[str, Path]) -> None:
    tls = TLSConfig(cert_file=str(pki["server_cert"]), key_file=str(pki["server_key"]))
    async with running_server(tls=tls, channel=None, wait=True) as plain:
        # running_server's default channel is plaintext: against TLS it cannot connect.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await plain.stub.Score(REQ, timeout=3)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        creds = grpc.ssl_channel_credentials(root_certificates=pki["ca"].read_bytes())
        async with grpc.aio.secure_channel(plain.server.address, creds) as ch:
            resp = await reward_pb2_grpc.RewardServiceStub(ch).Score(REQ, timeout=10)
            assert "brightness" in resp.results[0].scores


async def test_mutual_tls_requires_a_client_certificate(pki: dict[str, Path]) -> None:
    tls = TLSConfig(
        cert_file=str(pki["server_cert"]),
        key_file=str(pki["server_key"]),
        client_ca_file=str(pki["ca"]),
        require_client_auth=True,
    )
    async with running_server(tls=tls) as r:
        anonymous = grpc.ssl_channel_credentials(root_certificates=pki["ca"].read_bytes())
        async with grpc.aio.secure_channel(r.server.address, anonymous) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await reward_pb2_grpc.RewardServiceStub(ch).Score(REQ, timeout=3)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        mutual = grpc.ssl_channel_credentials(
            root_certificates=pki["ca"].read_bytes(),
            private_key=pki["client_key"].read_bytes(),
            certificate_chain=pki["client_cert"].read_bytes(),
        )
        async with grpc.aio.secure_channel(r.server.address, mutual) as ch:
            resp = await reward_pb2_grpc.RewardServiceStub(ch).Score(REQ, timeout=10)
            assert "brightness" in resp.results[0].scores
            health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_plaintext_health_port_beside_tls(pki: dict[str, Path]) -> None:
    tls = TLSConfig(cert_file=str(pki["server_cert"]), key_file=str(pki["server_key"]))
    async with running_server(tls=tls, health_port=0, wait=False) as r:
        assert r.server.health_port and r.server.health_port != r.server.port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{r.server.health_port}") as ch:
            health = health_pb2_grpc.HealthStub(ch)
            await r.server.wait_serving(30)
            # Kubernetes' native probe: plaintext, no credentials, readiness on the RewardService name.
            for service in ("", "omninft.v1.RewardService"):
                resp = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert resp.status == health_pb2.HealthCheckResponse.SERVING
            # Only health lives on the plaintext port.
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await reward_pb2_grpc.RewardServiceStub(ch).Score(REQ, timeout=3)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
