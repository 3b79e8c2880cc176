"""Foundation models (SageMaker JumpStart, Hugging Face containers): a text per row, rendered
from a prompt template over any columns or read from one text column, sent under the
text-generation contract (`{"inputs": "…", "parameters": {…}}` → `[{"generated_text": "…"}]`,
one prompt per request as TGI takes them; `--stream` reads InvokeEndpointWithResponseStream's
server-sent events) or the text-embedding contract (`{"text_inputs": [...]}` → `{"embedding":
[[...], ...]}`, many texts per request). The model's limits are its own: an input over its context
window fails that row with the model's first line, the run goes on."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from saasbridge.errors import ConfigError, aws_error_line
from saasbridge.sagemaker.inference.base import BatchFailed, Scorer, call_failure
from saasbridge.sagemaker.inference.endpoint import EndpointInfo, runtime_client
from saasbridge.sagemaker.inference.payload import JSON, JSON_LINES, Batch, Prediction

TEXT_GENERATION = "text-generation"
EMBEDDING = "embedding"
TASKS = (TEXT_GENERATION, EMBEDDING)
DEFAULT_EMBEDDING_ROWS = 32  # texts per embedding request


@dataclass(frozen=True)
class TextInput:
    """Where each row's text comes from: a prompt template (`{column}` placeholders, `{{`/`}}` for
    braces) or one text column. A missing value renders as an empty string; a row whose every
    column is missing has no text and fails rather than being sent."""

    task: str
    prompt: str | None = None
    text_column: str | None = None
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"--task {self.task}: use one of {', '.join(TASKS)}")
        if bool(self.prompt) == bool(self.text_column):
            raise ConfigError(f"--task {self.task}: give either --prompt TEMPLATE or --text-column COLUMN")
        object.__setattr__(self, "columns", prompt_columns(self.prompt) if self.prompt else (self.text_column,))

    def output_field(self) -> str:
        """The prediction field this task fills."""
        return "text" if self.task == TEXT_GENERATION else "embedding"

    def text(self, row: Mapping[str, Any]) -> str:
        """The row's text; ConfigError when every column it uses is missing."""
        if all(row.get(c) is None for c in self.columns):
            raise ConfigError(f"no text to send: {', '.join(self.columns)} missing")
        if self.text_column:
            return _text(row[self.text_column])
        return self.prompt.format_map({c: _text(row.get(c)) for c in self.columns})  # type: ignore[union-attr]

    def encode(self, row: Mapping[str, Any]) -> bytes:
        """The row's text as one JSON Lines line (what a batch body holds until the scorer wraps it)."""
        return json.dumps(self.text(row), ensure_ascii=False).encode() + b"\n"


def prompt_columns(template: str) -> tuple[str, ...]:
    """The columns a prompt template names, in first-use order; ConfigError for a malformed one."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"--prompt: {exc}; write literal braces as {{{{ and }}}}") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ConfigError(f"--prompt: {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                              "is not a column placeholder; write {column_name}")  # fmt: skip
        names.append(name)
    if not names:
        raise ConfigError("--prompt names no column: put {column} placeholders in it, e.g. \"Summarize: {subject}\"")
    return tuple(dict.fromkeys(names))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def parse_parameters(items: Iterable[str]) -> dict[str, Any]:
    """`--parameters k=v` → the request's "parameters": a value is read as JSON when it is JSON
    (numbers, true/false, lists like ["\\n"]), else taken as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--parameters {item!r}: write name=value, e.g. max_new_tokens=64")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


# ---------------------------------------------------------------- answers


