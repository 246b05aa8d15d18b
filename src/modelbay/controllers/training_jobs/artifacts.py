"""Where training outputs go: a host's `/opt/ml/model` and `/opt/ml/output/data`, each packed by
uploads.upload_directory."""

from __future__ import annotations


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """`<S3OutputPath>/<job>/output/<file_name>`, as SageMaker places a job's outputs."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"
