#!/usr/bin/env bash
# The AWS CLI, unchanged, against modelbay: train a scikit-learn model, read its log, serve it, invoke it.
#
#     eval "$(modelbay env)" && bash examples/aws_cli.sh
#
# Every command is a plain `aws` command; the same script runs against AWS with a bucket and role of yours.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
account="$(aws sts get-caller-identity --query Account --output text)"
region="${AWS_REGION:-us-east-1}"
role="$(aws iam get-role --role-name SageMakerExecutionRole --query Role.Arn --output text)"
name="aws-cli-$(date +%Y%m%d-%H%M%S)"
bucket="aws-cli-example-$account"
image="683313688378.dkr.ecr.$region.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

echo "== data and code to S3"
aws s3 mb "s3://$bucket" >/dev/null 2>&1 || true          # already there from an earlier run is fine
python3 - "$work/train.csv" <<'PY'
import random, sys
rng = random.Random(0)
with open(sys.argv[1], "w") as out:
    for _ in range(200):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        out.write(f"{3 * a - 2 * b:.5f},{a:.5f},{b:.5f}\n")
PY
tar -czf "$work/sourcedir.tar.gz" -C "$here/code/sklearn" train.py
aws s3 cp "$work/train.csv" "s3://$bucket/$name/train/train.csv"
aws s3 cp "$work/sourcedir.tar.gz" "s3://$bucket/$name/code/sourcedir.tar.gz"
aws s3 ls "s3://$bucket/$name/" --recursive

echo "== training job $name"
cat >"$work/job.json" <<JSON
{
  "TrainingJobName": "$name",
  "RoleArn": "$role",
  "AlgorithmSpecification": {"TrainingImage": "$image", "TrainingInputMode": "File"},
  "HyperParameters": {"alpha": "0.1", "sagemaker_program": "\"train.py\"",
                      "sagemaker_submit_directory": "\"s3://$bucket/$name/code/sourcedir.tar.gz\""},
  "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv",
                       "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://$bucket/$name/train/"}}}],
  "OutputDataConfig": {"S3OutputPath": "s3://$bucket/$name/output"},
  "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
  "StoppingCondition": {"MaxRuntimeInSeconds": 600}
}
JSON
aws sagemaker create-training-job --cli-input-json "file://$work/job.json" --query TrainingJobArn --output text
until status="$(aws sagemaker describe-training-job --training-job-name "$name" --query TrainingJobStatus --output text)" \
      && [[ "$status" =~ ^(Completed|Failed|Stopped)$ ]]; do sleep 1; done
echo "status: $status"
aws sagemaker list-training-jobs --name-contains "$name" --query 'TrainingJobSummaries[].[TrainingJobName,TrainingJobStatus]' --output text
artifact="$(aws sagemaker describe-training-job --training-job-name "$name" --query ModelArtifacts.S3ModelArtifacts --output text)"
echo "model artifact: $artifact"
echo "== its log"
if aws logs tail help >/dev/null 2>&1; then                 # `logs tail` is AWS CLI v2's
  aws logs tail /aws/sagemaker/TrainingJobs --log-stream-name-prefix "$name"
else
  aws logs filter-log-events --log-group-name /aws/sagemaker/TrainingJobs --log-stream-name-prefix "$name" \
      --query 'events[].message' --output text
fi

echo "== endpoint $name"
aws sagemaker create-model --model-name "$name" --execution-role-arn "$role" \
    --primary-container "Image=$image,ModelDataUrl=$artifact,Environment={SAGEMAKER_PROGRAM=train.py,SAGEMAKER_SUBMIT_DIRECTORY=s3://$bucket/$name/code/sourcedir.tar.gz}" >/dev/null
aws sagemaker create-endpoint-config --endpoint-config-name "$name" \
    --production-variants "VariantName=AllTraffic,ModelName=$name,InitialInstanceCount=1,InstanceType=ml.m5.large" >/dev/null
aws sagemaker create-endpoint --endpoint-name "$name" --endpoint-config-name "$name" >/dev/null
until status="$(aws sagemaker describe-endpoint --endpoint-name "$name" --query EndpointStatus --output text)" \
      && [[ "$status" =~ ^(InService|Failed)$ ]]; do sleep 1; done
echo "endpoint: $status"
printf '1.0,1.0\n0.5,-0.5\n' >"$work/rows.csv"
aws sagemaker-runtime invoke-endpoint --endpoint-name "$name" --content-type text/csv --accept text/csv \
    --body "fileb://$work/rows.csv" "$work/answer.csv" --query InvokedProductionVariant --output text
echo "predicted: $(tr '\n' ' ' <"$work/answer.csv")(expected about 1.0 and 2.5)"

echo "== clean up"
aws sagemaker delete-endpoint --endpoint-name "$name"
aws sagemaker delete-endpoint-config --endpoint-config-name "$name"
aws sagemaker delete-model --model-name "$name"
aws s3 rm "s3://$bucket/$name/" --recursive >/dev/null
echo "done"
