"""Training jobs run for real: a CreateTrainingJob against the stand-in is executed the way
SageMaker's framework containers (the sagemaker-training toolkit) run a script-mode job, and
DescribeTrainingJob / ListTrainingJobs then report what happened.

- A private folder shaped like `/opt/ml`: `input/config/hyperparameters.json`,
  `resourceconfig.json`, `inputdataconfig.json`; `input/data/<channel>/` (every S3 object under the
  channel's S3Prefix); `model/`; `output/` (`failure`), `output/data/`; `code/` (the unpacked
  `sagemaker_submit_directory` tarball).
- Hyperparameters arrive JSON-encoded, as the SageMaker Python SDK sends them; `sagemaker_*` ones
  configure the run, the others become `--name value` arguments (sorted) and `SM_HP_*` variables.
- The entry point (`sagemaker_program`) runs in a subprocess of the project's Python with the `SM_*`
  environment; its output goes line by line to CloudWatch Logs (`job_logs.py`) and through the
  metric definitions' regexes (the last value of each is in FinalMetricDataList).
- Exit 0: `model/` is packed into `<S3OutputPath>/<job>/output/model.tar.gz` (and `output/data/`
  into `output.tar.gz` beside it), Completed. Otherwise Failed with the failure file's text, else
  `AlgorithmError: ExecuteUserScriptError: ExitCode N: <last line on stderr>`. StopTrainingJob and
  MaxRuntimeInSeconds terminate the script: Stopped (secondary Stopped / MaxRuntimeExceeded), with
  whatever `model/` holds uploaded, as SageMaker does.

Hand-written rather than the sagemaker-training toolkit itself: the toolkit pip-installs the
script's requirements into the running Python (here the project's shared virtualenv) and expects
to own `/opt/ml`; the environment and argument conventions above are the toolkit's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasbridge.local.sagemaker.invocations import Reply, stop_job
from saasbridge.local.sagemaker.job_logs import TRAINING_LOG_GROUP, JobLog
from saasbridge.local.sagemaker.model_archive import ModelArchiveError, pack_model_dir, unpack_model
from saasbridge.local.sagemaker.s3_objects import download_prefix, get_bytes, put_bytes
from saasbridge.local.sagemaker.tracking import Tracked

HOST = "algo-1"
FAILURE_REASON_LIMIT = 1024
DEFAULT_MAX_RUNTIME = 86400
TERMINATE_GRACE_SECONDS = 5.0
MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: it exceeded MaxRuntimeInSeconds",
}


class TrainingFailed(Exception):
    """The job's FailureReason."""


@dataclass
class TrainingState:
    status: str = "InProgress"
    secondary: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)  # name → (value, epoch seconds)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    stop_requested: bool = False
    algorithm: dict[str, Any] = field(default_factory=dict)  # AlgorithmSpecification as requested
    process: subprocess.Popen | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, secondary: str) -> None:
        """A new secondary status; the previous transition ends now."""
        now = datetime.now(UTC).timestamp()
        with self.lock:
            if self.transitions:
                self.transitions[-1]["EndTime"] = now
            self.secondary = secondary
            self.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": MESSAGES[secondary]})

    def describe_fields(self) -> dict[str, Any]:
        with self.lock:
            ended = self.ended.timestamp() if self.ended else None
            seconds = int(((self.ended or datetime.now(UTC)) - self.started).total_seconds())
            return {
                "TrainingJobStatus": self.status,
                "SecondaryStatus": self.secondary,
                "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
                "FailureReason": self.failure_reason,
                "FinalMetricDataList": [{"MetricName": n, "Value": v, "Timestamp": t}
                                        for n, (v, t) in sorted(self.metrics.items())] or None,  # fmt: skip
                "TrainingStartTime": self.started.timestamp(),
                "TrainingEndTime": ended,
                "LastModifiedTime": ended or datetime.now(UTC).timestamp(),
                "TrainingTimeInSeconds": seconds if ended else None,
                "BillableTimeInSeconds": seconds if ended else None,
                "AlgorithmSpecification": self.algorithm or None,
            }


