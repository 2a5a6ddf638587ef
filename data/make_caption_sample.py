"""Build the small bundled audio-captioning sample (Clotho-v2 layout) with real, synthesised clips.

It writes, under ``--out`` (default ``data/caption_sample``):

* ``captions.csv``: Clotho's header ``file_name,caption_1,...,caption_5`` and one row per clip;
* ``audio/*.wav``: six clips of at most 2.5 s, 16 kHz mono 16-bit: sox-synthesised tones, beeps, a sweep and
  noise, and espeak-ng speech (one clip with noise under it);
* ``MANIFEST.json``: size and sha256 of every file, and the versions of the tools used.

The output is deterministic: sox runs in repeatable mode (``-R``: fixed noise seed) without dither (``-D``),
espeak-ng uses a fixed voice and speed, and WAV files carry no timestamps. Re-running on the same machine
gives byte-identical files.

System tools: sox and espeak-ng (``apt-get install sox espeak-ng``). No Python packages beyond the standard
library.

Usage: ``python data/make_caption_sample.py [--out data/caption_sample]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RATE = "16000"
SOX = ["sox", "-R", "-D"]  # repeatable (fixed seed for noise), no dither
FORMAT = ["-r", RATE, "-c", "1", "-b", "16"]
VOICE = "en-us"
WORDS_PER_MINUTE = "170"
MAX_SECONDS = 2.5


def run(cmd: list[str]) -> str:
    """Run a command with a time limit, returning its stdout; raise with its stderr if it fails."""
    res = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{res.stderr.decode(errors='replace')[-2000:]}")
    return res.stdout.decode(errors="replace")


def synth(dst: Path, seconds: float, *effects: str) -> None:
    """A sox ``synth`` clip: ``effects`` start with the synth type and its parameters."""
    run([*SOX, "-n", *FORMAT, str(dst), "synth", str(seconds), *effects])


def speech(dst: Path, text: str, tmp: Path) -> None:
    """espeak-ng speech, silence trimmed to 0.1 s at both ends, as 16 kHz mono."""
    raw = tmp / "raw.wav"
    run(["espeak-ng", "-v", VOICE, "-s", WORDS_PER_MINUTE, "-w", str(raw), text])
    cut = ["silence", "1", "0.02", "0.5%"]
    run([*SOX, str(raw), *FORMAT, str(dst), *cut, "reverse", *cut, "reverse", "pad", "0.1", "0.1"])


def tone(dst: Path, tmp: Path) -> None:
    synth(dst, 2.0, "sine", "440", "fade", "0.05", "2", "0.05", "vol", "0.5")


def beeps(dst: Path, tmp: Path) -> None:
    beep, gap = tmp / "beep.wav", tmp / "gap.wav"
    synth(beep, 0.2, "sine", "1000", "fade", "0.01", "0.2", "0.01", "vol", "0.5")
    synth(gap, 0.3, "sine", "0", "vol", "0")
    run([*SOX, str(beep), str(gap), str(beep), str(gap), str(beep), *FORMAT, str(dst)])


def rain(dst: Path, tmp: Path) -> None:
    synth(dst, 2.0, "pinknoise", "fade", "0.5", "2", "0.7", "vol", "0.4")


def train(dst: Path, tmp: Path) -> None:
    speech(dst, "The train to Boston leaves at nine.", tmp)


def sweep(dst: Path, tmp: Path) -> None:
    synth(dst, 2.0, "sine", "200-2000", "fade", "0.05", "2", "0.05", "vol", "0.5")


def hello_in_noise(dst: Path, tmp: Path) -> None:
    voice, noise = tmp / "voice.wav", tmp / "noise.wav"
    speech(voice, "Hello, can you hear me?", tmp)
    seconds = run(["sox", "--i", "-D", str(voice)]).strip()
    synth(noise, float(seconds), "brownnoise", "vol", "0.08")
    run([*SOX, "-m", str(voice), str(noise), *FORMAT, str(dst)])


@dataclass(frozen=True)
class Clip:
    """One clip of the sample: its file name, how it is made, and five reference captions."""

    name: str
    make: Callable[[Path, Path], None]
    captions: tuple[str, str, str, str, str]


CLIPS = (
    Clip(
        "tone_a440.wav",
        tone,
        (
            "A steady high pitched tone plays without changing.",
            "A single electronic beep holds one note for two seconds.",
            "A pure tone sounds continuously at the same pitch.",
            "An electronic tone rings steadily and then stops.",
            "A constant humming tone is played at one pitch.",
        ),
    ),
    Clip(
        "beeps_three.wav",
        beeps,
        (
            "Three short beeps sound one after another.",
            "An electronic device beeps three times in a row.",
            "A series of three quick high beeps with pauses between them.",
            "Short identical beeps repeat three times.",
            "A machine makes three brief beeping sounds.",
        ),
    ),
    Clip(
        "noise_rain.wav",
        rain,
        (
            "A steady hiss like rain falling fills the background.",
            "Static noise rises and then fades away.",
            "A constant rushing sound similar to heavy rain.",
            "Noise plays softly and then fades out.",
            "A hissing sound like wind or rain continues.",
        ),
    ),
    Clip(
        "speech_train.wav",
        train,
        (
            "A man announces that the train to Boston leaves at nine.",
            "A synthetic voice says a train's departure time.",
            "A computer voice speaks one sentence about a train.",
            "Someone says the train to Boston departs at nine o'clock.",
            "A robotic male voice gives a short announcement.",
        ),
    ),
    Clip(
        "sweep_up.wav",
        sweep,
        (
            "A tone rises steadily in pitch from low to high.",
            "An electronic sound sweeps upward.",
            "A whistle-like tone climbs higher and higher.",
            "A rising, siren-like sound glides up in pitch.",
            "The pitch of a single tone increases smoothly.",
        ),
    ),
    Clip(
        "speech_noise.wav",
        hello_in_noise,
        (
            "A voice asks if someone can hear them over background noise.",
            "A man says hello and asks a question while static plays.",
            "Someone speaks over a low rumbling noise.",
            "A synthetic voice says hello, can you hear me, with noise behind it.",
            "A person talks briefly as a rumble continues in the background.",
        ),
    ),
)


def tool_versions() -> dict[str, str]:
    """First line of each tool's version output (espeak-ng's data folder left out: it is the machine's)."""
    lines = {"espeak-ng": run(["espeak-ng", "--version"]), "sox": run(["sox", "--version"])}
    versions = {name: " ".join(text.splitlines()[0].split("Data at:")[0].split()) for name, text in lines.items()}
    versions["python"] = platform.python_version()
    return versions


