"""``python run.py prepare --dataset X``: download, verify and convert a benchmark's full data under dataset_root.

Nothing here runs during an evaluation: a dataset whose files are missing stops the run with the file's path
and this command. ``prepare`` fetches only when the files are missing (or with ``--force``), so it also works
offline: put the published files where the one-line message says, run it again, and it verifies and converts.

What is verified (:data:`SPECS`):

- VLMEvalKit TSVs (MMBench_DEV_EN, MME, SEEDBench_IMG): fetched from VLMEvalKit's own download URLs (OpenCompass
  hosts them, not the Hugging Face hub) and checked against the md5 VLMEvalKit publishes for each file
  (``DATASET_MD5`` in its ``vlmeval/dataset``). A file put there by hand is checked the same way.
- MVBench (``OpenGVLab/MVBench``) and Video-MME (``lmms-lab/Video-MME``) on the Hugging Face hub: no official
  checksum list exists, so every downloaded LFS file is checked against the sha256 and size the hub reports for
  it at download time (the hub's own record, not a pinned list), other files by size. Files put there by hand
  are not checked (there is nothing pinned to check them against).
- The other families (MMEB retrieval, Kimi-Audio-Evalkit audio sets, Clotho) are listed with the files their
  dataset classes expect and where the data is published; their conversion is not written yet, and ``prepare``
  says exactly which file to put where, in which format.

Offline: ``HF_HUB_OFFLINE=1`` (the hub's own switch) makes ``prepare`` skip every network call; any failed
connection is reported the same way, as one line naming the missing file, the source and where to put it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import Config
from evalkit.errors import ConfigError, missing_extra
from evalkit.types import error_text

FFMPEG_TIMEOUT_S = 600
URL_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 5


class Offline(Exception):
    """A source could not be reached; the message says why."""


# ---------------------------------------------------------------- fetching


class Fetcher:
    """Network access of ``prepare``, in one place (tests pass their own).

    Args:
        offline: never touch the network (default: ``HF_HUB_OFFLINE`` is set to a true value).
    """

    def __init__(self, offline: bool | None = None) -> None:
        if offline is None:
            offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        self.offline = offline

    def url(self, url: str, dest: Path) -> None:
        """Download ``url`` to ``dest`` (through a temporary file).

        Raises:
            Offline: offline mode, or the server cannot be reached.
        """
        if self.offline:
            raise Offline("HF_HUB_OFFLINE is set")
        tmp = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as resp, tmp.open("wb") as out:
                shutil.copyfileobj(resp, out, 1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            raise Offline(error_text(exc)) from None
        os.replace(tmp, dest)

    def hub(self, repo_id: str, patterns: list[str], dest: Path) -> list[Path]:
        """Download the files of a Hugging Face dataset repo matching ``patterns`` into ``dest``, verified.

        Each LFS file is checked against the sha256 and size the hub lists for it, other files by size.

        Raises:
            Offline: offline mode, or the hub cannot be reached.
            ConfigError: ``huggingface_hub`` is missing, or a file does not match the hub's record.
        """
        if self.offline:
            raise Offline("HF_HUB_OFFLINE is set")
        try:
            from huggingface_hub import HfApi, constants, snapshot_download
        except ImportError:
            raise missing_extra("huggingface_hub", "prepare") from None
        probe(str(constants.ENDPOINT))  # fail in seconds, not after the hub client's retries
        try:
            tree = [
                f
                for f in HfApi().list_repo_tree(repo_id, repo_type="dataset", recursive=True)
                if hasattr(f, "size") and any(fnmatch.fnmatch(f.path, p) for p in patterns)
            ]
            snapshot_download(repo_id, repo_type="dataset", allow_patterns=patterns, local_dir=dest)
        except Exception as exc:  # the hub raises many kinds (HTTP, connection, offline); all mean "not reached"
            raise Offline(error_text(exc)) from None
        paths = []
        for f in tree:
            path = dest / f.path
            lfs = getattr(f, "lfs", None)
            verify(path, sha256=lfs.sha256 if lfs else "", size=int(f.size), origin=f"the hub's record of {repo_id}")
            paths.append(path)
        return paths


def probe(url: str) -> None:
    """Open (and close) a TCP connection to the host of ``url``.

    Raises:
        Offline: the host cannot be resolved or reached within a few seconds.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise Offline(f"{parts.hostname}: {error_text(exc)}") from None