def decode_hyperparameter(text: str) -> Any:
    """A hyperparameter as the training toolkit reads it: JSON when it parses, else the text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def command_args(hyperparameters: dict[str, Any]) -> list[str]:
    """The toolkit's `--name value` arguments (sorted by name; a mapping as k=v,…)."""
    args: list[str] = []
    for name in sorted(hyperparameters):
        value = hyperparameters[name]
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{name}" if len(name) > 1 else f"-{name}", str(value)]
    return args


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


class TrainingRun:
    """One job's execution in its private `/opt/ml`-shaped folder."""

    def __init__(self, request: dict[str, Any], clients: Any, state: TrainingState):
        self.request, self.clients, self.state = request, clients, state
        self.name = request["TrainingJobName"]
        self.root = Path(tempfile.mkdtemp(prefix=f"saasbridge-training-{self.name[:40]}-"))
        self.log = JobLog(clients.logs, TRAINING_LOG_GROUP, self.name)
        self.last_error_line = ""

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.log.flush()
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self) -> None:
        hps = {k: decode_hyperparameter(v) for k, v in (self.request.get("HyperParameters") or {}).items()}
        program = hps.get("sagemaker_program")
        if not program:
            raise TrainingFailed("ClientError: the stand-in runs script-mode jobs only: set the hyperparameter "
                                 "sagemaker_program (and sagemaker_submit_directory) as the SageMaker SDK does")  # fmt: skip
        self.state.enter("Downloading")
        dirs = self._layout()
        code_dir = self._code(hps, str(program))
        self.state.enter("Training")
        user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        env = self._environment(dirs, user_hps, hps, str(program))
        exit_code = self._execute([sys.executable, str(code_dir / str(program)), *command_args(user_hps)], code_dir, env)
        if exit_code is None:  # stopped: what the model folder holds is uploaded all the same
            self._upload(dirs)
            return
        if exit_code != 0:
            raise TrainingFailed(self._failure_reason(dirs["output"], exit_code))
        self.state.enter("Uploading")
        self._upload(dirs)

    def _layout(self) -> dict[str, Path]:
        root = self.root
        dirs = {name: root / rel for name, rel in {
            "config": "input/config", "data": "input/data", "model": "model", "output": "output",
            "output_data": "output/data", "intermediate": "output/intermediate"}.items()}  # fmt: skip
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        config = dirs["config"]
        (config / "hyperparameters.json").write_text(json.dumps(self.request.get("HyperParameters") or {}))
        (config / "resourceconfig.json").write_text(json.dumps(self.resource_config()))
        channels = {c["ChannelName"]: c for c in self.request.get("InputDataConfig") or []}
        (config / "inputdataconfig.json").write_text(json.dumps({
            name: {k: v for k, v in c.items() if k in ("ContentType", "TrainingInputMode", "S3DistributionType",
                                                        "RecordWrapperType", "CompressionType")}
            for name, c in channels.items()}))  # fmt: skip
        for name, channel in sorted(channels.items()):
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source or source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise TrainingFailed(f"ClientError: channel {name}: the stand-in reads S3DataSource with "
                                     "S3DataType S3Prefix only")  # fmt: skip
            count = download_prefix(self.clients.s3, source["S3Uri"], dirs["data"] / name)
            self.log.write(f"channel {name}: {count} object(s) from {source['S3Uri']}")
        return dirs

    def _code(self, hps: dict[str, Any], program: str) -> Path:
        code_dir = self.root / "code"
        source = hps.get("sagemaker_submit_directory")
        if source:
            try:
                unpack_model(get_bytes(self.clients.s3, str(source)), code_dir, str(source))
            except (ModelArchiveError, LookupError) as exc:
                raise TrainingFailed(f"ClientError: sagemaker_submit_directory: {exc}") from None
        entry = (code_dir / program).resolve()
        if not entry.is_relative_to(code_dir.resolve()) or not entry.is_file():
            raise TrainingFailed(f"ClientError: the entry point {program} is not in the source directory "
                                 f"{source or '(none given)'}")  # fmt: skip
        return code_dir

    def resource_config(self) -> dict[str, Any]:
        instance = (self.request.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large")
        return {"current_host": HOST, "current_instance_type": instance, "current_group_name": "homogeneousCluster",
                "hosts": [HOST], "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                                      "instance_type": instance, "hosts": [HOST]}],
                "network_interface_name": "eth0"}  # fmt: skip

    def _environment(self, dirs: dict[str, Path], user_hps: dict[str, Any], hps: dict[str, Any],
                     program: str) -> dict[str, str]:  # fmt: skip
        channels = sorted(p.name for p in dirs["data"].iterdir())
        resource = self.resource_config()
        sm = {
            "SM_MODEL_DIR": str(dirs["model"]), "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(user_hps), "SM_OUTPUT_DIR": str(dirs["output"]),
            "SM_OUTPUT_DATA_DIR": str(dirs["output_data"]), "SM_OUTPUT_INTERMEDIATE_DIR": str(dirs["intermediate"]),
            "SM_INPUT_DIR": str(self.root / "input"), "SM_INPUT_CONFIG_DIR": str(dirs["config"]),
            "SM_INPUT_DATA_CONFIG": (dirs["config"] / "inputdataconfig.json").read_text(),
            "SM_RESOURCE_CONFIG": json.dumps(resource), "SM_HOSTS": json.dumps([HOST]), "SM_CURRENT_HOST": HOST,
            "SM_CURRENT_INSTANCE_TYPE": resource["current_instance_type"], "SM_NETWORK_INTERFACE_NAME": "eth0",
            "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_NUM_GPUS": "0", "SM_NUM_NEURONS": "0",
            "SM_LOG_LEVEL": str(hps.get("sagemaker_container_log_level", 20)),
            "SM_USER_ENTRY_POINT": program, "SM_MODULE_NAME": program.removesuffix(".py"),
            "SM_MODULE_DIR": str(hps.get("sagemaker_submit_directory", "")),
            "SM_FRAMEWORK_MODULE": "sagemaker_sklearn_container.training:main",
            "SM_USER_ARGS": json.dumps(command_args(user_hps)),
        }  # fmt: skip
        sm.update({f"SM_CHANNEL_{env_name(c)}": str(dirs["data"] / c) for c in channels})
        sm.update({f"SM_HP_{env_name(k)}": v if isinstance(v, str) else json.dumps(v) for k, v in user_hps.items()})
        sm["SM_TRAINING_ENV"] = json.dumps({"job_name": self.name, "hyperparameters": user_hps,
                                            "channel_input_dirs": {c: str(dirs["data"] / c) for c in channels},
                                            "model_dir": str(dirs["model"]), "user_entry_point": program})  # fmt: skip
        env = {**os.environ, **(self.request.get("Environment") or {}), **sm}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root / "code"), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _execute(self, command: list[str], cwd: Path, env: dict[str, str]) -> int | None:
        """Run the entry point; its exit code, or None when it was stopped (StopTrainingJob or runtime)."""
        shown = ["python", Path(command[1]).relative_to(cwd).as_posix(), *command[2:]]
        self.log.write("Invoking script with the following command: " + " ".join(shown))
        limit = int((self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME)
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", start_new_session=True)  # fmt: skip
        self.state.process = process
        readers = [threading.Thread(target=self._read, args=(process.stdout, False), daemon=True),
                   threading.Thread(target=self._read, args=(process.stderr, True), daemon=True)]  # fmt: skip
        for reader in readers:
            reader.start()
        deadline = self.state.started.timestamp() + limit
        while process.poll() is None:
            if self.state.stop_requested or datetime.now(UTC).timestamp() > deadline:
                if not self.state.stop_requested:
                    self.state.stop_requested = True
                    self.state.enter("MaxRuntimeExceeded")
                terminate(process)
                break
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.log.flush()
        for reader in readers:
            reader.join(timeout=5)
        return None if self.state.stop_requested else process.returncode

    def _read(self, stream: Any, is_stderr: bool) -> None:
        definitions = [(d["Name"], re.compile(d["Regex"])) for d in self.state.algorithm.get("MetricDefinitions") or []]
        for line in stream:
            line = line.rstrip("\n")
            self.log.write(line)
            if is_stderr and line.strip():
                self.last_error_line = line.strip()
            for name, regex in definitions:
                match = regex.search(line)
                if match:
                    try:
                        value = float(match.group(1) if regex.groups else match.group(0))
                    except ValueError:
                        continue
                    with self.state.lock:
                        self.state.metrics[name] = (value, datetime.now(UTC).timestamp())

    def _failure_reason(self, output_dir: Path, exit_code: int) -> str:
        failure = output_dir / "failure"
        text = failure.read_text(errors="replace").strip() if failure.is_file() else ""
        if text:
            return text
        last = self.last_error_line or "(nothing on stderr)"
        return f"AlgorithmError: ExecuteUserScriptError: ExitCode {exit_code}: {last}"

    def _upload(self, dirs: dict[str, Path]) -> None:
        base = f"{self.request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}/output"
        put_bytes(self.clients.s3, f"{base}/model.tar.gz", pack_or_empty(dirs["model"]))
        if any(p.is_file() for p in dirs["output_data"].rglob("*")):
            put_bytes(self.clients.s3, f"{base}/output.tar.gz", pack_model_dir(dirs["output_data"]))


def pack_or_empty(directory: Path) -> bytes:
    """`directory` as model.tar.gz; an empty archive when the script saved nothing (SageMaker uploads one too)."""
    try:
        return pack_model_dir(directory)
    except ModelArchiveError:
        import io
        import tarfile

        buffer = io.BytesIO()
        tarfile.open(fileobj=buffer, mode="w:gz").close()
        return buffer.getvalue()


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM to the script's process group, SIGKILL after a grace period (as the container stops)."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=TERMINATE_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class TrainingJobs(Tracked[TrainingState]):
    """Jobs started through the gateway, their states, and the patching of Describe/List answers."""

    def start(self, request: dict[str, Any], clients: Any) -> None:
        state = TrainingState(algorithm=dict(request.get("AlgorithmSpecification") or {}))
        state.enter("Starting")
        self.launch(request["TrainingJobName"], state, lambda: self._run(request, clients, state))

    @staticmethod
    def _run(request: dict[str, Any], clients: Any, state: TrainingState) -> None:
        run = None
        try:
            run = TrainingRun(request, clients, state)
            run.run()
            final = "Stopped" if state.stop_requested else "Completed"
            if state.secondary != "MaxRuntimeExceeded":
                state.enter(final)
            state.status = final
        except TrainingFailed as exc:
            state.failure_reason = str(exc)[:FAILURE_REASON_LIMIT]
            state.enter("Failed")
            state.status = "Failed"
        except Exception as exc:  # any other error fails the job with a reason, as SageMaker reports it
            state.failure_reason = f"InternalServerError: {type(exc).__name__}: {exc}"[:FAILURE_REASON_LIMIT]
            state.enter("Failed")
            state.status = "Failed"
        finally:
            state.ended = datetime.now(UTC)

    def stop(self, name: str) -> Reply | None:
        """StopTrainingJob of a job run here (None: not one of ours): Stopping, then Stopped once
        the script has ended."""
        return stop_job(self.get(name), "Training", name, lambda state: state.enter("Stopping"))

    def describe(self, response: dict[str, Any]) -> dict[str, Any]:
        """A DescribeTrainingJob or ListTrainingJobs answer with the real states of our jobs."""
        def fields(state: TrainingState) -> dict[str, Any]:
            described = state.describe_fields()
            if "TrainingJobSummaries" in response:  # a summary carries only some of them
                keep = ("TrainingJobStatus", "SecondaryStatus", "TrainingEndTime", "LastModifiedTime")
                return {k: described[k] for k in keep}
            return described

        return self.patch(response, "TrainingJobName", "TrainingJobSummaries", fields)

    def stop_all(self) -> None:
        """The stand-in is stopping: end every script still running (as when the instances go away)."""
        for name in list(self._states):
            state = self.get(name)
            if state is not None and state.process is not None and state.process.poll() is None:
                state.stop_requested = True
                terminate(state.process)
        self.wait(timeout=5)
