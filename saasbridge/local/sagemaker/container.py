"""The model server of one hosted model: what SageMaker's scikit-learn framework container runs.

`python -m saasbridge.local.sagemaker.container --model-dir DIR --parent-pid PID` serves, on a
free loopback port (printed as `listening on URL`), `GET /ping` and `POST /invocations` for the
unpacked `model.tar.gz` in DIR. The entry script is `SAGEMAKER_PROGRAM` in
`SAGEMAKER_SUBMIT_DIRECTORY` (default `DIR/code`, as when SageMaker packs the code inside the
model; the stand-in unpacks an s3:// sourcedir.tar.gz and passes its directory); its `model_fn`, `input_fn`, `predict_fn`, `output_fn` (or `transform_fn`) hooks run through
the SageMaker inference toolkit's `Transformer`, which implements that contract. The toolkit
normally runs under Multi Model Server (a Java server); this module stands in for that server's
small part the toolkit uses (the request context), so no JVM is needed.

Defaults when a hook is absent are the scikit-learn container's: `input_fn` decodes text/csv,
application/json and application/x-npy to a numpy array (float32 for the text types),
`predict_fn` is `model.predict`, `output_fn` encodes to the Accept type; there is no default
`model_fn`.

Trust: `model_fn` typically unpickles (joblib) the model, which runs code. The stand-in only
starts this server for archives the user deployed into their own local S3 stand-in, as the real
container only loads the archive its owner configured.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from saasbridge.local.parent_watchdog import exit_with_parent

READY_PREFIX = "listening on "


def sklearn_container_defaults() -> Any:
    """The scikit-learn container's default hooks, on the inference toolkit's default handler."""
    from sagemaker_inference import content_types, decoder, errors
    from sagemaker_inference.default_inference_handler import DefaultInferenceHandler

    def unsupported(exc: Exception) -> Exception:
        """The container answers an unsupported content type or accept with HTTP 415 (a client error)."""
        return errors.GenericInferenceToolkitError(415, str(exc), "Unsupported Media Type")

    class SklearnDefaults(DefaultInferenceHandler):
        def default_input_fn(self, input_data, content_type, context=None):
            try:
                array = decoder.decode(input_data, content_type)
            except errors.UnsupportedFormatError as exc:
                raise unsupported(exc) from None
            return array.astype(np.float32) if content_type in content_types.UTF8_TYPES else array

        def default_output_fn(self, prediction, accept, context=None):
            try:
                return super().default_output_fn(prediction, accept, context)
            except errors.UnsupportedFormatError as exc:
                raise unsupported(exc) from None

        def default_predict_fn(self, data, model, context=None):
            return model.predict(data)

    return SklearnDefaults()


class RequestContext:
    """The part of Multi Model Server's request context the toolkit's Transformer reads and sets."""

    def __init__(self, model_dir: str, headers: dict[str, str]):
        self.system_properties = {"model_dir": model_dir}
        self.request_processor = [self]
        self._headers = headers
        self.status = 200
        self.phrase = "OK"
        self.content_type: str | None = None

    def get_request_properties(self) -> dict[str, str]:
        return self._headers

    def set_response_status(self, code: int = 200, phrase: str = "") -> None:
        self.status, self.phrase = int(code), phrase

    def set_response_content_type(self, _index: int, content_type: str) -> None:
        self.content_type = content_type

    def get_request_header(self, _index: int, name: str) -> str | None:
        return self._headers.get(name)


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model_dir: str, port: int = 0):
        from sagemaker_inference.transformer import Transformer

        self.model_dir = model_dir
        self.transformer = Transformer(default_inference_handler=sklearn_container_defaults())
        # load the model before answering /ping, as the container does before it reports healthy
        self.transformer.validate_and_initialize(model_dir=model_dir)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        if self.path == "/ping":
            return self._reply(200, b"", "text/plain")
        self._reply(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?")[0] != "/invocations":
            return self._reply(404, b"not found", "text/plain")
        headers = {k: v for k, v in self.headers.items()}
        headers.setdefault("Content-Type", "application/json")
        context = RequestContext(self.server.model_dir, headers)
        [result] = self.server.transformer.transform([{"body": body}], context)
        if isinstance(result, str):
            result = result.encode()
        elif not isinstance(result, bytes | bytearray):
            result = bytes(result)
        self._reply(context.status, bytes(result), context.content_type or "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve one unpacked model.tar.gz like a SageMaker container")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        exit_with_parent(args.parent_pid)
    model_dir = str(Path(args.model_dir).resolve())
    code_dir = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if code_dir in ("", "/opt/ml/model/code"):
        code_dir = os.path.join(model_dir, "code")  # the code packed inside the model, where SageMaker unpacks it
    os.environ.setdefault("SAGEMAKER_PROGRAM", "inference.py")
    sys.path.insert(0, code_dir)
    server = ModelServer(model_dir)
    print(f"{READY_PREFIX}http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
