"""The endpoint controller's state machine, with the real ProcessRuntime running a tiny model server."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.endpoints.fleet import PORT, ZONE, group_slots
from modelbay.controllers.images import Images
from modelbay.platform import Platform
from modelbay.runtime.base import DEFAULT_VOLUME_SIZE_GB, Instance, InstanceSpec, stop_all
from modelbay.runtime.process import ProcessRuntime
from modelbay.serving.router import EndpointNotRouted
from tests.helpers import serve_image, wait_until
from tests.unit.controllers.endpoints.conftest import create, invoke, model, serving, settle, spec, states


def test_an_endpoint_comes_up_spread_over_zones_and_serves(controller: EndpointController, platform: Platform,
                                                           image: str) -> None:
    create(platform, "e", spec({"a": (model(image, "m1"), 3, 1.0)}))
    endpoint = settle(controller, "e")
    assert endpoint.status == "InService", endpoint.failure_reason
    variant, = endpoint.variants
    assert (variant.current_instance_count, variant.current_weight) == (3, 1.0)
    assert variant.deployed_images[0]["SpecifiedImage"] == image
    assert sorted(i.labels[ZONE] for i in serving(controller, "e", "a")) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert invoke(platform, "e").startswith("m1 us-east-1")
    controller.reconcile("e")  # a pass over a settled endpoint changes nothing
    assert controller.endpoints.get("e") == endpoint
    streams = platform.logs.streams("/aws/sagemaker/Endpoints/e", "a/")
    assert sorted(s.name for s in streams) == sorted(f"a/{i.id}" for i in serving(controller, "e", "a"))


def test_a_model_server_that_cannot_start_fails_the_endpoint_with_its_words(
        controller: EndpointController, platform: Platform, image: str) -> None:
    create(platform, "bad", spec({"a": (model(image, "m1", FAIL_TO_LOAD="weights missing"), 1, 1.0)}))
    endpoint = settle(controller, "bad")
    assert endpoint.status == "Failed"
    assert "could not load the model: weights missing" in (endpoint.failure_reason or "")
    words = "missing " + "layer " * 300 + "end"
    create(platform, "long", spec({"a": (model(image, "m1", FAIL_TO_LOAD=words), 1, 1.0)}))
    reason = settle(controller, "long").failure_reason or ""
    assert len(reason) <= 1024  # SageMaker's limit: the cause and the model server's last words are kept
    assert reason.startswith("The model server of variant a exited") and reason.endswith(" layer end")
    wait_until(lambda: (controller.reconcile("bad"), not serving(controller, "bad", "a"))[1], 10, "instances to stop")
    with pytest.raises(EndpointNotRouted):
        invoke(platform, "bad")


def test_a_model_server_that_never_answers_ping_fails_naming_the_port_probed_and_what_it_printed(
        controller: EndpointController, platform: Platform, tmp_path: Path) -> None:
    deaf = serve_image(tmp_path / "deaf", "#!/bin/sh\necho listening somewhere else\nexec sleep 600\n")
    create(platform, "deaf", spec({"a": (model(deaf, "m1"), 1, 1.0)}, startup_s=1))
    reason = settle(controller, "deaf").failure_reason or ""
    assert reason.startswith("The model server of variant a did not pass its /ping health check at "
                             "http://127.0.0.1:"), reason
    assert "/ping within 1 seconds (GET /ping failed: ConnectionRefusedError" in reason, reason
    assert reason.endswith("it printed: listening somewhere else"), reason


def test_an_endpoint_being_created_fails_when_its_instances_are_stopped_for_another_reason(
        controller: EndpointController, platform: Platform, image: str) -> None:
    """As when the server stopped them on its way out: the endpoint fails when the server is back, saying why."""
    create(platform, "cut", spec({"a": (model(image, "m1"), 1, 1.0)}))

    def started() -> list[Any]:  # the pass that starts the instance does not check it: still Creating
        controller.reconcile("cut")
        return controller.runtime.list({"endpoint": "cut"})
    instance, = wait_until(started, 30, "the instance to start")
    controller.runtime.stop(instance.id, 0, reason="stopped with the server")
    wait_until(lambda: not controller.runtime.inspect(instance.id).is_alive, 10, "the instance to end")
    endpoint = settle(controller, "cut")
    assert endpoint.status == "Failed"
    assert "The model server of variant a exited (stopped with the server)" in (endpoint.failure_reason or "")


def test_a_dead_instance_is_replaced_in_its_zone(controller: EndpointController, platform: Platform,
                                                 image: str) -> None:
    create(platform, "heal", spec({"a": (model(image, "m1"), 2, 1.0)}))
    settle(controller, "heal")
    victim = serving(controller, "heal", "a")[0]
    with contextlib.suppress(http.client.HTTPException, OSError):  # it dies before it answers
        connection = http.client.HTTPConnection("127.0.0.1", int(victim.labels[PORT]), timeout=5)
        connection.request("POST", "/invocations", body=b"die")
        connection.getresponse()

    def replaced() -> bool:
        controller.reconcile("heal")
        alive = serving(controller, "heal", "a")
        return len(alive) == 2 and victim.id not in {i.id for i in alive} and all(
            controller.health.is_ready(s) for s in _slots(controller, "heal"))
    wait_until(replaced, 30, "a replacement")
    assert sorted(i.labels[ZONE] for i in serving(controller, "heal", "a")) == ["us-east-1a", "us-east-1b"]
    assert invoke(platform, "heal") in ("m1 us-east-1a", "m1 us-east-1b")


def test_weights_and_counts_change_live(controller: EndpointController, platform: Platform, image: str) -> None:
    create(platform, "w", spec({"a": (model(image, "m1"), 1, 1.0), "b": (model(image, "m2"), 1, 1.0)}))
    settle(controller, "w")
    before = {i.id for i in serving(controller, "w", "a")}
    platform.metadata.endpoints.request_weights("w", {"a": (0.0, None), "b": (None, 2)})
    endpoint = settle(controller, "w", ("InService",))
    assert {(v.name, v.current_weight, v.current_instance_count) for v in endpoint.variants} == {
        ("a", 0.0, 1), ("b", 1.0, 2)}
    assert {i.id for i in serving(controller, "w", "a")} == before  # unchanged instances were not restarted
    assert {invoke(platform, "w").split()[0] for _ in range(20)} == {"m2"}


def test_update_endpoint_is_blue_green(controller: EndpointController, platform: Platform, image: str) -> None:
    create(platform, "bg", spec({"a": (model(image, "old"), 1, 1.0)}))
    settle(controller, "bg")
    old = {i.id for i in serving(controller, "bg", "a")}
    new_spec = spec({"a": (model(image, "new"), 1, 1.0)})
    platform.metadata.endpoints.request_update("bg", "config2", states(new_spec), new_spec)
    controller.reconcile("bg")
    assert invoke(platform, "bg").startswith("old")  # the old fleet serves until the new one is ready
    endpoint = settle(controller, "bg", ("InService",))
    assert (endpoint.config_name, endpoint.failure_reason) == ("config2", None)
    assert invoke(platform, "bg").startswith("new")
    wait_until(lambda: (controller.reconcile("bg"), not old & {i.id for i in serving(controller, "bg", "a")})[1],
               15, "the old fleet to stop")


def test_a_failing_update_leaves_the_endpoint_on_its_old_config(controller: EndpointController, platform: Platform,
                                                                image: str) -> None:
    create(platform, "rb", spec({"a": (model(image, "old"), 1, 1.0)}))
    settle(controller, "rb")
    broken = spec({"a": (model(image, "new", FAIL_TO_LOAD="bad weights"), 1, 1.0)})
    platform.metadata.endpoints.request_update("rb", "config2", states(broken), broken)
    endpoint = settle(controller, "rb", ("InService",))  # the update's outcome ends the Updating either way
    assert (endpoint.status, endpoint.config_name) == ("InService", "config")
    assert "could not load the model: bad weights" in (endpoint.failure_reason or "")
    assert invoke(platform, "rb").startswith("old")


def test_delete_stops_everything_and_forgets_the_endpoint(controller: EndpointController, platform: Platform,
                                                          image: str) -> None:
    create(platform, "d", spec({"a": (model(image, "m1"), 2, 1.0)}))
    settle(controller, "d")
    platform.metadata.endpoints.request_delete("d")
    wait_until(lambda: (controller.reconcile("d"), controller.endpoints.get("d") is None)[1], 30, "the delete")
    assert controller.runtime.list({"endpoint": "d"}) == []
    with pytest.raises(EndpointNotRouted):
        invoke(platform, "d")


def _slots(controller: EndpointController, name: str) -> list[Any]:
    return list(group_slots(i for i in controller.runtime.list({"endpoint": name}) if i.is_alive).values())


def test_the_variants_volume_and_the_models_network_isolation_reach_its_instances(
        platform: Platform, tmp_path: Path, images: Images, image: str) -> None:
    started: list[InstanceSpec] = []

    class Recording(ProcessRuntime):
        def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
            started.append(spec)  # what was asked; started without the isolation this namespace-less runtime refuses
            return super().start(dataclasses.replace(spec, isolated=False), labels)
    runtime = Recording(tmp_path / "recording", namespaces=False)
    controller = EndpointController(platform, runtime, images, check_every_s=0.2, stop_grace_s=1)
    isolated = spec({"a": (model(image, "closed") | {"EnableNetworkIsolation": True}, 1, 1.0),
                     "b": (model(image, "open"), 1, 1.0)})
    isolated.production_variants[0]["VolumeSizeInGB"] = 4
    create(platform, "shaped", isolated)
    try:
        assert settle(controller, "shaped").status == "InService"
        assert sorted((s.env["MODEL_NAME"], s.isolated, s.volume_size_gb) for s in started) == [
            ("closed", True, 4), ("open", False, DEFAULT_VOLUME_SIZE_GB)]
    finally:
        stop_all(runtime, grace_s=0)
