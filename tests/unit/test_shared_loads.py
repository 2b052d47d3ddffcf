"""Scorers built by one server with the same weights share one model copy; separate builds do not."""

from __future__ import annotations

import threading

from omninft.reward_servers.scorers import registry
from omninft.reward_servers.scorers._shared import shared_load, sharing
from omninft.reward_servers.scorers.base import ScorerConfig


def test_shared_load_is_scoped_and_keyed() -> None:
    calls: list[int] = []

    def loader() -> object:
        calls.append(1)
        return object()

    a, b = shared_load("k", loader), shared_load("k", loader)
    assert a is not b and len(calls) == 2  # no scope: every call loads
    with sharing():
        c, d = shared_load("k", loader), shared_load("k", loader)
        e = shared_load("other", loader)
        # worker threads started with the scope's context see the same cache (asyncio.to_thread copies it)
        import contextvars

        seen: list[object] = []
        ctx = contextvars.copy_context()
        t = threading.Thread(target=lambda: seen.append(ctx.run(shared_load, "k", loader)))
        t.start()
        t.join()
    assert c is d is seen[0] and e is not c and len(calls) == 4
    f = shared_load("k", loader)
    assert f is not c  # the scope ended


def test_imagebind_and_avh_share_one_model_in_a_server_build() -> None:
    cfg = ScorerConfig(weights="tiny")
    with sharing():
        ib = registry.build("imagebind", cfg)
        avh = registry.build("imagebind_avh", cfg)
    apart = registry.build("imagebind_avh", cfg)
    model_of = {
        name: s.backend._graphs["vision"].module.model
        for name, s in (("ib", ib), ("avh", avh), ("apart", apart))  # type: ignore[attr-defined]
    }
    assert model_of["ib"] is model_of["avh"]
    assert model_of["apart"] is not model_of["ib"]


async def test_a_server_hosting_both_imagebind_scorers_loads_the_model_once() -> None:
    from omninft.reward_servers.serving.app import create_server
    from omninft.reward_servers.serving.config import ServerConfig

    cfg = ServerConfig(
        port=0,
        metrics_port=-1,
        warmup=False,
        scorers={"imagebind": ScorerConfig(weights="tiny"), "imagebind_avh": ScorerConfig(weights="tiny")},
    )
    server = create_server(cfg)
    await server.start()
    try:
        await server.wait_serving(120)
        models = [s.backend._graphs["vision"].module.model for s in server.scorers.values()]  # type: ignore[attr-defined]
        assert len(models) == 2 and models[0] is models[1]
    finally:
        await server.stop(0)


def test_concurrent_builds_load_a_shared_key_once_and_record_it() -> None:
    import contextvars
    import time

    from omninft.reward_servers.scorers._shared import recording

    calls: list[int] = []

    def slow_loader() -> object:
        calls.append(1)
        time.sleep(0.3)  # the second thread asks while the first is still loading
        return object()

    got: dict[str, object] = {}
    keys: dict[str, list[object]] = {}

    def build(name: str) -> None:
        with recording() as used:
            got[name] = shared_load("model", slow_loader)
        keys[name] = list(used)

    with sharing():
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(build, n)) for n in ("a", "b")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(calls) == 1 and got["a"] is got["b"]
    assert keys == {"a": ["model"], "b": ["model"]}


def test_a_failed_shared_load_raises_for_every_waiter_and_can_be_retried() -> None:
    attempts: list[int] = []

    def flaky() -> object:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return "ok"

    with sharing():
        try:
            shared_load("k", flaky)
        except OSError:
            pass
        else:  # pragma: no cover - the first attempt must fail
            raise AssertionError("no error")
        assert shared_load("k", flaky) == "ok" and len(attempts) == 2
