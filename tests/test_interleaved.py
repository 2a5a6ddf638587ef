"""The interleaved dataset on the bundled sample and the message adapter of the OpenAI backend."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from support import SAMPLE, code_record, write_records

from evalkit.datasets.interleaved import InterleavedDataset, InterleavedOptions, iter_json_objects
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.models.openai_messages import to_openai_content
from evalkit.types import Part, Sample


def load(data_root: Path, **opts) -> InterleavedDataset:
    return InterleavedDataset("t", InterleavedOptions(**opts), data_root)


def test_bundled_sample_loads_every_record_with_ordered_parts() -> None:
    res = load(SAMPLE.parent, root=SAMPLE.name, files=("*_test.jsonl",)).load()
    assert res.errors == []
    assert len(res.samples) == 12
    by_id = {s.id: s for s in res.samples}
    s = by_id["video_test:901"]
    kinds = [p.type for p in s.msg]
    assert kinds[0] == "text" and "audio" in kinds and kinds[-1] == "text"
    audio = next(p for p in s.msg if p.type == "audio")
    # general_domain maps to the general_area folder, paths are absolute and exist
    assert "/general_area/" in audio.value and Path(audio.value).is_file() and audio.tag == "audio1"
    assert s.meta["domain"] == "general_domain" and s.meta["subset"] == "video_test"
    assert s.references[0].type == "text" and "<video1>" in s.references[0].value
    assert any(p.tag == "video1" and p.type == "video" for p in s.references)
    code = by_id["code_test:101"]
    assert any(p.type == "code" and p.value.startswith("```python") for p in code.msg)


def test_text_between_tags_keeps_its_order(tmp_path: Path) -> None:
    write_records(
        tmp_path / "a.jsonl",
        [
            code_record(1)
            | {"input": {"modal": {"code1": "A", "code2": "B"}, "content": "first <code2> middle <code1> last"}}
        ],
    )
    s = load(tmp_path).load().samples[0]
    assert [(p.type, p.value) for p in s.msg[:5]] == [
        ("text", "first "),
        ("code", "B"),
        ("text", " middle "),
        ("code", "A"),
        ("text", " last"),
    ]


def test_reads_one_object_per_line_and_recovers_after_broken_json() -> None:
    text = '{"a": 1}\n{"b": \n{"c": 3}\n'
    got = list(iter_json_objects(text))
    assert got[0] == (1, {"a": 1}, "")
    assert got[1][0] == 2 and got[1][1] is None and "invalid JSON" in got[1][2]
    assert got[2] == (3, {"c": 3}, "")


def test_domain_folder_mapping_is_an_option(tmp_path: Path) -> None:
    src = SAMPLE / "general_area" / "food" / "audio" / "aud_0502_01.wav"
    (tmp_path / "general_domain" / "food" / "audio").mkdir(parents=True)
    shutil.copy(src, tmp_path / "general_domain" / "food" / "audio" / "a.wav")
    rec = code_record(1, "general_domain") | {
        "subdomain": "food",
        "input": {"modal": {"audio1": "audio/a.wav"}, "content": "<audio1>"},
    }
    write_records(tmp_path / "a.jsonl", [rec])
    assert len(load(tmp_path).load().errors) == 1  # default maps to general_area, which does not exist here
    res = load(tmp_path, domain_folders={}).load()
    assert res.errors == [] and len(res.samples) == 1


def test_openai_content_sends_media_as_data_urls_after_their_tags() -> None:
    img = SAMPLE / "natural_science" / "education" / "image" / "img_0602_01.png"
    wav = SAMPLE / "general_area" / "food" / "audio" / "aud_0502_01.wav"
    msg = (
        Part("text", "Compare "),
        Part("image", str(img), "image1"),
        Part("text", " and "),
        Part("audio", str(wav), "audio1"),
    )
    conv = to_openai_content(msg, ("text", "image", "audio"))
    assert [p["type"] for p in conv.content] == ["text", "image_url", "text", "input_audio"]
    assert conv.content[0]["text"] == "Compare <image1> "
    assert conv.content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(conv.content[3]["input_audio"]["data"]) == wav.read_bytes()
    assert conv.content[3]["input_audio"]["format"] == "wav"
    # the stored prompt references files, it does not carry their bytes
    assert conv.logged[1] == {"type": "image", "path": str(img)}
    assert "base64" not in json.dumps(conv.logged)


def test_text_only_model_gets_tagged_notes_and_the_prediction_records_them() -> None:
    wav = SAMPLE / "general_area" / "food" / "audio" / "aud_0502_01.wav"
    model = OpenAICompatModel("m", OpenAIOptions(modalities=()))
    body, _logged, conv = model.build_request((Part("text", "Hear "), Part("audio", str(wav), "audio1")))
    handling = conv.handling
    assert body["messages"] == [
        {"role": "user", "content": "Hear <audio1> [audio not shown: this model does not read audio] "}
    ]
    assert handling == {"audio1": "dropped: model does not read audio"}


def test_prediction_key_follows_media_content_and_generation(tmp_path: Path) -> None:
    f = tmp_path / "a.png"
    f.write_bytes(b"one")
    s = Sample("x", (Part("image", str(f), "image1"),))
    m = OpenAICompatModel("m", OpenAIOptions(model="a"))
    k1 = m.prediction_key(s, "v1")
    assert m.prediction_key(s, "v2") != k1
    assert (
        OpenAICompatModel("m", OpenAIOptions(model="a", base_url="http://elsewhere/v1")).prediction_key(s, "v1") == k1
    )
    assert OpenAICompatModel("m", OpenAIOptions(model="b")).prediction_key(s, "v1") != k1
    f.write_bytes(b"two!")
    assert m.prediction_key(s, "v1") != k1


def test_records_keep_their_checks_and_share_the_file_strings(tmp_path: Path) -> None:
    # the output's tags are checked without building its parts; the fields' types as before; one subset string
    recs = [
        code_record(1) | {"output": {"content": "see <code1>"}},  # an input tag: fine
        code_record(2) | {"output": {"modal": {"code2": "B"}, "content": "<code2> and <code9>"}},
        code_record(3) | {"id": 3, "output": {"modal": {"code2": "B"}, "content": "plain"}},
        code_record(4) | {"subdomain": ["x"]},
        code_record(5) | {"input": {"content": None}},
    ]
    path = tmp_path / "records.jsonl"
    write_records(path, recs)
    res = load(tmp_path).load()
    assert [(e.field, e.reason) for e in res.errors] == [
        ("output.modal.code9", "tag <code9> in output.content has no modal entry"),
        ("subdomain", "'subdomain' must be str, got list"),
        ("input.content", "'input.content' must be str, got NoneType"),
    ]
    one, three = res.samples
    assert (one.id, three.id, three.meta["record_id"]) == ("records:1", "records:3", "3")
    assert one.references == (Part("text", "see <code1>"),)
    assert three.references == (Part("text", "plain"), Part("code", "B", "code2"))
    assert one.meta["subset"] is three.meta["subset"] and one.meta["file"] is three.meta["file"]
    assert (one.meta["subset"], one.meta["file"]) == ("records", str(path))
    # the meta: a dict of its own (key-sharing), keys in the order they always had; one instruction part for all
    assert type(one.meta) is dict and one.meta is not three.meta and one.msg[-1] is three.msg[-1]
    keys = ["record_id", "domain", "subdomain", "subset", "question", "file", "line", "difficulty"]
    assert list(one.meta) == keys == list(three.meta)
    assert one.meta == {
        "record_id": "1",
        "domain": "natural_science",
        "subdomain": "programming",
        "subset": "records",
        "question": "Explain <code1> number 1.",
        "file": str(path),
        "line": 1,
        "difficulty": "easy",
    }