def generated_texts(body: bytes, expected: int) -> list[str]:
    """The generated texts of a text-generation answer: `[{"generated_text": …}]` (TGI, JumpStart),
    a bare object, one list per input, or `{"generated_texts": [...]}` (older JumpStart models)."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BatchFailed("unreadable model answer: not JSON") from None
    if isinstance(value, dict) and isinstance(value.get("generated_texts"), list):
        value = value["generated_texts"]
    items = value if isinstance(value, list) else [value]
    if expected == 1 and len(items) == 1 and isinstance(items[0], list):
        items = items[0][:1]
    elif len(items) == expected and all(isinstance(i, list) and i for i in items):
        items = [i[0] for i in items]
    if len(items) != expected:
        raise BatchFailed(f"unreadable model answer: {len(items)} generations for {expected} prompts")
    texts = [i.get("generated_text") if isinstance(i, dict) else i for i in items]
    if not all(isinstance(t, str) for t in texts):
        raise BatchFailed('unreadable model answer: no "generated_text" string')
    return texts  # type: ignore[return-value]


def embeddings(body: bytes, expected: int) -> list[list[float]]:
    """The vectors of an embedding answer: `{"embedding": [[…], …]}` (JumpStart), a single vector
    for a single text, `{"embeddings": …}`, or a bare list of vectors."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BatchFailed("unreadable model answer: not JSON") from None
    if isinstance(value, dict):
        value = value.get("embedding", value.get("embeddings"))
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        value = [value]
    if not isinstance(value, list) or len(value) != expected:
        got = len(value) if isinstance(value, list) else 0
        raise BatchFailed(f"unreadable model answer: {got} embeddings for {expected} texts")
    for vector in value:
        if not isinstance(vector, list) or not vector or not all(_is_number(v) for v in vector):
            raise BatchFailed("unreadable model answer: an embedding that is not a list of numbers")
    return [[float(v) for v in vector] for vector in value]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def streamed_text(parts: Iterable[bytes]) -> str:
    """The text of a streamed generation from its payload parts (which may split an event anywhere):
    server-sent events or JSON lines, each with `token.text`; the last may carry the whole
    `generated_text`, which then wins."""
    buffer, tokens, whole = b"", [], None
    for part in [*parts, b"\n"]:
        buffer += part
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line = line.strip()
            if line.startswith(b"data:"):
                line = line[5:].strip()
            if not line or line.startswith((b":", b"event:", b"id:")):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise BatchFailed(f"unreadable model stream: {line[:80]!r}") from None
            token = (event.get("token") or {}).get("text") if isinstance(event, dict) else None
            if isinstance(token, str) and not (event.get("token") or {}).get("special"):
                tokens.append(token)
            if isinstance(event, dict) and isinstance(event.get("generated_text"), str):
                whole = event["generated_text"]
    return whole if whole is not None else "".join(tokens)


# ---------------------------------------------------------------- the scorer


class FoundationScorer(Scorer):
    """A real-time endpoint serving a JumpStart / Hugging Face text-generation or embedding model."""

    mode = "realtime"
    content_type = JSON_LINES  # what a batch body holds: one JSON string per row

    def __init__(self, session: Any, info: EndpointInfo, task: str, *, parameters: dict[str, Any] | None = None,
                 stream: bool = False, concurrency: int = 4):  # fmt: skip
        super().__init__()
        if stream and task != TEXT_GENERATION:
            raise ConfigError("--stream reads a text generation as it is produced; drop it for --task embedding")
        self.endpoint, self.model, self.task = info.endpoint, info.model, task
        self.parameters, self.stream, self.concurrency = dict(parameters or {}), stream, concurrency
        self.max_rows = 1 if task == TEXT_GENERATION else DEFAULT_EMBEDDING_ROWS
        self._client = runtime_client(session, concurrency=concurrency)

    def request(self, texts: list[str]) -> bytes:
        """The request body for these texts."""
        if self.task == EMBEDDING:
            return json.dumps({"text_inputs": texts}, ensure_ascii=False).encode()
        request: dict[str, Any] = {"inputs": texts[0] if len(texts) == 1 else texts}
        if self.parameters:
            request["parameters"] = self.parameters
        if self.stream:
            request["stream"] = True
        return json.dumps(request, ensure_ascii=False).encode()

    def score(self, batch: Batch) -> list[Prediction]:
        from botocore.exceptions import BotoCoreError, ClientError

        texts = [json.loads(line) for line in batch.body.splitlines()]
        call = self._client.invoke_endpoint_with_response_stream if self.stream else self._client.invoke_endpoint
        try:
            answer = call(EndpointName=self.endpoint, Body=self.request(texts), ContentType=JSON, Accept=JSON)
            self.count_retries(answer.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            if self.stream:
                generated = [streamed_text(e["PayloadPart"]["Bytes"] for e in answer["Body"] if "PayloadPart" in e)]
            else:
                body = answer["Body"].read()
        except ClientError as exc:  # an event-stream error (ModelStreamError) is a ClientError too
            self.count_retries(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            raise BatchFailed(call_failure(exc, self.endpoint)) from None
        except BotoCoreError as exc:
            raise BatchFailed(f"InvokeEndpoint failed: {aws_error_line(exc)}") from None
        if self.task == EMBEDDING:
            return [Prediction(None, vector=v) for v in embeddings(body, len(texts))]
        if not self.stream:
            generated = generated_texts(body, len(texts))
        return [Prediction(None, text=t) for t in generated]
