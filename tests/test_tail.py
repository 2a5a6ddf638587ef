"""The cheap tail: the fast JSON text is byte for byte ``json.dumps``'s, the exports are unchanged, the manifest's
provenance is git's and importlib's, and a reeval's counts say what it reused."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from support import REPO, Dev, code_record, write_config, write_records

from evalkit import job, jsontext
from evalkit.cli import main
from evalkit.export import ScoredExport
from evalkit.report import BREAKDOWN_KEYS, Outcome, report_rows, sample_rows
from evalkit.scoring import MetricSpec, sample_clusters, stand_in
from evalkit.types import Part, Sample

TRICKY: list[Any] = [
    {},
    [],
    "",
    {"a": {}, "b": [], "c": [[]], "d": [{}], "e": None},
    {'quote"back\\slash\nnew\tline\u2028': "é 漢字 \x00 \x1f \ud800 🙂"},
    {2: "int key", 2.5: "float key", True: "bool key", None: "none key"},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "big": 1e300, "tiny": 5e-324, "neg": -0.0},
    {"tuple": (1, "two", [3.0, {"four": 4}]), "bools": [True, False, None]},
    [0, -1, 2**70, 0.1, 1.0, 1e16, 123456789.123456789],
]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(["", "a", 'é\n"', "漢字", "\\", "\x7f\u2029"]) + str(rng.random())
    if kind == 1:
        return rng.randint(-(10**12), 10**12)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice([0.5, 3, "x"])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}\u00e9": random_json(rng, depth + 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("indent", [4, 2])
def test_pretty_is_json_dumps_byte_for_byte(indent: int) -> None:
    rng = random.Random(7)
    objects = [*TRICKY, *(random_json(rng) for _ in range(500))]
    for obj in objects:
        assert jsontext.pretty(obj, indent) == json.dumps(obj, ensure_ascii=False, indent=indent)
        assert jsontext.compact(obj) == json.dumps(obj, ensure_ascii=False)


def encodable(obj: Any) -> bool:
    """json.dumps output that UTF-8 can hold (a lone surrogate cannot be written to a file either way)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_msgspec_bytes_are_json_dumps_byte_for_byte() -> None:
    """The exports' fast path (msgspec) writes what json.dumps writes, floats of every magnitude included."""
    rng = random.Random(11)
    floats = [rng.choice([1, -1]) * 10 ** rng.uniform(-12, 22) for _ in range(3000)]
    objects = [*TRICKY, *(random_json(rng) for _ in range(500)), *({"x": x, "l": [x, round(x, 3)]} for x in floats)]
    fast = 0
    for obj in filter(encodable, objects):
        line, pretty = jsontext.compact_and_pretty(obj)
        assert line == json.dumps(obj, ensure_ascii=False).encode("utf-8")
        assert pretty == json.dumps(obj, ensure_ascii=False, indent=4).encode("utf-8")
        assert jsontext.pretty_bytes(obj, 2) == json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")
        fast += jsontext._msgspec_safe(obj)
    assert fast > 1000  # most records take the fast path; NaN, 1e-05, 1e+16 and non-string keys do not
    assert not jsontext._msgspec_safe({"a": [1e-5]}) and not jsontext._msgspec_safe({"a": float("nan")})


def test_pretty_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsontext.pretty({"a": object()})
    with pytest.raises(TypeError, match="keys must be"):
        jsontext.pretty({(1, 2): "tuple key"})


def reference_views(export: ScoredExport) -> dict[str, str]:
    """The exports as json.dumps writes them (what the exports were before the fast encoder)."""

    def join(records: list[dict[str, Any]]) -> str:
        lines = [json.dumps(r, ensure_ascii=False, indent=4) for r in records]
        return "\n".join(lines) + ("\n" if lines else "")

    records = list(export.records())
    views = {"all": join([r for r, _ in records])}
    for source in export.sources:
        up = "../" * len(Path(source).parts)
        chosen = []
        for r, moved in records:
            if r["file"] != source:
                continue
            rec = {k: v for k, v in r.items() if k != "file"}
            if "output" in rec:
                modal = {t: up + v if t in moved else v for t, v in r["output"]["modal"].items()}
                rec["output"] = {**r["output"], "modal": modal}
            chosen.append(rec)
        views[source] = join(chosen)
    views["lines"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r, _ in records)
    return views


