"""Captioning metrics over the whole corpus: CIDEr-D, BLEU-1..4, ROUGE-L, METEOR, SPICE, SPIDEr and FENSE.

These are corpus-level metrics (CIDEr-D's IDF comes from every clip's references; corpus BLEU sums counts;
METEOR aggregates statistics), so ``prepare`` computes everything once for the corpus and folds a hash of it
into the judge identity; ``score`` hands out each sample's values and ``summarize`` gives the corpus value of
any group of samples.

Reference implementations (values agree to 1e-6, see tests/test_captioning.py):

- tokenisation: ``ptb`` (default) runs pycocoevalcap's Stanford PTBTokenizer jar (Java) with the same flags
  (``-preserveLines -lowerCase``) and drops the same punctuation tokens, as the COCO and DCASE caption
  evaluations do; ``simple`` is a pure-Python approximation (lower case, punctuation removed, clitics such
  as 's and n't split off) that differs from PTB on brackets, quotes and some Unicode punctuation;
- CIDEr-D: our vectorised :func:`evalkit.judges.cider.cider_d`, equal to pycocoevalcap's ``Cider``;
- BLEU-1..4 (pycocoevalcap ``BleuScorer``, closest reference length): per-sample values are its per-image
  scores, the summary is corpus BLEU from summed counts (not the mean of sentence BLEU);
- ROUGE-L (pycocoevalcap ``Rouge``): mean of per-sample scores;
- METEOR 1.5: pycocoevalcap's jar and protocol (``-l en -norm``), driven with a time limit: per-sample
  segment scores, and the jar's aggregate over each group as the summary;
- SPICE 1.0: pycocoevalcap's jar; it needs Stanford CoreNLP 3.6.0, which pycocoevalcap downloads on first
  use. Evalkit never downloads during an evaluation: without those jars SPICE (and SPIDEr) are reported
  unavailable, with the reason, never as 0;
- SPIDEr: (CIDEr-D + SPICE) / 2 per sample, only where SPICE is available;
- FENSE (Zhou et al. 2022): mean cosine of sentence embeddings between candidate and references, times
  ``1 - penalty`` when the fluency-error detector's probability exceeds the threshold. Both models come from
  the hub: they are loaded from configured local paths, otherwise FENSE is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt

from evalkit.errors import ConfigError, missing_extra
from evalkit.judges.base import ACCURACY, JUDGES, Judge, JudgeContext, JudgeFailure, MetricSpec, Scored
from evalkit.judges.cider import cider_d
from evalkit.report import BREAKDOWN_KEYS, Outcome, mean_of
from evalkit.types import Prediction, Sample, stable_hash

METRICS = ("cider_d", "spider", "spice", "meteor", "rouge_l", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "fense")
TOKEN_METRICS = ("cider_d", "spider", "spice", "meteor", "rouge_l", "bleu_1", "bleu_2", "bleu_3", "bleu_4")
# pycocoevalcap's PTBTokenizer drops exactly these tokens (upper-case brackets never match -lowerCase output).
PTB_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
_SIMPLE_DROP = re.compile(r"[^\w\s'-]")
_CLITIC = re.compile(r"(?<=\w)('s|'re|'ll|'ve|'m|'d|n't)\b")
FloatArray = npt.NDArray[np.float64]
Encoder = Callable[[list[str]], Any]


class MetricUnavailable(Exception):
    """A metric cannot be computed on this machine; the message says why and what would make it work."""


@dataclass(frozen=True)
class CaptioningOptions:
    """Config keys of the captioning judge.

    Attributes:
        tokenizer: ``ptb`` (pycocoevalcap's Stanford PTBTokenizer, needs Java) or ``simple`` (pure Python).
        java: the Java executable for PTB, METEOR and SPICE.
        java_timeout_s: time limit of each Java run; a run past it is killed and its metric reported unavailable.
        fense_sbert: FENSE's sentence model: a local sentence-transformers folder (FENSE uses
            paraphrase-TinyBERT-L6-v2), or ``minilm`` for the packaged all-MiniLM-L6-v2 (not FENSE's own).
        fense_echecker: local path of the fluency-error detector checkpoint (echecker_clotho_audiocaps_base.ckpt).
        fense_echecker_encoder: local folder with the detector encoder's config and tokenizer (bert-base-uncased).
        fense_error_threshold: an error probability above this is a fluency error.
        fense_penalty: the fraction of the similarity taken away from a sentence with a fluency error.
        fense_batch_size: sentences per forward pass of the detector.
        concurrency: samples handed out at once (scores are precomputed; this is cheap).
    """

    tokenizer: str = "ptb"
    java: str = "java"
    java_timeout_s: float = 600.0
    fense_sbert: str = ""
    fense_echecker: str = ""
    fense_echecker_encoder: str = ""
    fense_error_threshold: float = 0.9
    fense_penalty: float = 0.9
    fense_batch_size: int = 32
    concurrency: int = 64


# ---------------------------------------------------------------- pycocoevalcap files and Java


def coco_dir(sub: str) -> Path:
    """The folder of a pycocoevalcap submodule (``meteor``, ``spice``, ``tokenizer``), where its jars lie.

    Raises:
        ConfigError: pycocoevalcap is not installed.
    """
    try:
        spec = importlib.util.find_spec(f"pycocoevalcap.{sub}")
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing_extra("pycocoevalcap", "captioning")
    return Path(next(iter(spec.submodule_search_locations)))


def _java_missing(java: str) -> str:
    if shutil.which(java):
        return ""
    return f"Java not found ({java!r}): install a Java runtime (apt-get install default-jre-headless)"


class _LineProcess:
    """A line-protocol subprocess (METEOR's ``-stdio``) with a deadline: a stuck JVM is killed, not waited on."""

    def __init__(self, cmd: list[str], cwd: Path, timeout_s: float) -> None:
        self._err: IO[bytes] = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        self._expired = threading.Event()
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        self._timeout_s = timeout_s

    def _expire(self) -> None:
        self._expired.set()  # before the kill, so that a reader woken by it sees why
        self.proc.kill()

    def ask(self, line: str, replies: int = 1) -> list[str]:
        """Send one line, read ``replies`` lines back."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except OSError:
            raise MetricUnavailable(self._why()) from None
        out = []
        for _ in range(replies):
            raw = self.proc.stdout.readline()
            if not raw:
                raise MetricUnavailable(self._why())
            out.append(raw.decode("utf-8", errors="replace").strip())
        return out

    def _why(self) -> str:
        if self._expired.is_set():
            return f"stopped after the {self._timeout_s:g} s time limit (java_timeout_s)"
        try:
            self.proc.wait(timeout=2)  # it closed its output: let it finish exiting, for the status
        except subprocess.TimeoutExpired:
            pass
        self._err.seek(0)
        tail = self._err.read().decode("utf-8", errors="replace").strip().splitlines()[-3:]
        return f"exited with status {self.proc.returncode}: {' | '.join(tail) or 'no message'}"

    def close(self) -> None:
        self._timer.cancel()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()


# ---------------------------------------------------------------- tokenisation


def ptb_tokenize(texts: Sequence[str], *, java: str = "java", timeout_s: float = 600.0) -> list[str]:
    """Tokenise like pycocoevalcap's ``PTBTokenizer``: lower case, PTB tokens, its punctuation tokens dropped.

    Line breaks inside a text become spaces (so that lines stay aligned), and the files are UTF-8.

    Raises:
        MetricUnavailable: Java is missing, fails or runs past ``timeout_s``.
    """
    if not texts:
        return []
    if why := _java_missing(java):
        raise MetricUnavailable(why)
    jar = coco_dir("tokenizer") / "stanford-corenlp-3.4.1.jar"
    with tempfile.TemporaryDirectory(prefix="evalkit-ptb-") as tmp:
        src = Path(tmp) / "sentences.txt"
        src.write_text("".join(" ".join(t.splitlines()) + "\n" for t in texts), encoding="utf-8")
        cmd = [java, "-Dfile.encoding=UTF-8", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer"]
        cmd += ["-preserveLines", "-lowerCase", "-encoding", "UTF-8", str(src)]
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise MetricUnavailable(f"PTB tokenizer ran past {timeout_s:g} s (java_timeout_s)") from None
    lines = res.stdout.decode("utf-8", errors="replace").split("\n")
    if res.returncode != 0 or len(lines) < len(texts):
        err = res.stderr.decode("utf-8", errors="replace").strip().splitlines()[-3:]
        raise MetricUnavailable(f"PTB tokenizer failed (status {res.returncode}): {' | '.join(err)}")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PTB_PUNCTUATION) for line in lines[: len(texts)]]


def simple_tokenize(text: str) -> str:
    """Pure-Python approximation of the PTB tokenisation: lower case, clitics split, punctuation removed."""
    text = _CLITIC.sub(r" \1", _SIMPLE_DROP.sub(" ", text.lower()))
    return " ".join(w for w in (w.strip("-") for w in text.split()) if w and w != "'")


# ---------------------------------------------------------------- BLEU, ROUGE-L, METEOR, SPICE


def bleu(cands: Sequence[str], refs: Sequence[Sequence[str]]) -> tuple[list[list[float]], list[dict[str, Any]]]:
    """pycocoevalcap BLEU-1..4: per-sample scores (``[order][sample]``) and each sample's counts."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=4)
    for c, r in zip(cands, refs, strict=True):
        scorer += (c, list(r))
    _, per = scorer.compute_score(option="closest", verbose=0)
    counts = [
        {
            "testlen": t["testlen"],
            "reflen": min((abs(length - t["testlen"]), length) for length in t["reflen"])[1],
            "guess": list(t["guess"]),
            "correct": list(t["correct"]),
        }
        for t in scorer.ctest
    ]
    return [list(map(float, p)) for p in per], counts


def corpus_bleu(counts: Sequence[dict[str, Any]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n from summed per-sample counts, with pycocoevalcap's smoothing constants."""
    tiny, small = 1e-15, 1e-9
    testlen = sum(c["testlen"] for c in counts)
    reflen = sum(c["reflen"] for c in counts)
    out, product = [], 1.0
    for k in range(n):
        product *= float(sum(c["correct"][k] for c in counts) + tiny) / (sum(c["guess"][k] for c in counts) + small)
        out.append(product ** (1.0 / (k + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        out = [x * math.exp(1 - 1 / ratio) for x in out]
    return out


def rouge_l(cands: Sequence[str], refs: Sequence[Sequence[str]]) -> list[float]:
    """pycocoevalcap ROUGE-L (beta 1.2, best precision and recall over the references) per sample."""
    from pycocoevalcap.rouge.rouge import Rouge

    rouge = Rouge()
    return [float(rouge.calc_score([c], list(r))) for c, r in zip(cands, refs, strict=True)]


def _meteor_cmd(java: str) -> list[str]:
    return [java, "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]


def meteor(
    cands: Sequence[str],
    refs: Sequence[Sequence[str]],
    groups: Sequence[Sequence[int]] = (),
    *,
    java: str = "java",
    timeout_s: float = 600.0,
) -> tuple[list[float], list[str], float, list[float]]:
    """METEOR 1.5 through pycocoevalcap's jar and protocol.

    Returns:
        per-sample scores, per-sample statistics lines, the corpus aggregate, and the aggregate of each group
        (index lists into the corpus).

    Raises:
        MetricUnavailable: Java is missing, fails or runs past ``timeout_s``.
    """
    if why := _java_missing(java):
        raise MetricUnavailable(why)
    proc = _LineProcess(_meteor_cmd(java), coco_dir("meteor"), timeout_s)
    try:
        stats = []
        for c, r in zip(cands, refs, strict=True):
            hyp = c.replace("|||", "").replace("  ", " ")
            line = " ||| ".join(("SCORE", " ||| ".join(x.replace("|||", "") for x in r), hyp))
            stats.append(proc.ask(line)[0])
        replies = proc.ask(" ||| ".join(("EVAL", *stats)), len(stats) + 1)
        per = [float(x) for x in replies[:-1]]
        aggregates = [float(proc.ask(" ||| ".join(("EVAL", *(stats[i] for i in g))), len(g) + 1)[-1]) for g in groups]
    except ValueError as exc:  # a reply that is not a number
        raise MetricUnavailable(f"unexpected METEOR reply: {exc}") from None
    finally:
        proc.close()
    return per, stats, float(replies[-1]), aggregates


def meteor_aggregate(stats: Sequence[str], *, java: str = "java", timeout_s: float = 600.0) -> float:
    """The jar's aggregate METEOR of stored per-sample statistics lines."""
    if why := _java_missing(java):
        raise MetricUnavailable(why)
    proc = _LineProcess(_meteor_cmd(java), coco_dir("meteor"), timeout_s)
    try:
        return float(proc.ask(" ||| ".join(("EVAL", *stats)), len(stats) + 1)[-1])
    finally:
        proc.close()


def spice(
    cands: Sequence[str], refs: Sequence[Sequence[str]], *, java: str = "java", timeout_s: float = 600.0
) -> list[float]:
    """SPICE 1.0 F-scores per sample (NaN where SPICE gives none), through pycocoevalcap's jar.

    Raises:
        MetricUnavailable: CoreNLP 3.6.0 is not next to the jar (checked first, nothing is downloaded), or
            Java is missing, fails or runs past ``timeout_s``.
    """
    folder = coco_dir("spice")
    missing = [j for j in CORENLP_JARS if not (folder / "lib" / j).is_file()]
    if missing:
        raise MetricUnavailable(
            f"SPICE needs Stanford CoreNLP 3.6.0 ({', '.join(missing)}) in {folder / 'lib'}; pycocoevalcap "
            "downloads it on first use, which evalkit never does during an evaluation: copy both jars there "
            "from stanford-corenlp-full-2015-12-09.zip"
        )
    if why := _java_missing(java):
        raise MetricUnavailable(why)
    import json

    with tempfile.TemporaryDirectory(prefix="evalkit-spice-") as tmp:
        src, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        data = [{"image_id": i, "test": c, "refs": list(r)} for i, (c, r) in enumerate(zip(cands, refs, strict=True))]
        src.write_text(json.dumps(data), encoding="utf-8")
        cmd = [java, "-jar", "-Xmx8G", "spice-1.0.jar", str(src), "-out", str(out), "-subset", "-silent"]
        try:
            res = subprocess.run(cmd, cwd=folder, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise MetricUnavailable(f"SPICE ran past {timeout_s:g} s (java_timeout_s)") from None
        if res.returncode != 0 or not out.is_file():
            err = res.stderr.decode("utf-8", errors="replace").strip().splitlines()[-3:]
            raise MetricUnavailable(f"SPICE failed (status {res.returncode}): {' | '.join(err)}")
        results = json.loads(out.read_text(encoding="utf-8"))
    by_id = {int(r["image_id"]): r["scores"]["All"]["f"] for r in results}
    return [float(by_id[i]) if by_id.get(i) is not None else math.nan for i in range(len(cands))]


# ---------------------------------------------------------------- FENSE


def fense_scores(
    cands: Sequence[str],
    refs: Sequence[Sequence[str]],
    encode: Encoder,
    error_prob: Callable[[list[str]], Any],
    *,
    threshold: float = 0.9,
    penalty: float = 0.9,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """FENSE per sample: (sentence similarity, fluency-error probability, FENSE).

    Args:
        cands: raw candidate captions (FENSE embeds text as written).
        refs: raw references of each candidate.
        encode: texts -> L2-normalised embeddings, one row per text.
        error_prob: texts -> probability that each has a fluency error.
        threshold: a probability above it is an error.
        penalty: the fraction of the similarity an error takes away.
    """
    flat = [r for rs in refs for r in rs]
    cand_vec = np.asarray(encode(list(cands)), dtype=np.float64)
    ref_vec = np.asarray(encode(flat), dtype=np.float64) if flat else np.zeros((0, cand_vec.shape[-1]))
    bounds = np.cumsum([0, *(len(r) for r in refs)])
    sim = np.array([float((ref_vec[bounds[i] : bounds[i + 1]] @ cand_vec[i]).mean()) for i in range(len(cands))])
    prob = np.asarray(error_prob(list(cands)), dtype=np.float64).reshape(len(cands))
    return sim, prob, sim * (1.0 - penalty * (prob > threshold))


def load_sentence_model(spec: str) -> Encoder:
    """FENSE's sentence model: ``minilm`` (packaged) or a local sentence-transformers folder."""
    if spec == "minilm":
        from evalkit.embedded.minilm import MiniLMEmbedder

        return MiniLMEmbedder().encode
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise MetricUnavailable(f"FENSE sentence model folder not found: {path} (fense_sbert)")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise missing_extra("sentence-transformers", "embedded") from None
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(texts: list[str]) -> Any:
        return model.encode(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)

    return encode


def load_error_detector(ckpt: Path, encoder_dir: Path, batch_size: int = 32) -> Callable[[list[str]], Any]:
    """FENSE's fluency-error detector from a local checkpoint (``model_type``, ``num_classes``, ``state_dict``).

    The encoder is built from the config in ``encoder_dir`` and takes the checkpoint's weights; the error
    probability is the sigmoid of the last class, on texts padded to 64 tokens, as in FENSE.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer
    except ImportError:
        raise missing_extra("transformers", "embedded") from None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        config = AutoConfig.from_pretrained(str(encoder_dir), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), local_files_only=True)
    except Exception as exc:
        raise MetricUnavailable(f"cannot load the FENSE error detector: {type(exc).__name__}: {exc}") from None

    class Detector(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_config(config)
            self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
            self.clf = torch.nn.Linear(config.hidden_size, int(state["num_classes"]))

    model = Detector()
    missing, unexpected = model.load_state_dict(state["state_dict"], strict=False)
    wrong = [k for k in [*missing, *unexpected] if not k.endswith("position_ids")]
    if wrong:
        raise MetricUnavailable(f"{ckpt} does not fit the encoder in {encoder_dir}: {', '.join(wrong[:4])}")
    model.eval()

    def error_prob(texts: list[str]) -> Any:
        out = [np.zeros(0)]
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[i : i + batch_size], truncation=True, padding="max_length", max_length=64, return_tensors="pt"
            )
            with torch.no_grad():
                hidden = model.encoder(**batch).last_hidden_state[:, 0, :]
                out.append(torch.sigmoid(model.clf(hidden))[:, -1].numpy().astype(np.float64))
        return np.concatenate(out)

    return error_prob


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- the judge


@dataclass
class _Corpus:
    """What ``prepare`` computed: per-sample scores and details, unavailable metrics, METEOR group values."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    meteor_groups: dict[frozenset[str], float] = field(default_factory=dict)
    digest: str = ""


def _groups(samples: Sequence[Sample]) -> list[list[int]]:
    """Index lists of every report group (``all`` and each breakdown value), as report rows form them."""
    found: dict[str, list[int]] = {"all": list(range(len(samples)))}
    for key in BREAKDOWN_KEYS:
        for i, s in enumerate(samples):
            if s.meta.get(key) not in (None, ""):
                found.setdefault(f"{key}={s.meta[key]}", []).append(i)
    return list(found.values())


@JUDGES.register("captioning")
class CaptionMetricsJudge(Judge):
    """Corpus-level captioning metrics against each sample's text references (Clotho: five per clip)."""

    Options = CaptioningOptions
    metrics = METRICS
    # CIDEr-D, SPIDEr and ROUGE-L are means of per-caption values (a missing caption scores 0); BLEU and METEOR are
    # corpus statistics of counts a missing caption does not have, SPICE/FENSE need external models: scored only
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        "cider_d": ACCURACY,
        "spider": ACCURACY,
        "rouge_l": ACCURACY,
        "meteor": MetricSpec(kind="corpus", resample=False),
        **{f"bleu_{i}": MetricSpec(kind="corpus") for i in range(1, 5)},
    }
    version = "captioning-v1"
    concurrency = 64
    options: CaptioningOptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        if self.options.tokenizer not in ("ptb", "simple"):
            raise ConfigError(f"judge {name}: tokenizer must be 'ptb' or 'simple', got {self.options.tokenizer!r}")
        self._corpus = _Corpus()

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["corpus"] = self._corpus.digest
        ident["unavailable"] = dict(sorted(self._corpus.unavailable.items()))
        return ident

    def describe(self) -> str:
        missing = "; ".join(f"{m} unavailable: {why}" for m, why in sorted(self._corpus.unavailable.items()))
        return f"{self.name} (captioning metrics {self.version}, tokenizer {self.options.tokenizer})" + (
            f"; {missing}" if missing else ""
        )

    def prepare(self, samples: Sequence[Sample], preds: dict[str, Prediction]) -> None:
        items = []
        for s in samples:
            pred = preds.get(s.id)
            refs = tuple(p.value for p in s.references if p.type == "text")
            if pred is not None and pred.ok and refs:
                items.append((s, pred.text, refs))
        self._corpus = self._compute(items)
        self._identity_hash = ""  # the corpus is part of the identity: hash it again

    def _compute(self, items: list[tuple[Sample, str, tuple[str, ...]]]) -> _Corpus:
        corpus = _Corpus(candidates={s.id: c for s, c, _ in items})
        ids = [s.id for s, _, _ in items]
        cands = [c for _, c, _ in items]
        refs = [r for _, _, r in items]
        corpus.digest = stable_hash([[i, c, list(r)] for i, c, r in zip(ids, cands, refs, strict=True)], 32)
        corpus.scores = {i: {} for i in ids}
        corpus.details = {i: {} for i in ids}
        if not items:
            return corpus
        coco_dir("bleu")  # a missing pycocoevalcap is a configuration error, raised before any work
        try:
            tok_c, tok_r = self._tokenize(cands, refs)
        except MetricUnavailable as exc:
            corpus.unavailable.update({m: f"tokenizer {self.options.tokenizer}: {exc}" for m in TOKEN_METRICS})
        else:
            self._token_metrics(corpus, ids, tok_c, tok_r, [s for s, _, _ in items])
        self._fense(corpus, ids, cands, refs)
        for i in ids:
            corpus.details[i]["unavailable"] = dict(corpus.unavailable)
        return corpus

    def _tokenize(self, cands: list[str], refs: list[tuple[str, ...]]) -> tuple[list[str], list[list[str]]]:
        flat = [*cands, *(r for rs in refs for r in rs)]
        if self.options.tokenizer == "ptb":
            tokens = ptb_tokenize(flat, java=self.options.java, timeout_s=self.options.java_timeout_s)
        else:
            tokens = [simple_tokenize(t) for t in flat]
        tok_c, rest = tokens[: len(cands)], tokens[len(cands) :]
        bounds = np.cumsum([0, *(len(r) for r in refs)])
        return tok_c, [rest[bounds[i] : bounds[i + 1]] for i in range(len(refs))]

    def _token_metrics(
        self, corpus: _Corpus, ids: list[str], cands: list[str], refs: list[list[str]], samples: list[Sample]
    ) -> None:
        cider = cider_d(cands, refs).per_sample
        bleus, counts = bleu(cands, refs)
        rouge = rouge_l(cands, refs)
        for j, i in enumerate(ids):
            corpus.scores[i].update({"cider_d": float(cider[j]), "rouge_l": rouge[j]})
            corpus.scores[i].update({f"bleu_{k + 1}": bleus[k][j] for k in range(4)})
            corpus.details[i].update({"candidate_tokens": cands[j], "reference_tokens": refs[j], "bleu": counts[j]})
        java, limit = self.options.java, self.options.java_timeout_s
        groups = _groups(samples)
        try:
            per, stats, _, aggregates = meteor(cands, refs, groups, java=java, timeout_s=limit)
        except MetricUnavailable as exc:
            corpus.unavailable["meteor"] = f"METEOR: {exc}"
        else:
            corpus.meteor_groups = {frozenset(ids[k] for k in g): v for g, v in zip(groups, aggregates, strict=True)}
            for j, i in enumerate(ids):
                corpus.scores[i]["meteor"] = per[j]
                corpus.details[i]["meteor_stats"] = stats[j]
        try:
            spice_f = spice(cands, refs, java=java, timeout_s=limit)
        except MetricUnavailable as exc:
            corpus.unavailable["spice"] = str(exc)
            corpus.unavailable["spider"] = "SPIDEr needs SPICE, which is unavailable"
            return
        for j, i in enumerate(ids):
            if math.isnan(spice_f[j]):
                corpus.details[i]["spice_missing"] = "SPICE gave no F-score for this sample"
                continue
            corpus.scores[i]["spice"] = spice_f[j]
            corpus.scores[i]["spider"] = (float(cider[j]) + spice_f[j]) / 2.0

    def _fense_models(self) -> tuple[Encoder, Callable[[list[str]], Any], dict[str, str]]:
        o = self.options
        if not (o.fense_sbert and o.fense_echecker and o.fense_echecker_encoder):
            raise MetricUnavailable(
                "FENSE skipped: its sentence model (paraphrase-TinyBERT-L6-v2) and fluency-error detector "
                "(echecker_clotho_audiocaps_base.ckpt on bert-base-uncased) come from the hub and are never "
                f"downloaded during an evaluation; set judges.{self.name}.fense_sbert, fense_echecker and "
                "fense_echecker_encoder to local copies"
            )
        ckpt, encoder_dir = Path(o.fense_echecker).expanduser(), Path(o.fense_echecker_encoder).expanduser()
        if not ckpt.is_file():
            raise MetricUnavailable(f"FENSE skipped: error detector checkpoint not found: {ckpt} (fense_echecker)")
        if not encoder_dir.is_dir():
            raise MetricUnavailable(f"FENSE skipped: encoder folder not found: {encoder_dir} (fense_echecker_encoder)")
        encode = load_sentence_model(o.fense_sbert)
        detect = load_error_detector(ckpt, encoder_dir, o.fense_batch_size)
        return encode, detect, {"echecker_sha256": _sha256(ckpt)}

    def _fense(self, corpus: _Corpus, ids: list[str], cands: list[str], refs: list[tuple[str, ...]]) -> None:
        try:
            encode, detect, facts = self._fense_models()
        except MetricUnavailable as exc:
            corpus.unavailable["fense"] = str(exc)
            return
        o = self.options
        sim, prob, value = fense_scores(
            cands, refs, encode, detect, threshold=o.fense_error_threshold, penalty=o.fense_penalty
        )
        corpus.digest = stable_hash([corpus.digest, facts], 32)
        for j, i in enumerate(ids):
            corpus.scores[i]["fense"] = float(value[j])
            corpus.details[i]["fense"] = {"sbert_sim": float(sim[j]), "error_prob": float(prob[j])}

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        if not any(p.type == "text" for p in sample.references):
            raise JudgeFailure(f"sample {sample.id} has no reference caption")
        if self._corpus.candidates.get(sample.id) != pred.text:
            raise JudgeFailure(f"sample {sample.id} was not in the corpus given to prepare(); corpus metrics need it")
        return Scored(scores=dict(self._corpus.scores[sample.id]), details=self._corpus.details[sample.id])

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        """Corpus BLEU from summed counts, the METEOR jar's aggregate, and the mean for the other metrics."""
        if metric.startswith("bleu_"):
            return corpus_bleu([o.details["bleu"] for o in scored])[int(metric[-1]) - 1]
        if metric == "meteor":
            key = frozenset(o.sample_id for o in scored)
            if key not in self._corpus.meteor_groups:
                stats = [o.details["meteor_stats"] for o in scored]
                o = self.options
                self._corpus.meteor_groups[key] = meteor_aggregate(stats, java=o.java, timeout_s=o.java_timeout_s)
            return self._corpus.meteor_groups[key]
        return mean_of(metric, scored)