def file_digest(path: Path, algo: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algo)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, *, md5: str = "", sha256: str = "", size: int = 0, origin: str = "") -> str:
    """Check a file against the checksums given; returns what was checked.

    Raises:
        ConfigError: a value differs (the message names the file, both values and where the expected one is from).
    """
    checks = []
    if size:
        got = path.stat().st_size
        if got != size:
            raise ConfigError(f"{path}: size {got} bytes, expected {size} ({origin}); delete it and rerun prepare")
        checks.append("size")
    for algo, want in (("md5", md5), ("sha256", sha256)):
        if want:
            got_digest = file_digest(path, algo)
            if got_digest != want:
                raise ConfigError(
                    f"{path}: {algo} {got_digest}, expected {want} ({origin}); the file is damaged or another "
                    "version: delete it and rerun prepare (or use --force)"
                )
            checks.append(algo)
    return "+".join(checks) or "nothing"


def extract_zips(zips: Iterable[Path], dest: Path) -> int:
    """Unzip archives into ``dest``, refusing members that would land outside it; returns files written."""
    n = 0
    root = dest.resolve()
    for z in zips:
        with zipfile.ZipFile(z) as archive:
            for info in archive.infolist():
                target = (root / info.filename).resolve()
                if not target.is_relative_to(root):
                    raise ConfigError(f"{z}: member {info.filename!r} would be written outside {root}")
                if info.is_dir():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                n += 1
    return n


# ---------------------------------------------------------------- VLMEvalKit TSVs


@dataclass(frozen=True)
class TsvSource:
    """Where VLMEvalKit downloads a TSV, and the md5 it publishes for it."""

    url: str
    md5: str


VLMEVAL_TSV = {
    "MMBench_DEV_EN": TsvSource(
        "https://opencompass.openxlab.space/utils/benchmarks/MMBench/MMBench_DEV_EN.tsv",
        "b6caf1133a01c6bb705cf753bb527ed8",
    ),
    "MME": TsvSource("https://opencompass.openxlab.space/utils/VLMEval/MME.tsv", "b36b43c3f09801f5d368627fb92187c3"),
    "SEEDBench_IMG": TsvSource(
        "https://opencompass.openxlab.space/utils/benchmarks/SEEDBench/SEEDBench_IMG.tsv",
        "68017231464752261a2526d6ca3a10c0",
    ),
}


def _tsv_fetch(task: str) -> Callable[[Fetcher, Path], None]:
    def fetch(fetcher: Fetcher, folder: Path) -> None:
        from evalkit.datasets.vlm_tsv import TASKS

        src = VLMEVAL_TSV[task]
        dest = folder / TASKS[task].file
        fetcher.url(src.url, dest)
        try:
            verify(dest, md5=src.md5, origin="VLMEvalKit's DATASET_MD5")
        except ConfigError:
            dest.unlink(missing_ok=True)
            raise

    return fetch


def _tsv_convert(task: str) -> Callable[[Path], str]:
    def convert(folder: Path) -> str:
        from evalkit.datasets.vlm_tsv import TASKS, VLMTsvDataset, VLMTsvOptions

        path = folder / TASKS[task].file
        checked = verify(path, md5=VLMEVAL_TSV[task].md5, origin="VLMEvalKit's DATASET_MD5")
        loaded = VLMTsvDataset(task, VLMTsvOptions(task=task, root=""), folder).load()
        return (
            f"{path} ({checked} verified): {len(loaded.samples)} items, {len(loaded.errors)} bad rows; "
            f"images decoded into {folder / 'images' / path.stem}"
        )

    return convert


# ---------------------------------------------------------------- MVBench


