"""Model Monitor's analyzer (SageMaker's `sagemaker-model-monitor-analyzer` image): `python -m
modelbay.container.model_monitor`, run as a processing job for data quality.

Two uses, told apart by the environment:
- **baselining** (`DefaultModelMonitor.suggest_baseline`): statistics of a dataset, and the constraints it suggests;
- **monitoring** (an execution of a monitoring schedule: `baseline_constraints` or `baseline_statistics` is set, or
  the dataset is captured data): statistics of the captured data, checked against the baseline.

The environment read (as SageMaker's analyzer reads it; every value a string):
- `dataset_format` (required): JSON, one of `{"csv": {"header": bool, ...}}`, `{"json": {"lines": bool}}`,
  `{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}` (index names default to
  `["endpointInput"]`);
- `dataset_source` (required): a local directory (every file under it, in path order) or file;
- `output_path`: the local directory written (default `/opt/ml/processing/output`);
- `baseline_constraints`, `baseline_statistics`: local paths of the baseline's files (monitoring);
- `publish_cloudwatch_metrics`: `Enabled` writes the metrics file (unless the constraints' `emit_metrics` is
  `Disabled`); `sagemaker_endpoint_name` and `sagemaker_monitoring_schedule_name` become its dimensions
  `Endpoint` and `MonitoringSchedule`;
- `start_time`, `end_time`: ISO 8601 times; captured records whose `eventMetadata.inferenceTime` lies outside
  [start_time, end_time) are left out (either may be absent);
- `categorical_drift_method`: `LInfinity` or `ChiSquared`, written into suggested constraints;
- `record_preprocessor_script`: a Python file whose `preprocess_handler(inference_record)` turns each captured
  record into a row (a dict of feature to value, or a list of values); returning None or `[]` drops the record;
- `post_analytics_processor_script`: a Python file whose `postprocess_handler()` runs after the analysis.

Files written:
- `<output_path>/statistics.json` always (SageMaker's statistics schema);
- `<output_path>/constraints.json` when baselining;
- `<output_path>/constraint_violations.json` when monitoring with baseline constraints (`{"violations": []}` when
  none: the execution is then Completed, else CompletedWithViolations);
- `/opt/ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl` when metrics are published: one PutMetricData datum
  a line (MetricName, Timestamp = end_time or now, Dimensions, Value or StatisticValues), for the namespace
  `aws/sagemaker/Endpoints/data-metrics`: `feature_data_<f>` (StatisticValues of a numerical feature),
  `feature_non_null_<f>` (its completeness, 0 to 1) and `feature_baseline_drift_<f>` (its distance to the
  baseline as the drift check measures it, when baseline statistics are given: drift.py).

Exit status: 0 whenever the analysis ran, violations or not; 1 when it could not (no data in the window, a bad
dataset format, unreadable baseline files), with the reason in `/opt/ml/output/message`.

Captured CSV has no header: its columns are named after the baseline constraints' features by position (columns
past them, or with no baseline, `_c0`, `_c1`, ... as a CSV baseline without a header names them).
"""
