"""A small deterministic text model the stand-in serves behind the request and response contracts
of SageMaker JumpStart / Hugging Face containers, so foundation-model scoring is tested without
downloaded weights:

- text generation (Hugging Face TGI, JumpStart LLMs): `{"inputs": "…", "parameters": {…}}` →
  `[{"generated_text": "…"}]`; with `"stream": true`, server-sent events `data:{"token": {"text":
  …}, "generated_text": null}` per token and the full text on the last one (what
  InvokeEndpointWithResponseStream relays); an input over the context window is a 400 with TGI's
  message;
- text embedding (JumpStart embedding models): `{"text_inputs": ["…", …]}` → `{"embedding":
  [[…], …]}` (a single string gives one vector);
- `text/csv` (what Athena ML sends): one input per line (its first cell), one output per line.

`generate` is extractive: the prompt's longest distinct words, in the order they appear, at most
`max_new_tokens` of them (sampling with `temperature`/`do_sample` reorders them by `seed`). `embed`
is a hashing embedder: each lower-cased word adds ±1 to one of `dim` slots; the vector is scaled
to unit length. `write_model_dir(dir, task)` makes a model directory whose `code/inference.py`
serves it, deployable like any other model (`sdk_deploy.upload_model` / `deploy_endpoint`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASKS = ("text-generation", "embedding")
DEFAULT_MAX_NEW_TOKENS = 20
DEFAULT_CONTEXT_TOKENS = 1024
DEFAULT_DIM = 16
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """The model's tokens: words and single punctuation marks."""
    return _TOKEN.findall(text)


def generated_tokens(prompt: str, parameters: dict[str, Any] | None = None) -> list[str]:
    """The generated tokens, each as streamed (every one after the first with its leading space)."""
    p = parameters or {}
    limit = int(p.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
    words: dict[str, int] = {}
    for position, word in enumerate(_WORD.findall(prompt)):
        words.setdefault(word, position)
    ranked = sorted(words, key=lambda w: (-len(w), words[w]))
    if p.get("do_sample") or float(p.get("temperature") or 0) > 0:
        random.Random(f"{p.get('seed', 0)}:{prompt}").shuffle(ranked)
    chosen = sorted(ranked[: max(0, limit)], key=lambda w: words[w])
    return [w if i == 0 else " " + w for i, w in enumerate(chosen)]


def generate(prompt: str, parameters: dict[str, Any] | None = None) -> str:
    """The text generated for `prompt` (cut before the first of `parameters["stop"]`)."""
    p = parameters or {}
    text = "".join(generated_tokens(prompt, p))
    stops = p.get("stop") or []
    for stop in [stops] if isinstance(stops, str) else stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return (prompt + text) if p.get("return_full_text") else text


def embed(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    """The unit-length hashing embedding of `text` (all zeros for a text without words)."""
    vector = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big")
        vector[digest % dim] += 1.0 if digest & (1 << 63) else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


class InputTooLong(ValueError):
    """The input does not fit the model's context window."""


@dataclass(frozen=True)
class TextModel:
    task: str
    dim: int = DEFAULT_DIM
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    def check(self, prompt: str, parameters: dict[str, Any]) -> None:
        """TGI's rule: input tokens + max_new_tokens within the context window."""
        used, new = len(tokenize(prompt)), int(parameters.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        if used + new > self.context_tokens:
            raise InputTooLong(
                f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {self.context_tokens}. "
                f"Given: {used} `inputs` tokens and {new} `max_new_tokens`"
            )

    def answer(self, body: str, content_type: str) -> tuple[bytes, str]:
        """(response body, its content type) for one request."""
        if content_type.split(";")[0].strip() == "text/csv":
            return self._csv(body)
        request = json.loads(body)
        if self.task == "embedding":
            texts = request.get("text_inputs", request.get("inputs"))
            if isinstance(texts, str):
                return json.dumps({"embedding": embed(texts, self.dim)}).encode(), "application/json"
            return json.dumps({"embedding": [embed(t, self.dim) for t in texts]}).encode(), "application/json"
        inputs, parameters = request["inputs"], request.get("parameters") or {}
        if request.get("stream"):
            self.check(inputs, parameters)
            return b"".join(self.events(inputs, parameters)), "text/event-stream"
        if isinstance(inputs, list):
            for prompt in inputs:
                self.check(prompt, parameters)
            return json.dumps([[{"generated_text": generate(t, parameters)}] for t in inputs]).encode(), "application/json"
        self.check(inputs, parameters)
        return json.dumps([{"generated_text": generate(inputs, parameters)}]).encode(), "application/json"

    def events(self, prompt: str, parameters: dict[str, Any]) -> Iterator[bytes]:
        """TGI's server-sent events for a streamed generation."""
        tokens = generated_tokens(prompt, parameters)
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            event = {"index": i, "token": {"id": i, "text": token, "logprob": 0.0, "special": False},
                     "generated_text": generate(prompt, parameters) if last else None, "details": None}  # fmt: skip
            yield b"data:" + json.dumps(event).encode() + b"\n\n"

    def _csv(self, body: str) -> tuple[bytes, str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for cells in csv.reader(io.StringIO(body)):
            text = cells[0] if cells else ""
            if self.task == "embedding":
                writer.writerow(embed(text, self.dim))
            else:
                self.check(text, {})
                writer.writerow([generate(text)])
        return out.getvalue().encode(), "text/csv"


MODEL_FILE = "text_model.json"
INFERENCE_SCRIPT = '''"""Serves saasbridge's deterministic text model (saasbridge.local.sagemaker.text_model)."""
from saasbridge.local.sagemaker.text_model import model_fn, transform_fn  # noqa: F401
'''


def write_model_dir(directory: str | Path, task: str, *, dim: int = DEFAULT_DIM,
                    context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> Path:  # fmt: skip
    """A model directory (`text_model.json`, `code/inference.py`) serving the text model for `task`."""
    if task not in TASKS:
        raise ValueError(f"task {task!r}: use one of {', '.join(TASKS)}")
    root = Path(directory)
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / MODEL_FILE).write_text(json.dumps({"task": task, "dim": dim, "context_tokens": context_tokens}))
    (root / "code" / "inference.py").write_text(INFERENCE_SCRIPT)
    return root


# ---------------------------------------------------------------- the inference toolkit's hooks


def model_fn(model_dir: str) -> TextModel:
    return TextModel(**json.loads((Path(model_dir) / MODEL_FILE).read_text()))


def transform_fn(model: TextModel, data: Any, content_type: str, accept: str) -> tuple[bytes, str]:
    from sagemaker_inference.errors import GenericInferenceToolkitError

    body = data.decode() if isinstance(data, bytes | bytearray) else str(data)
    try:
        return model.answer(body, content_type or "application/json")
    except InputTooLong as exc:
        raise GenericInferenceToolkitError(400, str(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a malformed request: the client's error
        raise GenericInferenceToolkitError(400, f"cannot read the request: {type(exc).__name__}: {exc}") from None