@dataclass(frozen=True)
class MVBenchTask:
    """One MVBench task file: its JSON, the video folder under ``video/``, frames or video, clip bounds."""

    json: str
    folder: str
    frames: bool = False
    bounded: bool = False


MVBENCH_TASKS: dict[str, MVBenchTask] = {
    "Action Sequence": MVBenchTask("action_sequence.json", "star/Charades_v1_480", bounded=True),
    "Action Prediction": MVBenchTask("action_prediction.json", "star/Charades_v1_480", bounded=True),
    "Action Antonym": MVBenchTask("action_antonym.json", "ssv2_video"),
    "Fine-grained Action": MVBenchTask("fine_grained_action.json", "Moments_in_Time_Raw/videos"),
    "Unexpected Action": MVBenchTask("unexpected_action.json", "FunQA_test/test"),
    "Object Existence": MVBenchTask("object_existence.json", "clevrer/video_validation"),
    "Object Interaction": MVBenchTask("object_interaction.json", "star/Charades_v1_480", bounded=True),
    "Object Shuffle": MVBenchTask("object_shuffle.json", "perception/videos"),
    "Moving Direction": MVBenchTask("moving_direction.json", "clevrer/video_validation"),
    "Action Localization": MVBenchTask("action_localization.json", "sta/sta_video", bounded=True),
    "Scene Transition": MVBenchTask("scene_transition.json", "scene_qa/video"),
    "Action Count": MVBenchTask("action_count.json", "perception/videos"),
    "Moving Count": MVBenchTask("moving_count.json", "clevrer/video_validation"),
    "Moving Attribute": MVBenchTask("moving_attribute.json", "clevrer/video_validation"),
    "State Change": MVBenchTask("state_change.json", "perception/videos"),
    "Fine-grained Pose": MVBenchTask("fine_grained_pose.json", "nturgbd"),
    "Character Order": MVBenchTask("character_order.json", "perception/videos"),
    "Egocentric Navigation": MVBenchTask("egocentric_navigation.json", "vlnqa"),
    "Episodic Reasoning": MVBenchTask("episodic_reasoning.json", "tvqa/frames_fps3_hq", frames=True, bounded=True),
    "Counterfactual Inference": MVBenchTask("counterfactual_inference.json", "clevrer/video_validation"),
}
MVBENCH_FRAME_FPS = 3  # tvqa/frames_fps3_hq: frames extracted at 3 per second


def _ffmpeg(args: list[str]) -> None:
    if shutil.which("ffmpeg") is None:
        raise ConfigError("ffmpeg is needed to cut MVBench clips: install it (apt-get install ffmpeg)")
    res = subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-v", "error", *args],
        capture_output=True,
        text=True,
        timeout=FFMPEG_TIMEOUT_S,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {res.stderr.strip()[-300:]}")


def cut_clip(src: Path, start: float, end: float, dest: Path) -> None:
    """Re-encode ``src`` between ``start`` and ``end`` seconds into ``dest`` (H.264, no audio)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg(["-ss", f"{start:.3f}", "-to", f"{end:.3f}", "-i", str(src), "-an", "-c:v", "libx264", str(dest)])


def frames_to_clip(folder: Path, start: float | None, end: float | None, fps: int, dest: Path) -> int:
    """Make a video from a folder of frames (sorted by name), keeping those between ``start`` and ``end``."""
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if start is not None and end is not None:
        first, last = max(0, int(start * fps)), max(int(start * fps) + 1, int(end * fps) + 1)
        frames = frames[first:last] or frames[-1:]
    if not frames:
        raise RuntimeError(f"no frames in {folder}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, frame in enumerate(frames):
            os.symlink(frame.resolve(), Path(tmp) / f"{i:06d}{frames[0].suffix.lower()}")
        pattern = str(Path(tmp) / f"%06d{frames[0].suffix.lower()}")
        scale = "scale=trunc(iw/2)*2:trunc(ih/2)*2"  # H.264 needs even sizes
        _ffmpeg(
            ["-framerate", str(fps), "-i", pattern, "-vf", scale, "-pix_fmt", "yuv420p", "-c:v", "libx264", str(dest)]
        )
    return len(frames)


class _VideoIndex:
    """Finds a video under ``video/``: the official folder first, else the one file of that name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, list[Path]] | None = None

    def find(self, folder: str, name: str) -> Path | None:
        direct = self.root / folder / name
        if direct.exists():
            return direct
        if self._by_name is None:
            self._by_name = {}
            for p in self.root.rglob("*"):
                self._by_name.setdefault(p.name, []).append(p)
        hits = self._by_name.get(Path(name).name, [])
        return hits[0] if len(hits) == 1 else None


