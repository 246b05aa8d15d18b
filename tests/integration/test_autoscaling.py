"""Application Auto Scaling through boto3 against a real server (`application-autoscaling`, `cloudwatch`,
`sagemaker`, `sagemaker-runtime`): a load step makes target tracking add an instance, and once the load is light
again and the cooldown has passed the instance is removed, with no failed request either way."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.load import Load
from tests.integration.models import ROLE
from tests.integration.test_cli import modelbay

OK = serve_program(on_post='self.answer(b"ok")')
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def instances(sagemaker: Any, endpoint: str) -> tuple[str, int | None]:
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    return described["EndpointStatus"], described["ProductionVariants"][0].get("CurrentInstanceCount")


def test_target_tracking_scales_out_under_load_and_back_in_after_it(server: ServerProcess, sagemaker: Any,
                                                                    unique: str, tmp_path: Path) -> None:
    autoscaling, cloudwatch = client(server.url, "application-autoscaling"), client(server.url, "cloudwatch")
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": serve_image(tmp_path / "ok", OK)})
    sagemaker.create_endpoint_config(EndpointConfigName=unique, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": unique, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    target = {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{unique}/variant/AllTraffic",
              "ScalableDimension": DIMENSION}
    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    policy = autoscaling.put_scaling_policy(**target, PolicyName="invocations", PolicyType="TargetTrackingScaling",
                                            TargetTrackingScalingPolicyConfiguration={
        "TargetValue": 60.0, "ScaleOutCooldown": 5, "ScaleInCooldown": 5,  # 60 a minute: one a second
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    high, low = (alarm["AlarmName"] for alarm in policy["Alarms"])
    owned = cloudwatch.describe_alarms(AlarmNamePrefix=f"TargetTracking-endpoint/{unique}/")["MetricAlarms"]
    assert sorted(alarm["AlarmName"] for alarm in owned) == sorted([high, low])

    with Load(server.url, unique, clients=3, pause_s=0) as load:  # far above one a second
        wait_until(lambda: instances(sagemaker, unique) == ("InService", 2), 60, "an instance added under load")
        answered = load.answers
        wait_until(lambda: load.answers > answered + 20, 30, "the load to reach the new instance too")
    assert load.failures == [] and load.answers > 0

    scaled_out = time.monotonic()
    with Load(server.url, unique, clients=1, pause_s=2) as light:  # half a call a second: 15 a minute per instance
        wait_until(lambda: instances(sagemaker, unique) == ("InService", 1), 90, "the instance removed")
    assert light.failures == [] and light.answers > 0
    assert time.monotonic() - scaled_out > 5  # not before the scale-in cooldown

    def both_done() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = autoscaling.describe_scaling_activities(
            ServiceNamespace="sagemaker", ResourceId=target["ResourceId"])["ScalingActivities"]
        return found if [a["StatusCode"] for a in found] == ["Successful", "Successful"] else None
    scale_in, scale_out = cast(list[dict[str, Any]], wait_until(both_done, 10, "both activities to succeed"))
    assert scale_out["Description"] == "Setting desired instance count to 2."
    assert scale_out["Cause"] == f"monitor alarm {high} in state ALARM triggered policy invocations"
    assert scale_in["Description"] == "Setting desired instance count to 1."
    assert scale_in["Cause"] == f"monitor alarm {low} in state ALARM triggered policy invocations"
    assert scale_in["StatusMessage"] == ("Successfully set desired instance count to 1. Change successfully "
                                         "fulfilled by sagemaker.")

    # modelbay endpoints describe shows the target, its policy and the activities
    described = json.loads(modelbay("--json", "endpoints", "describe", unique, url=server.url).stdout)
    [shown] = described["ScalableTargets"]
    assert (shown["MinCapacity"], shown["MaxCapacity"], shown["ScalingPolicies"][0]["PolicyName"]) == (
        1, 2, "invocations")
    assert [a["ActivityId"] for a in shown["ScalingActivities"]] == [scale_in["ActivityId"], scale_out["ActivityId"]]
    readable = modelbay("endpoints", "describe", unique, url=server.url, env={"COLUMNS": "250"}).stdout
    assert "Autoscaling" in readable and "SageMakerVariantInvocationsPerInstance at 60" in readable
    assert "Recent scaling activities" in readable and "Setting desired instance count to 2." in readable

    autoscaling.deregister_scalable_target(**target)
    assert cloudwatch.describe_alarms(AlarmNamePrefix=f"TargetTracking-endpoint/{unique}/")["MetricAlarms"] == []
    sagemaker.delete_endpoint(EndpointName=unique)
