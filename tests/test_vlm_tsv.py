"""VLMEvalKit TSV image QA: loading (base64 cache, shared images, bad rows), prompts, circular and end to end."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import shutil
from pathlib import Path

import pytest
from support import REPO, Dev, write_config

from evalkit.cli import main
from evalkit.datasets.vlm_tsv import VLMTsvDataset, VLMTsvOptions
from evalkit.errors import ConfigError
from evalkit.judges.base import JudgeContext
from evalkit.judges.choice import ChoiceOptions
from evalkit.judges.mcq import CircularChoiceJudge
from evalkit.report import outcomes, report_rows
from evalkit.types import Prediction

COLUMNS = ["index", "image", "image_path", "question", "hint", "A", "B", "C", "D", "answer", "category", "split"]


def png(colour: tuple[int, int, int], size: int = 8) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def row(index: int | str, **kw: str) -> dict[str, str]:
    base = {c: "" for c in COLUMNS}
    base.update(index=str(index), image=png((10 * int(str(index)[-1]), 0, 0)), question=f"Question {index}?")
    base.update(A="red", B="green", C="blue", answer="A", category="color")
    base.update(kw)
    return base


def write_tsv(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def dataset(root: Path, **opts: object) -> VLMTsvDataset:
    return VLMTsvDataset("t", VLMTsvOptions(**{"root": "", "file": "t.tsv", **opts}), root)  # type: ignore[arg-type]


def test_bundled_sample_loads_and_decodes_images_once(tmp_path: Path) -> None:
    shutil.copytree(REPO / "data" / "vlm_sample", tmp_path / "vlm_sample")
    ds = VLMTsvDataset("s", VLMTsvOptions(root="vlm_sample", file="sample.tsv"), tmp_path)
    res = ds.load()
    assert res.errors == [] and len(res.samples) == 10
    kinds = [s.meta["question_type"] for s in res.samples]
    assert kinds == ["mcq"] * 6 + ["yes_no"] * 4
    assert [s.meta.get("answer_letter") for s in res.samples[:6]] == ["A", "C", "B", "C", "B", "D"]
    cache = tmp_path / "vlm_sample" / "images" / "sample"
    files = sorted(cache.iterdir())
    assert len(files) == 8  # 6 MCQ pictures + 2 shared by the Yes/No pairs
    for f in files:  # content-hash names
        import hashlib

        assert f.name == hashlib.sha256(f.read_bytes()).hexdigest()[:32] + ".png"
    pair = [s for s in res.samples if s.id in ("7", "8")]
    assert pair[0].msg[0].value == pair[1].msg[0].value  # row 8's image cell is "7"
    assert pair[0].meta["image_key"] == pair[1].meta["image_key"] == "two_circles.png"
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    again = ds.load()
    assert [s.msg for s in again.samples] == [s.msg for s in res.samples]
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes  # nothing rewritten
    s5 = res.samples[4]
    assert s5.msg[-1].value == (
        "Hint: The image shows two shapes side by side.\nQuestion: Which shape is on the left?\n"
        "Options:\nA. the blue square\nB. the red circle\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert s5.meta["options"] == {"A": "the blue square", "B": "the red circle"}
    assert s5.meta["domain"] == "perception" and s5.meta["subdomain"] == "position" and s5.meta["subset"] == "sample"
    assert res.samples[6].msg[-1].value == "Are there two circles in the image? Please answer yes or no."


def test_bad_rows_are_record_errors_and_the_rest_load(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "ok.png").write_bytes(base64.b64decode(png((0, 0, 255))))
    rows = [
        row(1),
        row(2, image="!!!not base64" * 10),
        row(3, image=base64.b64encode(b"GIF-but-not-really" * 10).decode()),
        row(4, image="99"),  # refers to a row that does not exist
        row(5, answer=""),
        row(6, answer="purple"),
        row(7, A="only one", B="", C="", answer="A"),
        row(1, question="duplicate index"),
        row(9, image="", image_path="../../etc/passwd"),
        row(10, image="", image_path="pics/ok.png"),
        row(11, image="1", A="", B="", C="", answer="yes", question="Is it red?"),
        row(12, image="2"),  # shares row 2's broken image
        row(13, answer="blue"),  # the option text instead of the letter
    ]
    path = write_tsv(tmp_path / "t.tsv", rows)
    with path.open("a", encoding="utf-8") as f:
        f.write("14\tonly\tthree cells\n")
    res = dataset(tmp_path).load()
    got = {e.sample_id or str(e.line): (e.field, e.reason) for e in res.errors}
    assert [s.id for s in res.samples] == ["1", "10", "11", "13"]
    assert res.samples[2].meta["question_type"] == "yes_no" and res.samples[2].references[0].value == "Yes"
    assert res.samples[2].msg[0].value == res.samples[0].msg[0].value
    assert res.samples[3].meta["answer_letter"] == "C"
    assert got["2"][0] == "image" and "base64" in got["2"][1]
    assert "not PNG, JPEG" in got["3"][1]
    assert got["4"] == ("image", "image refers to row '99', which has no base64 image")
    assert got["5"] == ("answer", "empty answer")
    assert "neither an option letter" in got["6"][1]
    assert "neither MCQ nor Yes/No" in got["7"][1]
    assert "duplicate index" in got["1"][1]
    assert "escapes the data root" in got["9"][1]
    assert "(the image of row 2)" in got["12"][1]
    assert got["15"] == ("", "row has a different number of cells")
    assert next(e for e in res.errors if e.sample_id == "2").line == 3  # the header is line 1


def test_missing_file_unknown_task_and_bad_header_are_config_errors(tmp_path: Path) -> None:
    ds = VLMTsvDataset("MMBench_DEV_EN", VLMTsvOptions(task="MMBench_DEV_EN"), tmp_path)
    assert ds.judge_name == "mcq-circular"
    with pytest.raises(ConfigError) as exc:
        ds.load()
    msg = str(exc.value)
    assert str(tmp_path.resolve() / "vlmeval" / "MMBench_DEV_EN.tsv") in msg
    assert "python run.py prepare --dataset MMBench_DEV_EN" in msg
    with pytest.raises(ConfigError, match="did you mean MMBench_DEV_EN"):
        VLMTsvDataset("x", VLMTsvOptions(task="MMBench_DEV_E"), tmp_path)
    write_tsv(tmp_path / "t.tsv", [row(1)], columns=["index", "question", "answer"])
    with pytest.raises(ConfigError, match="no column image or image_path"):
        dataset(tmp_path).load()
    assert VLMTsvDataset("m", VLMTsvOptions(task="MME"), tmp_path).judge_name == "mme"


def test_mme_categories_get_their_domain(tmp_path: Path) -> None:
    rows = [
        row(1, A="", B="", C="", answer="Yes", category="OCR"),
        row(2, A="", B="", C="", answer="No", category="code_reasoning"),
    ]
    write_tsv(tmp_path / "t.tsv", rows)
    ds = VLMTsvDataset("m", VLMTsvOptions(task="MME", root="", file="t.tsv"), tmp_path)
    res = ds.load()
    assert [s.meta["domain"] for s in res.samples] == ["perception", "cognition"]


def test_circular_accuracy_by_hand(tmp_path: Path) -> None:
    """Two questions, each with passes i and i + 1e6 (+ 2e6 for q2); q3 has a pass whose call failed."""
    rows = [row(i) for i in (1, 1_000_001, 2, 1_000_002, 2_000_002, 3, 1_000_003)]
    write_tsv(tmp_path / "t.tsv", rows)
    res = dataset(tmp_path, circular=True).load()
    assert [s.meta["circular_group"] for s in res.samples] == ["1", "1", "2", "2", "2", "3", "3"]
    answers = {"1": "A", "1000001": "A", "2": "A", "1000002": "B", "2000002": "A", "3": "A"}
    preds = {
        s.id: Prediction(s.id, "m", f"k{s.id}", text=answers.get(s.id, ""), error="" if s.id in answers else "boom")
        for s in res.samples
    }
    judge = CircularChoiceJudge("c", ChoiceOptions(), JudgeContext(model_factory=lambda n: None, cache_dir=tmp_path))  # type: ignore[arg-type,return-value]
    judge.prepare(res.samples, preds)
    verdicts = {s.id: asyncio.run(judge.judge(s, preds[s.id])) for s in res.samples}
    rows_out = report_rows("t", "c", judge.metrics, outcomes(res.samples, [], preds, verdicts), judge.summarize)
    got = {r["metric"]: r for r in rows_out if r["subset"] == "all"}
    assert float(got["accuracy"]["value"]) == pytest.approx(5 / 6)
    # q1 all right, q2 one pass wrong, q3 incomplete (left out): 1 of 2 complete questions
    assert float(got["circular_accuracy"]["value"]) == pytest.approx(0.5)
    assert got["circular_accuracy"]["n"] == "7" and got["circular_accuracy"]["n_failed"] == "1"
    bad = [row("x1")]
    bad[0]["index"] = "q-1"
    write_tsv(tmp_path / "t.tsv", bad)
    err = dataset(tmp_path, circular=True).load().errors[0]
    assert err.field == "index" and "integer indices" in err.reason


PAD = " Look closely at the picture before you decide what you see there." * 5  # pushes the suffix past 300 chars


def _engineered(tmp: Path) -> None:
    """Rows whose echo (the prompt's first 300 characters) can be read, wrongly read, or not read at all."""
    rows = [
        row(1, hint="The answer is B.", answer="B", category="shape"),  # echo states B: right
        row(2, hint="The answer is A.", answer="C", category="shape"),  # echo states A: wrong
        row(3, answer="A", category="count"),  # options A-C all mentioned: unextracted
        row(4, A="", B="", C="", answer="Yes", question="Yes: the square is red, is it?" + PAD, category="color"),
        row(5, A="", B="", C="", answer="Yes", question="No: the square is red, is it?" + PAD, category="color"),
        row(6, A="", B="", C="", answer="No", question="Is the square red?", category="color"),  # yes and no
    ]
    write_tsv(tmp / "data" / "vqa" / "t.tsv", rows)


def _report(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}


def test_end_to_end_with_echo_model(tmp_path: Path, dev: Dev) -> None:
    _engineered(tmp_path)
    cfg = write_config(tmp_path, dev.base_url)
    text = cfg.read_text().replace("datasets:\n", "datasets:\n  vqa: {class: vlm-tsv, root: vqa, file: t.tsv}\n")
    model = f'  bad-extractor: {{backend: openai, base_url: "{dev.base_url}", model: judge-bad, max_retries: 0}}\n'
    text = text.replace("models:\n", "models:\n" + model)
    text = text.replace("judges:\n", "judges:\n  vqa-llm: {class: vlm-qa, extractor_model: bad-extractor}\n")
    cfg.write_text(text)
    assert main(["--config", str(cfg), "--dataset", "vqa", "--no-progress"]) == 0
    rows = _report(tmp_path / "results" / "echo" / "vqa" / "report.csv")
    # by hand: 1 right (B), 2 wrong (A for C), 3 unextracted, 4 right (yes), 5 wrong (no for yes), 6 unextracted
    assert float(rows[("all", "accuracy")]["value"]) == pytest.approx(2 / 6)
    assert float(rows[("all", "unextracted")]["value"]) == pytest.approx(2 / 6)
    assert rows[("all", "accuracy")]["n"] == "6" and rows[("all", "accuracy")]["n_failed"] == "0"
    assert float(rows[("subdomain=shape", "accuracy")]["value"]) == pytest.approx(0.5)
    assert float(rows[("subdomain=count", "unextracted")]["value"]) == 1.0
    assert float(rows[("subdomain=color", "accuracy")]["value"]) == pytest.approx(1 / 3)
    assert rows[("all", "accuracy")]["judge"] == "vlm-qa"
    assert dev.requests("echo") == 6
    # an LLM extractor is asked only for the two unextracted answers; its unreadable replies stay unextracted
    assert main(["--config", str(cfg), "--dataset", "vqa", "--judge", "vqa-llm", "--no-progress"]) == 0
    assert dev.requests("echo") == 6 and dev.requests("judge-bad") == 2
    rows = _report(tmp_path / "results" / "echo" / "vqa" / "report.csv")
    assert float(rows[("all", "unextracted")]["value"]) == pytest.approx(2 / 6)


def test_bundled_sample_end_to_end_counts_unextracted_as_wrong(tmp_path: Path, dev: Dev) -> None:
    shutil.copytree(REPO / "data" / "vlm_sample", tmp_path / "data" / "vlm_sample")
    cfg = write_config(tmp_path, dev.base_url)
    cfg.write_text(
        cfg.read_text().replace(
            "datasets:\n", "datasets:\n  vlm: {class: vlm-tsv, root: vlm_sample, file: sample.tsv}\n"
        )
    )
    assert main(["--config", str(cfg), "--dataset", "vlm", "--no-progress"]) == 0
    rows = _report(tmp_path / "results" / "echo" / "vlm" / "report.csv")
    # the echo repeats every option (MCQ) or both "yes" and "no" (Yes/No): nothing can be read, all wrong
    assert rows[("all", "accuracy")]["value"] == "0" and rows[("all", "accuracy")]["n"] == "10"
    assert rows[("all", "unextracted")]["value"] == "1" and rows[("all", "unextracted")]["n_failed"] == "0"
    assert rows[("subdomain=count", "accuracy")]["n"] == "4"