def convert_mvbench(raw: Path, out: Path) -> str:
    """MVBench's ``raw/json/*.json`` + ``raw/video/`` -> ``out/MVBench.jsonl`` (+ cut clips under ``out/clips``).

    Bounded items get their own clip (the media layer sees whole files); frame folders become 3 fps videos. An
    item whose video is missing is still written (its path points where the video should be), so the loader
    reports it as a failed record instead of it silently vanishing.
    """
    index = _VideoIndex(raw / "video")
    records, missing, cut, failed = [], 0, 0, 0
    for task, spec in MVBENCH_TASKS.items():
        jpath = raw / "json" / spec.json
        if not jpath.is_file():
            raise ConfigError(f"MVBench: {jpath} is missing (the json/ folder of OpenGVLab/MVBench)")
        key = spec.json.removesuffix(".json")
        for i, item in enumerate(json.loads(jpath.read_text(encoding="utf-8"))):
            video = str(item["video"])
            src = index.find(spec.folder, video)
            start, end = (item.get("start"), item.get("end")) if spec.bounded else (None, None)
            rel: Path
            if src is None:
                missing += 1
                rel = Path("raw/video") / spec.folder / video
            elif spec.frames or (start is not None and end is not None):
                rel = Path("clips") / key / f"{i:05d}_{Path(video).stem}.mp4"
                if not (out / rel).is_file():
                    try:
                        if spec.frames:
                            frames_to_clip(src, start, end, MVBENCH_FRAME_FPS, out / rel)
                        else:
                            cut_clip(src, float(start or 0), float(end or 0), out / rel)
                        cut += 1
                    except (RuntimeError, OSError, subprocess.TimeoutExpired):
                        failed += 1  # the record still points at the clip: the loader reports it missing
            else:
                rel = src.relative_to(out) if src.is_relative_to(out) else src
            records.append(
                {
                    "id": f"{key}:{i}",
                    "video": str(rel),
                    "question": item["question"],
                    "candidates": item["candidates"],
                    "answer": item["answer"],
                    "task_type": task,
                    "subset": key,
                }
            )
    dest = out / "MVBench.jsonl"
    _write_jsonl(dest, records)
    return f"{dest}: {len(records)} items ({cut} clips cut, {failed} cuts failed, {missing} videos missing)"


# ---------------------------------------------------------------- Video-MME


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a parquet file (needs pyarrow), a JSON list or a JSONL file."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise missing_extra("pyarrow", "prepare") from None
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ConfigError(f"{path}: expected a JSON list of rows")
        return data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def convert_videomme(rows_file: Path, out: Path) -> str:
    """Video-MME rows (``videoID``, ``question_id``, ``question``, ``options``, ``answer``, ``duration``, ``domain``,
    ``sub_category``, ``task_type``) -> ``out/Video-MME.jsonl``; videos are expected at ``out/data/<videoID>.mp4``.
    """
    records, missing = [], 0
    for row in read_rows(rows_file):
        vid = str(row["videoID"])
        video = next(
            (f"data/{vid}{ext}" for ext in (".mp4", ".mkv", ".webm") if (out / "data" / f"{vid}{ext}").is_file()), ""
        )
        if not video:
            missing += 1
            video = f"data/{vid}.mp4"
        records.append(
            {
                "id": str(row["question_id"]),
                "video": video,
                "question": row["question"],
                "options": list(row["options"]),
                "answer": row["answer"],
                "duration": row.get("duration", ""),
                "domain": row.get("domain", ""),
                "task_type": row.get("task_type", ""),
                "sub_category": row.get("sub_category", ""),
                "video_id": row.get("video_id", ""),
            }
        )
    dest = out / "Video-MME.jsonl"
    _write_jsonl(dest, records)
    return f"{dest}: {len(records)} items ({missing} videos missing)"


