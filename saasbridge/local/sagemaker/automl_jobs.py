"""AutoML (Autopilot) jobs run for real: CreateAutoMLJobV2 with a TabularJobConfig against the stand-in
runs `automl_search` on the job's CSV (or Parquet) channels; DescribeAutoMLJobV2, DescribeAutoMLJob
and ListAutoMLJobs report what happened, ListCandidatesForAutoMLJob lists the candidates, and
StopAutoMLJob ends the search before its next candidate.

Every candidate is refitted on all rows and packed as a model.tar.gz (`model.joblib` and
`code/automl_inference.py`) at `<S3OutputPath>/<job>/tuning/<candidate>/output/model.tar.gz`; its
InferenceContainers are one scikit-learn container serving that archive, so CreateModel with them
gives a model the stand-in's endpoints and transform jobs serve (text/csv rows of the features, in
the data's column order, without target and header).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasbridge.local.sagemaker import automl_inference
from saasbridge.local.sagemaker.automl_search import SearchError
from saasbridge.local.sagemaker.invocations import Reply, control_plane_answer, stop_job
from saasbridge.local.sagemaker.model_archive import pack_model_dir
from saasbridge.local.sagemaker.s3_objects import get_bytes, object_keys, put_bytes
from saasbridge.local.sagemaker.sdk_deploy import SKLEARN_IMAGE
from saasbridge.local.sagemaker.tracking import Tracked
from saasbridge.s3url import parse_s3_url

FAILURE_REASON_LIMIT = 1024
PARQUET = "x-application/vnd.amazon+parquet"
INFERENCE_PROGRAM = "automl_inference.py"


@dataclass
class AutoMLState:
    status: str = "InProgress"
    secondary: str = "Starting"
    failure_reason: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    resolved: dict[str, Any] | None = None
    stop_requested: bool = False
    ended: datetime | None = None
    request: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe_fields(self, summary: bool) -> dict[str, Any]:
        with self.lock:
            ended = self.ended.timestamp() if self.ended else None
            fields = {"AutoMLJobStatus": self.status, "AutoMLJobSecondaryStatus": self.secondary,
                      "FailureReason": self.failure_reason, "PartialFailureReasons": None, "EndTime": ended,
                      "LastModifiedTime": ended or datetime.now(UTC).timestamp()}  # fmt: skip
            if not summary:
                objective = self.request.get("AutoMLJobObjective") or (self.resolved or {}).get("AutoMLJobObjective")
                fields.update(BestCandidate=self.best, ResolvedAttributes=self.resolved, AutoMLJobObjective=objective,
                              AutoMLProblemTypeConfig=self.request.get("AutoMLProblemTypeConfig"),
                              ModelDeployConfig=self.request.get("ModelDeployConfig"),
                              ModelDeployResult=None, AutoMLJobArtifacts=None)  # moto's placeholders: nothing of the kind is made  # fmt: skip
            return fields


def read_channel(s3: Any, channel: dict[str, Any]) -> Any:
    """Every object of one AutoMLJobChannel as one pandas data frame (CSV with a header row, or Parquet)."""
    import pandas as pd

    source = channel["DataSource"]["S3DataSource"]
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise SearchError("ClientError: the stand-in reads S3DataType S3Prefix only")
    content_type = (channel.get("ContentType") or "text/csv;header=present").lower()
    bucket = parse_s3_url(source["S3Uri"], "S3Uri").bucket
    frames = []
    for key in object_keys(s3, source["S3Uri"]):
        body = get_bytes(s3, f"s3://{bucket}/{key}")
        if channel.get("CompressionType") == "Gzip":
            body = gzip.decompress(body)
        frames.append(pd.read_parquet(io.BytesIO(body)) if content_type.startswith(PARQUET)
                      else pd.read_csv(io.BytesIO(body)))  # fmt: skip
    if not frames:
        raise SearchError(f"ClientError: no objects under {source['S3Uri']}")
    return pd.concat(frames, ignore_index=True)


class AutoMLRun:
    def __init__(self, request: dict[str, Any], clients: Any, state: AutoMLState):
        self.request, self.clients, self.state = request, clients, state
        self.name = request["AutoMLJobName"]
        config = (request.get("AutoMLProblemTypeConfig") or {}).get("TabularJobConfig")
        if config is None:
            raise SearchError("ClientError: the stand-in runs tabular jobs only (TabularJobConfig)")
        self.config = config
        self.output = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}"

    def run(self) -> None:
        import pandas as pd

        from saasbridge.local.sagemaker.automl_search import SearchResult, grid, search

        self.state.secondary = "AnalyzingData"
        data = pd.concat([read_channel(self.clients.s3, c) for c in self.request["AutoMLJobInputDataConfig"]],
                         ignore_index=True)  # fmt: skip
        criteria = self.config.get("CompletionCriteria") or {}
        max_candidates = criteria.get("MaxCandidates")
        objective = (self.request.get("AutoMLJobObjective") or {}).get("MetricName")
        steps = search(data, self.config["TargetAttributeName"], job_name=self.name,
                       problem_type=self.config.get("ProblemType"), objective=objective,
                       max_candidates=max_candidates, stop=lambda: self.state.stop_requested)  # fmt: skip
        self.state.secondary = "TrainingModels"
        result: SearchResult | None = None
        for result, candidate in steps:
            if self.state.resolved is None:
                self.state.resolved = {
                    "AutoMLJobObjective": {"MetricName": result.objective},
                    "CompletionCriteria": {"MaxCandidates": max_candidates or len(grid(result.problem_type))},
                    "AutoMLProblemTypeResolvedAttributes": {"TabularResolvedAttributes": {"ProblemType": result.problem_type}},
                }  # fmt: skip
            entry = self._publish(result, candidate, data)
            with self.state.lock:
                self.state.candidates.append(entry)
                best = result.best
                self.state.best = next((c for c in self.state.candidates if best and c["CandidateName"] == best.name),
                                       None)  # fmt: skip
        if result is None and not self.state.stop_requested:
            raise SearchError("ClientError: no candidate could be trained")
        limited = bool(max_candidates) and result is not None and max_candidates < len(grid(result.problem_type))
        self.state.secondary = "MaxCandidatesReached" if limited else "Completed"

    def _publish(self, result: Any, candidate: Any, data: Any) -> dict[str, Any]:
        """Pack and upload the candidate's model (`result`: the search so far); its AutoMLCandidate description."""
        import joblib
        import pandas as pd

        target = self.config["TargetAttributeName"]
        features = [(str(c), "number" if pd.api.types.is_numeric_dtype(data[c]) else "text")
                    for c in data.columns if c != target]  # fmt: skip
        folder = Path(tempfile.mkdtemp(prefix="saasbridge-automl-"))
        try:
            joblib.dump({"pipeline": candidate.model, "features": features, "problem_type": result.problem_type,
                         "classes": result.classes}, folder / automl_inference.MODEL_FILE)  # fmt: skip
            (folder / "code").mkdir()
            shutil.copyfile(automl_inference.__file__, folder / "code" / INFERENCE_PROGRAM)
            url = f"{self.output}/tuning/{candidate.name}/output/model.tar.gz"
            put_bytes(self.clients.s3, url, pack_model_dir(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        now = datetime.now(UTC).timestamp()
        metric = {"MetricName": result.objective, "Value": candidate.objective_value,
                  "StandardMetricName": result.objective}  # fmt: skip
        return {
            "CandidateName": candidate.name,
            "FinalAutoMLJobObjectiveMetric": {"Type": "Maximize" if result.maximize else "Minimize", **metric},
            "ObjectiveStatus": "Succeeded", "CandidateStatus": "Completed", "CandidateSteps": [],
            "InferenceContainers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": url, "Environment": {
                "SAGEMAKER_PROGRAM": INFERENCE_PROGRAM, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}}],
            "CandidateProperties": {"CandidateMetrics": [{**metric, "Set": "Validation"}]},
            "CreationTime": now, "EndTime": now, "LastModifiedTime": now,
        }  # fmt: skip


