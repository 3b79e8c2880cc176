"""A script-mode training job as the SageMaker Python SDK's framework estimators create it, with plain
boto3 requests (pure functions: what to upload and what to send).

- The source: `--source-dir` (or the entry point's own file) as `sourcedir.tar.gz`, uploaded to
  `<output>/<job>/source/sourcedir.tar.gz`.
- Hyperparameters: every value JSON-encoded (`"0.5"`, `"\\"text\\""`), plus `sagemaker_program`
  (the entry point's file name), `sagemaker_submit_directory` (the tarball's URL),
  `sagemaker_container_log_level` and `sagemaker_region`, as the SDK sends them.
- The model: the same image (the framework's serves inference too) with the job's model.tar.gz,
  `SAGEMAKER_PROGRAM` = the entry point and `SAGEMAKER_SUBMIT_DIRECTORY` = the source tarball, so
  the endpoint runs the same script's `model_fn`/`input_fn`/`predict_fn`/`output_fn`.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasbridge.errors import ConfigError

# The scikit-learn framework image the SDK picks for scikit-learn 1.2 (its training and inference image).
SKLEARN_IMAGES = {"us-east-1": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"}
FRAMEWORKS = ("sklearn",)
LOG_LEVEL = 20  # logging.INFO, the SDK's default container log level
MAX_NAME = 63
DEFAULT_MAX_RUNTIME_SECONDS = 86400


@dataclass(frozen=True)
class ScriptJob:
    """What a script-mode job runs: the script, its source folder and settings."""

    entry_point: str
    source_dir: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)  # name → regex with one group
    image: str | None = None  # else the framework's image for the region
    framework: str = "sklearn"
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS

    def checked(self) -> ScriptJob:
        """One-line errors for a script that is not there or settings that cannot work."""
        entry = Path(self.entry_point)
        if self.source_dir is not None:
            source = Path(self.source_dir)
            if not source.is_dir():
                raise ConfigError(f"--source-dir {self.source_dir}: no such directory")
            if not (source / entry).is_file():
                raise ConfigError(f"--entry-point {self.entry_point}: no such file in --source-dir {self.source_dir}")
        elif not entry.is_file():
            raise ConfigError(f"--entry-point {self.entry_point}: no such file")
        if self.framework not in FRAMEWORKS:
            raise ConfigError(f"--framework {self.framework}: use {', '.join(FRAMEWORKS)} or --image URI")
        for name, regex in self.metrics.items():
            try:
                groups = re.compile(regex).groups
            except re.error as exc:
                raise ConfigError(f"--metric {name}: {regex!r} is not a regular expression ({exc})") from None
            if groups != 1:
                raise ConfigError(f"--metric {name}: the regex needs exactly one group around the value, e.g. "
                                  f"{name}=([0-9.]+)")  # fmt: skip
        return self

    @property
    def program(self) -> str:
        """`sagemaker_program`: the entry point relative to the source folder."""
        return Path(self.entry_point).as_posix() if self.source_dir else Path(self.entry_point).name

    def image_for(self, region: str) -> str:
        if self.image:
            return self.image
        image = SKLEARN_IMAGES.get(region)
        if image is None:
            raise ConfigError(f"no scikit-learn image known for region {region}; pass --image URI "
                              "(the framework image for your region)")  # fmt: skip
        return image


def job_name(base: str, now: datetime | None = None) -> str:
    """`<base>-YYYY-MM-DD-HH-MM-SS-mmm` as the SDK names jobs (letters, digits and hyphens, ≤ 63)."""
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%d-%H-%M-%S-") + f"{now.microsecond // 1000:03d}"
    clean = re.sub(r"[^A-Za-z0-9-]+", "-", base).strip("-") or "saasbridge"
    return f"{clean[: MAX_NAME - len(stamp) - 1]}-{stamp}"


def source_tarball(job: ScriptJob) -> bytes:
    """The source folder (or the entry point alone) as `sourcedir.tar.gz`, files sorted by name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", dereference=True) as tar:  # the stand-in refuses links
        if job.source_dir is None:
            tar.add(job.entry_point, arcname=Path(job.entry_point).name, recursive=False)
        else:
            root = Path(job.source_dir)
            for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def parse_value(text: str) -> Any:
    """A `k=v` value as the Python value the SDK would have been given: a JSON number, boolean or
    null when it reads as one, else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def encoded_hyperparameters(job: ScriptJob, source_url: str, region: str) -> dict[str, str]:
    hps = {name: json.dumps(value) for name, value in job.hyperparameters.items()}
    hps.update({
        "sagemaker_program": json.dumps(job.program), "sagemaker_submit_directory": json.dumps(source_url),
        "sagemaker_container_log_level": json.dumps(LOG_LEVEL), "sagemaker_region": json.dumps(region),
    })  # fmt: skip
    return hps


def create_training_job_request(job: ScriptJob, *, name: str, role_arn: str, region: str, source_url: str,
                                channels: dict[str, str], output_url: str) -> dict[str, Any]:  # fmt: skip
    """CreateTrainingJob's parameters; `channels`: name → S3 prefix of its CSV files."""
    return {
        "TrainingJobName": name,
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": job.image_for(region), "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": n, "Regex": r} for n, r in sorted(job.metrics.items())],
            "EnableSageMakerMetricsTimeSeries": False,
        },
        "HyperParameters": encoded_hyperparameters(job, source_url, region),
        "InputDataConfig": [{
            "ChannelName": channel, "ContentType": "text/csv", "InputMode": "File",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": url,
                                            "S3DataDistributionType": "FullyReplicated"}},
        } for channel, url in sorted(channels.items())],
        "OutputDataConfig": {"S3OutputPath": output_url},
        "ResourceConfig": {"InstanceType": job.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
    }  # fmt: skip


def model_request(job: dict[str, Any], *, name: str, region: str) -> dict[str, Any]:
    """CreateModel's parameters for a completed job (its DescribeTrainingJob): its artifacts in the same
    image, served by the same script from the same source tarball, with the job's role."""
    hps = {k: json.loads(v) for k, v in (job.get("HyperParameters") or {}).items() if k.startswith("sagemaker_")}
    if "sagemaker_program" not in hps:
        raise ConfigError(f"training job {job['TrainingJobName']} is not a script-mode job (no sagemaker_program); "
                          "create its model yourself")  # fmt: skip
    environment = {"SAGEMAKER_PROGRAM": hps["sagemaker_program"], "SAGEMAKER_CONTAINER_LOG_LEVEL": str(LOG_LEVEL),
                   "SAGEMAKER_REGION": region}  # fmt: skip
    if hps.get("sagemaker_submit_directory"):
        environment["SAGEMAKER_SUBMIT_DIRECTORY"] = hps["sagemaker_submit_directory"]
    return {
        "ModelName": name,
        "ExecutionRoleArn": job["RoleArn"],
        "PrimaryContainer": {"Image": job["AlgorithmSpecification"]["TrainingImage"],
                             "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"], "Environment": environment},
    }  # fmt: skip