def _write_jsonl(dest: Path, records: list[dict[str, Any]]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, dest)


def _mvbench_fetch(fetcher: Fetcher, folder: Path) -> None:
    raw = folder / "raw"
    fetcher.hub("OpenGVLab/MVBench", ["json/*.json", "video/*.zip"], raw)
    extract_zips(sorted((raw / "video").glob("*.zip")), raw / "video")


def _videomme_fetch(fetcher: Fetcher, folder: Path) -> None:
    raw = folder / "raw"
    fetcher.hub("lmms-lab/Video-MME", ["videomme/*.parquet", "videos_chunked_*.zip"], raw)
    extract_zips(sorted(raw.glob("videos_chunked_*.zip")), folder)


def _videomme_convert(folder: Path) -> str:
    rows = sorted((folder / "raw" / "videomme").glob("test-*.parquet"))
    if not rows:
        raise ConfigError(
            f"Video-MME: no {folder / 'raw/videomme/test-*.parquet'} (lmms-lab/Video-MME's question file)"
        )
    return convert_videomme(rows[0], folder)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class PrepareSpec:
    """How one benchmark gets under dataset_root.

    Attributes:
        name: the task (or benchmark) name ``--dataset`` resolves to.
        dataset_class: the registered dataset class that reads the result.
        folder: the benchmark's folder under ``dataset_root`` (an entry's own ``root`` overrides it).
        files: the files the dataset reads, relative to the folder.
        source: where the data is published (Hugging Face repo id or URL).
        checksum: what is verified, against what.
        manual: what to put where, in which format, when it cannot be downloaded (``{folder}`` is filled in).
        inputs: downloaded inputs, relative to the folder; when present, ``convert`` runs without fetching.
        fetch: downloads the inputs (None: not written yet).
        convert: turns the inputs into ``files`` and returns a summary line (None: not written yet).
    """

    name: str
    dataset_class: str
    folder: str
    files: tuple[str, ...]
    source: str
    checksum: str
    manual: str
    inputs: tuple[str, ...] = ()
    fetch: Callable[[Fetcher, Path], None] | None = None
    convert: Callable[[Path], str] | None = None


def _vlm_specs() -> Iterator[PrepareSpec]:
    for task, src in VLMEVAL_TSV.items():
        file = f"{task}.tsv"
        yield PrepareSpec(
            task,
            "vlm-tsv",
            "vlmeval",
            (file,),
            "VLMEvalKit's download server (opencompass.openxlab.space)",
            f"md5 {src.md5} (VLMEvalKit's DATASET_MD5)",
            f"download {src.url} (md5 {src.md5}) and save it as {{folder}}/{file}",
            inputs=(file,),
            fetch=_tsv_fetch(task),
            convert=_tsv_convert(task),
        )


def _mmeb_specs() -> Iterator[PrepareSpec]:
    from evalkit.datasets.mmeb import TASKS as MMEB_TASKS

    for task, spec in MMEB_TASKS.items():
        files = (f"{task}.jsonl", f"{task}_corpus.jsonl") if spec.scope == "global" else (f"{task}.jsonl",)
        if task.startswith("ViDoRe_"):
            source = f"vidore/{task.removeprefix('ViDoRe_')} (Hugging Face, ViDoRe benchmark)"
        elif task.startswith("VisRAG_"):
            source = f"openbmb/VisRAG-Ret-Test-{task.removeprefix('VisRAG_')} (Hugging Face)"
        elif spec.kind == "video_retrieval":
            source = "TIGER-Lab/MMEB-V2 (Hugging Face, video tasks)"
        else:
            source = "TIGER-Lab/MMEB-eval (Hugging Face; images in its images zip)"
        yield PrepareSpec(
            task,
            "mmeb",
            f"mmeb/{task}",
            files,
            source,
            "none (conversion not written)",
            f"put {' and '.join('{folder}/' + f for f in files)} there, in the record format of "
            "evalkit/datasets/mmeb.py (docs/retrieval.md), media paths relative to {folder}",
        )