class AutoMLJobs(Tracked[AutoMLState]):
    @staticmethod
    def for_moto(body: bytes) -> bytes:
        """CreateAutoMLJobV2 as moto takes it: moto needs a ProblemType, which Autopilot infers when
        absent, and CompletionCriteria; the placeholders never show (Describe answers with the
        request's configuration)."""
        request = json.loads(body)
        tabular = (request.get("AutoMLProblemTypeConfig") or {}).get("TabularJobConfig")
        if tabular is None or (tabular.get("ProblemType") and "CompletionCriteria" in tabular):
            return body
        tabular.setdefault("CompletionCriteria", {})
        if not tabular.get("ProblemType"):
            tabular["ProblemType"] = "Regression"
            request.setdefault("AutoMLJobObjective", {"MetricName": "MSE"})
        return json.dumps(request).encode()

    def start(self, request: dict[str, Any], clients: Any) -> None:
        state = AutoMLState(request=request)
        self.launch(request["AutoMLJobName"], state, lambda: self._run(request, clients, state))

    @staticmethod
    def _run(request: dict[str, Any], clients: Any, state: AutoMLState) -> None:
        try:
            AutoMLRun(request, clients, state).run()
            state.status = "Stopped" if state.stop_requested else "Completed"
            if state.stop_requested:
                state.secondary = "Stopped"
        except SearchError as exc:
            state.status, state.secondary, state.failure_reason = "Failed", "Failed", str(exc)[:FAILURE_REASON_LIMIT]
        except Exception as exc:  # any other error fails the job with a reason, as SageMaker reports it
            state.status, state.secondary = "Failed", "Failed"
            state.failure_reason = f"InternalServerError: {type(exc).__name__}: {exc}"[:FAILURE_REASON_LIMIT]
        finally:
            state.ended = datetime.now(UTC)

    def stop(self, name: str) -> Reply | None:
        """StopAutoMLJob of a job run here: Stopping, then Stopped before its next candidate."""
        return stop_job(self.get(name), "AutoML", name, lambda state: setattr(state, "secondary", "Stopping"))

    def describe(self, response: dict[str, Any]) -> dict[str, Any]:
        """DescribeAutoMLJobV2 / DescribeAutoMLJob / ListAutoMLJobs with the real states of our jobs."""
        summaries = "AutoMLJobSummaries" in response
        return self.patch(response, "AutoMLJobName", "AutoMLJobSummaries", lambda s: s.describe_fields(summaries))

    def list_candidates(self, request: dict[str, Any]) -> Reply | None:
        """ListCandidatesForAutoMLJob (moto has none) for a job run here; None: not one of ours."""
        state = self.get(request.get("AutoMLJobName", ""))
        if state is None:
            return None
        with state.lock:
            found = [c for c in state.candidates
                     if request.get("StatusEquals") in (None, c["CandidateStatus"])
                     and request.get("CandidateNameEquals") in (None, c["CandidateName"])]  # fmt: skip
        by = request.get("SortBy", "CreationTime")
        if by == "FinalObjectiveMetricValue":
            found.sort(key=lambda c: c["FinalAutoMLJobObjectiveMetric"]["Value"])
        elif by == "Status":
            found.sort(key=lambda c: c["CandidateStatus"])
        if request.get("SortOrder") == "Descending":
            found.reverse()
        start = int(request.get("NextToken") or 0)
        size = int(request.get("MaxResults") or 10)
        body: dict[str, Any] = {"Candidates": found[start : start + size]}
        if start + size < len(found):
            body["NextToken"] = str(start + size)
        return control_plane_answer(body)