def entry(root: Path, path: Path) -> dict[str, object]:
    data = path.read_bytes()
    return {"path": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def build(out: Path) -> None:
    """Delete what an earlier run wrote under ``out`` and rebuild the sample."""
    for old in (out / "audio", out / "captions.csv", out / "MANIFEST.json"):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    (out / "audio").mkdir(parents=True)
    for clip in CLIPS:
        with tempfile.TemporaryDirectory(prefix="caption-sample-") as tmp:
            dst = out / "audio" / clip.name
            clip.make(dst, Path(tmp))
            seconds = float(run(["sox", "--i", "-D", str(dst)]))
            if seconds > MAX_SECONDS:
                raise ValueError(f"{clip.name} lasts {seconds:.2f} s, more than {MAX_SECONDS} s")
    with (out / "captions.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["file_name", *(f"caption_{i}" for i in range(1, 6))])
        writer.writerows([clip.name, *clip.captions] for clip in CLIPS)
    files = [out / "captions.csv", *(out / "audio" / c.name for c in CLIPS)]
    manifest = {
        "generator": "data/make_caption_sample.py",
        "tools": tool_versions(),
        "files": [entry(out, p) for p in files],
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(CLIPS)} clips and captions.csv under {out} ({total / 1024:.0f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the bundled audio-captioning sample with synthesised clips.")
    parser.add_argument("--out", type=Path, default=Path("data/caption_sample"), help="output folder (%(default)s)")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