# Kimi-Audio-Evalkit benchmarks: (name, task of the kimi-audio class, where the data is published)
KIMI_AUDIO = (
    ("LibriSpeech-test-clean", "asr", "openslr/librispeech_asr (Hugging Face, clean/test)"),
    ("LibriSpeech-test-other", "asr", "openslr/librispeech_asr (Hugging Face, other/test)"),
    ("Fleurs-en", "asr", "google/fleurs (Hugging Face, en_us/test)"),
    ("Fleurs-zh", "asr", "google/fleurs (Hugging Face, cmn_hans_cn/test)"),
    ("AISHELL-1", "asr", "https://www.openslr.org/33/ (test set)"),
    ("MMAU-test-mini", "mqa", "https://github.com/Sakshi113/MMAU (test-mini)"),
    ("VoiceBench-openbookqa", "mqa", "hlt-lab/voicebench (Hugging Face, openbookqa)"),
    ("VoiceBench-alpacaeval", "openqa", "hlt-lab/voicebench (Hugging Face, alpacaeval)"),
    ("VoiceBench-commoneval", "openqa", "hlt-lab/voicebench (Hugging Face, commoneval)"),
    ("VoiceBench-advbench", "openqa", "hlt-lab/voicebench (Hugging Face, advbench)"),
    ("VoiceBench-sd-qa", "refqa", "hlt-lab/voicebench (Hugging Face, sd-qa)"),
    ("OpenAudioBench", "refqa", "baichuan-inc/OpenAudioBench (Hugging Face)"),
)


def _other_specs() -> Iterator[PrepareSpec]:
    for name, task, source in KIMI_AUDIO:
        yield PrepareSpec(
            name,
            "kimi-audio",
            f"kimi_audio/{name}",
            (f"{name}.jsonl",),
            source,
            "none (conversion not written)",
            f"put {{folder}}/{name}.jsonl there in Kimi-Audio-Evalkit's JSONL (index, audio_path relative to "
            f"{{folder}}, question, answer, subset; task {task}), with the audio files under {{folder}}",
        )
    yield PrepareSpec(
        "Clotho-evaluation",
        "audio-caption",
        "clotho",
        ("clotho_captions_evaluation.csv",),
        "https://zenodo.org/records/4783391 (Clotho v2.1)",
        "none (conversion not written)",
        "put Clotho v2.1's clotho_captions_evaluation.csv at {folder}/ and its evaluation WAVs in {folder}/evaluation/",
    )


def _specs() -> dict[str, PrepareSpec]:
    out: dict[str, PrepareSpec] = {}
    video = (
        PrepareSpec(
            "MVBench",
            "video-qa",
            "mvbench",
            ("MVBench.jsonl",),
            "OpenGVLab/MVBench (Hugging Face)",
            "sha256 and size of each file as the hub lists it at download time (no official list)",
            "download the Hugging Face dataset OpenGVLab/MVBench, put its json/ folder at {folder}/raw/json and "
            "unzip its video/*.zip into {folder}/raw/video",
            inputs=("raw/json",),
            fetch=_mvbench_fetch,
            convert=lambda folder: convert_mvbench(folder / "raw", folder),
        ),
        PrepareSpec(
            "Video-MME",
            "video-qa",
            "videomme",
            ("Video-MME.jsonl",),
            "lmms-lab/Video-MME (Hugging Face)",
            "sha256 and size of each file as the hub lists it at download time (no official list)",
            "download the Hugging Face dataset lmms-lab/Video-MME, put videomme/test-00000-of-00001.parquet at "
            "{folder}/raw/videomme/ and unzip videos_chunked_*.zip into {folder} "
            "(videos at {folder}/data/<videoID>.mp4)",
            inputs=("raw/videomme",),
            fetch=_videomme_fetch,
            convert=_videomme_convert,
        ),
    )
    for spec in (*_vlm_specs(), *video, *_mmeb_specs(), *_other_specs()):
        if spec.name in out:
            raise ConfigError(f"prepare table: {spec.name!r} is listed twice")
        out[spec.name] = spec
    return out