def test_export_views_are_unchanged() -> None:
    records = [
        {"domain": "d", "id": "1", "content": "c", "modal": {}, "score": {"acc": 1}, "file": "a.jsonl"},
        {"domain": "", "subdomain": "", "id": "2", "score": None, "error": "not judged", "file": "sub/b.jsonl"},
        {
            "domain": "d",
            "subdomain": "s",
            "id": "3",
            "score": {"acc": 0.5},
            "output": {"modal": {"audio1": "media/x.wav", "code1": "print()"}, "content": "see <audio1>"},
            "file": "sub/b.jsonl",
        },
        {"domain": "d", "subdomain": "s", "id": "4", "score": {"acc": 0}, "file": ""},
        {"file": "a.jsonl"},
        {"file": "c.jsonl", "id": "5"},  # file not last: encoded whole
    ]
    export = ScoredExport.of(records, relocatable=frozenset({(2, "audio1")}))
    assert export.sources == ("a.jsonl", "sub/b.jsonl", "c.jsonl")
    ref = reference_views(export)
    assert export.pretty() == ref["all"]
    assert export.json_lines() == ref["lines"]
    for source in export.sources:
        assert export.pretty(source) == ref[source], source
    assert ScoredExport.of([]).pretty() == "" and ScoredExport.of([]).json_lines() == ""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_sha_from_files_is_what_git_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "deep" / "er").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    assert job._git_sha_from_files(repo) is None  # no commit yet: HEAD names a ref that does not exist
    for i in range(2):
        (repo / "f").write_text(str(i))
        git(repo, "add", "f")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", str(i))
    head = git(repo, "rev-parse", "HEAD")
    assert job._git_sha_from_files(repo / "deep" / "er") == head  # a loose ref, found from a subfolder
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert job._git_sha_from_files(repo) == head  # a packed ref
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert job._git_sha_from_files(repo) == git(repo, "rev-parse", "HEAD")  # a detached HEAD
    monkeypatch.chdir(repo / "deep")
    assert job._git_sha() == git(repo, "rev-parse", "HEAD")
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert job._git_sha_from_files(repo) is None  # git decides where the repository is


def test_versions_are_importlib_metadata_versions() -> None:
    expected = {}
    for name in job.PACKAGES:
        try:
            expected[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    assert job._versions() == expected and "numpy" in expected


def test_reeval_summary_and_manifest_count_the_reused_predictions(
    tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture[str]
) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(4)])
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    assert "infer: 4 run (0 failed), 0 reused; judge: 4 run (0 failed), 0 reused" in capsys.readouterr().out
    asked = dev.requests("echo")
    assert main(["--config", str(cfg), "--reeval", "--no-progress"]) == 0
    assert "infer: 0 run (0 failed), 4 reused; judge: 4 run (0 failed), 0 reused" in capsys.readouterr().out
    assert dev.requests("echo") == asked  # the model was not asked again
    manifest = json.loads((tmp_path / "results" / "echo" / "ds" / "manifest.json").read_text())
    assert manifest["judges"]["llm"]["stats"]["infer"] == {"total": 4, "reused": 4, "ran": 0, "failed": 0}


PREFETCH = """
import asyncio, sys, threading
from evalkit import scoring

def prefetching():
    return [t for t in threading.enumerate() if t.name == "evalkit-prefetch-tail"]

async def job():
    scoring.prefetch_tail()
    before = len(prefetching())  # nothing yet: the job has not waited for anything
    await asyncio.sleep(0)
    threads = prefetching()
    for t in threads:
        t.join()
    return before, len(threads)

before, after = asyncio.run(job())
print(before, after, all(m in sys.modules for m in scoring.TAIL_MODULES))
"""


