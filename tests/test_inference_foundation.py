"""Units of foundation-model scoring: prompts, parameters, the answers of text-generation and
embedding containers, a response stream cut anywhere, and the run ledger behind resume."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasbridge.errors import ConfigError
from saasbridge.local.sagemaker import text_model
from saasbridge.sagemaker.inference.base import BatchFailed
from saasbridge.sagemaker.inference.foundation import (
    TextInput,
    embeddings,
    generated_texts,
    parse_parameters,
    prompt_columns,
    streamed_text,
)
from saasbridge.sagemaker.inference.ledger import DONE, NEW, REPEATED, Ledger


def test_prompt_renders_any_columns_with_missing_values_empty():
    text = TextInput("text-generation", prompt="Summarize: {subject} for {account_id} {{literal}} {subject}")
    assert text.columns == ("subject", "account_id")
    assert text.text({"subject": "Renewal", "account_id": None}) == "Summarize: Renewal for  {literal} Renewal"
    assert text.text({"subject": Decimal("1.50"), "account_id": True}) == "Summarize: 1.50 for true {literal} 1.50"
    with pytest.raises(ConfigError, match="no text to send: subject, account_id missing"):
        text.text({"subject": None, "account_id": None})
    assert json.loads(text.encode({"subject": "naïve \n line", "account_id": 1})) == "Summarize: naïve \n line for 1 {literal} naïve \n line"


@pytest.mark.parametrize("template, message", [
    ("no placeholders", "names no column"), ("{a:>5}", "not a column placeholder"), ("{a!r}", "not a column placeholder"),
    ("{0}", "not a column placeholder"), ("{a", "literal braces"), ("{a.b}", "not a column placeholder"),
])  # fmt: skip
def test_malformed_prompts_say_how_to_fix(template, message):
    with pytest.raises(ConfigError, match=message):
        prompt_columns(template)


def test_parameters_are_json_when_they_are_json():
    assert parse_parameters(["max_new_tokens=64", "temperature=0.2", 'stop=["\\n"]', "do_sample=true", "mode=fast",
                             "empty="]) == {  # fmt: skip
        "max_new_tokens": 64, "temperature": 0.2, "stop": ["\n"], "do_sample": True, "mode": "fast", "empty": ""}
    with pytest.raises(ConfigError, match="write name=value"):
        parse_parameters(["max_new_tokens"])


@pytest.mark.parametrize("body, expected", [
    ([{"generated_text": "a"}], ["a"]), ({"generated_text": "a"}, ["a"]), ([[{"generated_text": "a"}]], ["a"]),
    ({"generated_texts": ["a"]}, ["a"]),
])  # fmt: skip
def test_generated_text_shapes(body, expected):
    assert generated_texts(json.dumps(body).encode(), 1) == expected


def test_generated_texts_one_per_prompt_or_the_batch_fails():
    assert generated_texts(json.dumps([[{"generated_text": "a"}], [{"generated_text": "b"}]]).encode(), 2) == ["a", "b"]
    for body in (b"nope", b'[{"text": "a"}]', json.dumps([{"generated_text": "a"}]).encode()):
        with pytest.raises(BatchFailed, match="unreadable model answer"):
            generated_texts(body, 2 if body.startswith(b'[{"generated_text"') else 1)


def test_embedding_shapes():
    assert embeddings(b'{"embedding": [[1, 0.5], [0, -1]]}', 2) == [[1.0, 0.5], [0.0, -1.0]]
    assert embeddings(b'{"embedding": [0.25, 1]}', 1) == [[0.25, 1.0]]
    assert embeddings(b"[[0.25]]", 1) == [[0.25]]
    for body, n in ((b'{"embedding": [[1]]}', 2), (b'{"embedding": [["x"]]}', 1), (b'{"embedding": [[]]}', 1)):
        with pytest.raises(BatchFailed, match="unreadable model answer"):
            embeddings(body, n)


@given(st.text(max_size=200), st.integers(1, 60), st.lists(st.integers(1, 400), max_size=30))
def test_a_stream_cut_anywhere_reassembles_to_the_models_text(prompt, max_new_tokens, cuts):
    """The stand-in model's server-sent events, split at arbitrary byte offsets (a part may end
    inside an event or a line), give back exactly `generate`'s text."""
    parameters = {"max_new_tokens": max_new_tokens}
    model = text_model.TextModel("text-generation", context_tokens=10_000)
    whole = b"".join(model.events(prompt, parameters))
    offsets = sorted({c % (len(whole) + 1) for c in cuts})
    parts = [whole[a:b] for a, b in zip([0, *offsets], [*offsets, len(whole)], strict=True)]
    assert streamed_text(parts) == text_model.generate(prompt, parameters)


def test_a_stream_without_the_final_text_joins_its_tokens():
    parts = [b'data:{"token": {"text": "Hel"}}\n\ndata:{"token": {"text": "lo", "special": false}}\n', b"\n",
             b'data:{"token": {"text": "</s>", "special": true}}\n\n']  # fmt: skip
    assert streamed_text(parts) == "Hello"
    with pytest.raises(BatchFailed, match="unreadable model stream"):
        streamed_text([b"data:{oops}\n\n"])


def test_ledger_resumes_only_written_rows(tmp_path):
    path = str(tmp_path / "run.ckpt")
    run = {"entity": "contacts", "model": "m"}
    first = Ledger(path, run)
    assert [first.see(r) for r in ("a", "b", "c", "a")] == [NEW, NEW, NEW, REPEATED]
    first.written(["a", "c"])
    first.close()
    second = Ledger(path, run)
    assert [second.see(r) for r in ("a", "b", "c", "d", "a")] == [DONE, NEW, DONE, NEW, REPEATED]
    assert second.resumed == 2
    second.close()
    with pytest.raises(ConfigError, match="belongs to another run"):
        Ledger(path, {**run, "model": "other"})
    (tmp_path / "junk").write_text("not sqlite, not at all" * 100)
    with pytest.raises(ConfigError, match="not a checkpoint file"):
        Ledger(str(tmp_path / "junk"), run)


def test_temporary_ledger_leaves_nothing(tmp_path):
    ledger = Ledger(None, {})
    assert ledger.see("x") == NEW and ledger.see("x") == REPEATED
    ledger.close()
    import os

    assert not any(os.path.exists(ledger.path + s) for s in ("", "-wal", "-shm"))