_SPECS: dict[str, PrepareSpec] = {}


def specs() -> dict[str, PrepareSpec]:
    """Name -> PrepareSpec of every benchmark ``prepare`` knows (built on first use: no import-time work)."""
    if not _SPECS:
        _SPECS.update(_specs())
    return _SPECS


# ---------------------------------------------------------------- the command


def resolve(cfg: Config, name: str) -> tuple[PrepareSpec, Path]:
    """The spec and data folder for ``--dataset name``: a config entry (its ``task``, else its name) or a table name."""
    table = specs()
    entry = cfg.datasets.get(name)
    if entry is None:
        if name not in table:
            import difflib

            close = difflib.get_close_matches(name, [*cfg.datasets, *table], n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"prepare: unknown dataset {name!r}{hint} (prepare knows: {', '.join(sorted(table))})")
        return table[name], cfg.dataset_root / table[name].folder
    # a benchmark named by the entry's task (vlm-tsv, video-qa, mmeb), else by the entry's own name (kimi-audio)
    keys = [str(k) for k in (entry.options.get("task"), name) if k]
    spec = next((table[k] for k in keys if k in table and table[k].dataset_class == entry.cls), None)
    if spec is None:
        raise ConfigError(
            f"prepare: dataset {name} ({entry.cls}) has no prepare step; its files are read as configured "
            f"(prepare knows: {', '.join(sorted(table))})"
        )
    root = entry.options.get("root")
    folder = cfg.dataset_root / (spec.folder if root is None else str(root))
    return spec, folder.resolve()


def prepare(
    spec: PrepareSpec, folder: Path, *, force: bool = False, fetcher: Fetcher | None = None, label: str = ""
) -> str:
    """Make ``spec``'s files exist under ``folder``: fetch what is missing, verify, convert; returns a summary.

    Raises:
        ConfigError: one line: the missing file, the source, and what to put where (offline, not written yet,
            a checksum mismatch, or a missing extra).
    """
    label = label or spec.name
    expected = [folder / f for f in spec.files]
    missing = [p for p in expected if not p.exists()]
    if spec.fetch is None or spec.convert is None:
        if not missing:
            return f"{label}: present: {', '.join(str(p) for p in expected)} (not verified: no checksum known)"
        raise ConfigError(
            f"{label}: {missing[0]} is missing; automatic download/conversion is not implemented: "
            f"{spec.manual.format(folder=folder)} (source: {spec.source})"
        )
    inputs_ready = bool(spec.inputs) and all((folder / i).exists() for i in spec.inputs)
    if force or not inputs_ready:
        try:
            spec.fetch(fetcher or Fetcher(), folder)
        except Offline as exc:
            what = missing[0] if missing else expected[0]
            raise ConfigError(
                f"{label}: {what} is missing and {spec.source} cannot be reached ({exc}); "
                f"{spec.manual.format(folder=folder)}, then rerun: python run.py prepare --dataset {label}"
            ) from None
    summary = spec.convert(folder)
    still = [p for p in expected if not p.exists()]
    if still:
        raise ConfigError(f"{label}: conversion did not produce {still[0]}")
    return f"{label}: {summary}"


def run_prepare(cfg: Config, names: list[str], *, force: bool = False, fetcher: Fetcher | None = None) -> int:
    """The ``prepare`` command: prepare each named dataset, printing one line each; returns the exit status."""
    for name in names:
        spec, folder = resolve(cfg, name)
        print(prepare(spec, folder, force=force, fetcher=fetcher, label=name))
    return 0
