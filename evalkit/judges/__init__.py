"""Judges: the built-in ones are lazy registry entries, imported when a run first uses one."""

from evalkit.judges.base import JUDGES, Judge, JudgeContext, JudgeFailure, Scored

#: class name -> "module:class"; each module also registers its class by decorator (tests check they agree)
BUILTIN = {
    "asr": "evalkit.judges.asr:ASRJudge",
    "audio-qa": "evalkit.judges.audio_qa:AudioQAJudge",
    "caption-agreement": "evalkit.judges.proxy:CaptionAgreementJudge",
    "captioning": "evalkit.judges.captioning:CaptionMetricsJudge",
    "choice": "evalkit.judges.choice:ChoiceJudge",
    "coherence-llm": "evalkit.judges.coherence:CoherenceJudge",
    "exact-match": "evalkit.judges.exact_match:ExactMatchJudge",
    "ifeval": "evalkit.judges.ifeval:IFEvalJudge",
    "mcq-circular": "evalkit.judges.mcq:CircularChoiceJudge",
    "mme": "evalkit.judges.yes_no:MMEJudge",
    "retrieval": "evalkit.judges.retrieval:RetrievalJudge",
    "vlm-qa": "evalkit.judges.mcq:VLMQAJudge",
    "yes-no": "evalkit.judges.yes_no:YesNoJudge",
}
JUDGES.lazy_table(BUILTIN)

__all__ = ["BUILTIN", "JUDGES", "Judge", "JudgeContext", "JudgeFailure", "Scored"]