def test_tail_imports_start_in_the_background_once_the_job_waits() -> None:
    out = subprocess.run([sys.executable, "-c", PREFETCH], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1", "True"]


class RatioScoring:
    """A judge's scoring with one mean metric and one ratio metric (WER-like: details hold the parts)."""

    def metric_spec(self, metric: str) -> MetricSpec:
        return MetricSpec(kind="ratio", worst=1.0) if metric == "wer" else MetricSpec(worst=0.0)

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        return 0.0

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        return float(outcome.details.get("errors", 0)), float(outcome.details.get("words", 1))


def reference_sample_rows(items: list[Outcome], scoring: RatioScoring, clusters: dict, texts: dict, keys: dict) -> str:
    """samples.<judge>.jsonl as json.dumps of one dict per sample wrote it."""
    lines = []
    for o in items:
        counted = stand_in(o) if o.stage == "predict" else o
        answer, reference = texts.get(o.sample_id, ("", ""))
        rec = {
            "sample_id": o.sample_id,
            "pred_key": keys.get(o.sample_id, ""),
            "cluster": clusters.get(o.sample_id, "s:" + o.sample_id),
            "meta": {k: o.meta[k] for k in BREAKDOWN_KEYS if o.meta.get(k) not in (None, "")},
            "stage": o.stage,
            "reason": o.reason,
            "scores": o.scores,
            "strict": dict(counted.scores),
            "ratio": {m: list(scoring.ratio_parts(m, counted)) for m in ["wer"] if m in counted.scores},
            "metric_errors": o.metric_errors,
            "media_not_shown": o.media_not_shown,
            "answer": answer[:300],
            "reference": reference[:300],
        }
        lines.append(json.dumps(rec, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def test_sample_rows_are_json_dumps_of_each_record() -> None:
    items = [
        Outcome("a", {"subset": "x", "domain": "", "difficulty": 2}, {"acc": 1.0, "wer": 0.25}, details={"errors": 1}),
        Outcome('b"é', {}, {}, "predict", "TimeoutError: 30 s", worst_scores={"acc": 0.0, "wer": 1.0}),
        Outcome("c", {"subdomain": "漢"}, {}, "judge", "unparseable: no score", media_not_shown=2),
        Outcome("d", {}, {"acc": 0.5}, metric_errors={"wer": "no reference words"}),
    ]
    clusters = {"a": "m:/v.mp4", 'b"é': "m:/v.mp4"}
    texts = {"a": ("x" * 400, "ref\n"), "c": ("", "<image1>")}
    keys = {"a": "k1", "c": "k3"}
    got = sample_rows(items, RatioScoring(), ["acc", "wer"], clusters, texts, keys)
    assert got == reference_sample_rows(items, RatioScoring(), clusters, texts, keys)
    assert sample_rows([], RatioScoring(), ["acc"], {}, {}) == ""


def test_clusters_join_samples_sharing_media_and_leave_text_samples_alone() -> None:
    def sample(sid: str, *media: str, cluster: str = "") -> Sample:
        parts = (Part("text", "q"), *(Part("image", m) for m in media))
        return Sample(sid, parts, meta={"cluster": cluster} if cluster else {})

    got = sample_clusters(
        [
            sample("t1"),
            sample("a", "/1.png"),
            sample("b", "/2.png", "/1.png"),
            sample("c", "/2.png"),
            sample("m", cluster="g"),
        ]
    )
    assert got["t1"] == "s:t1" and got["m"] == "meta:g"
    assert got["a"] == got["b"] == got["c"] != "s:t1"
    assert sorted(got) == ["b", "c", "m"] or sorted(got) == ["a", "c", "m"] or sorted(got) == ["a", "b", "m"]
    assert got.get("t1", "s:t1") == "s:t1"  # samples in their own cluster are not stored


class CountingScoring(RatioScoring):
    """Counts the summaries asked for: one per interval value (the bootstrap's resamples go to numpy)."""

    def __init__(self) -> None:
        self.calls = 0

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        self.calls += 1
        return sum(o.scores[metric] for o in scored) / len(scored)


def test_a_breakdown_holding_every_sample_reuses_the_overall_values() -> None:
    meta = [{"subset": "qa", "domain": "x" if i % 2 else "y"} for i in range(40)]
    items = [Outcome(f"s{i}", m, {"acc": float(i % 4 == 0)}) for i, m in enumerate(meta)]
    scoring = CountingScoring()
    rows = report_rows("ds", "j", ["acc"], items, scoring=scoring)
    by_subset = {r["subset"]: r for r in rows}
    assert set(by_subset) == {"all", "subset=qa", "domain=x", "domain=y"}
    assert {k: v for k, v in by_subset["subset=qa"].items() if k != "subset"} == {
        k: v for k, v in by_subset["all"].items() if k != "subset"
    }
    assert by_subset["domain=x"]["n"] == "20" and by_subset["domain=x"]["value"] != by_subset["all"]["value"]
    assert scoring.calls == 2 * 3  # value and value_scored for all, domain=x, domain=y: subset=qa computed nothing


FREEZE = """
import gc, sys
from evalkit.cli import main
assert main(["--list", "models"]) == 0 and gc.get_freeze_count() == 0  # a caller with argv: left as it was
sys.argv = ["run.py", "--list", "models"]
assert main() == 0
print("frozen", gc.get_freeze_count() > 0)
"""


def test_the_program_skips_the_shutdown_collections_a_caller_keeps_its_collector() -> None:
    out = subprocess.run([sys.executable, "-c", FREEZE], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "frozen True"


def test_cluster_codes_number_clusters_as_a_map_of_every_sample_did() -> None:
    """Codes in first-seen order (the bootstrap's draws depend on them), with own clusters not stored: a root
    sample that others name shares their code."""
    import numpy as np

    from evalkit.scoring import Clusters, _cluster_codes

    def reference(items: list[Outcome], clusters: dict[str, str]) -> list[int]:
        codes: dict[str, int] = {}
        return [codes.setdefault(clusters.get(o.sample_id, "s:" + o.sample_id), len(codes)) for o in items]

    rng = random.Random(0)
    for trial in range(300):
        ids = [f"x{i}" for i in range(rng.randrange(40))]
        clusters: dict[str, str] = Clusters() if trial % 2 else {}
        for sid in ids:
            r = rng.random()
            if r < 0.3:
                clusters[sid] = "s:" + rng.choice(ids)
            elif r < 0.4:
                clusters[sid] = "meta:" + rng.choice("ab")
        items = [Outcome(sid, {}, {}) for sid in rng.sample(ids, len(ids))]
        got = _cluster_codes(items, clusters)
        assert got.dtype == np.int64 and got.tolist() == reference(items, clusters)
