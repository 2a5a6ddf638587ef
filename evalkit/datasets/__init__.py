"""Dataset formats: the built-in ones are lazy registry entries, imported when a run first uses one."""

from evalkit.datasets.base import DATASETS, Dataset, LoadResult

#: class name -> "module:class"; each module also registers its class by decorator (tests check they agree)
BUILTIN = {
    "audio-caption": "evalkit.datasets.audio_caption:AudioCaptionDataset",
    "ifeval": "evalkit.datasets.ifeval:IFEvalDataset",
    "interleaved": "evalkit.datasets.interleaved:InterleavedDataset",
    "kimi-audio": "evalkit.datasets.kimi_audio:KimiAudioDataset",
    "mcq": "evalkit.datasets.generic:MCQDataset",
    "mmeb": "evalkit.datasets.mmeb:MMEBDataset",
    "qa": "evalkit.datasets.generic:QADataset",
    "video-qa": "evalkit.datasets.video_qa:VideoQADataset",
    "vlm-tsv": "evalkit.datasets.vlm_tsv:VLMTsvDataset",
}
DATASETS.lazy_table(BUILTIN)

__all__ = ["BUILTIN", "DATASETS", "Dataset", "LoadResult"]
