"""Read rate and wrong values of the judge-reply parser over the bundled table of real-shaped replies.

What it measures: every case of ``data/judge_replies/replies.yaml`` (a coherence-rubric reply, the values that
must be read and the criteria that must fail) is read with :func:`evalkit.judges.parse.read_scores` under the
coherence judge's spec (1-5 integers, its default aliases). Per criterion:

- ``read``: an expected value was read exactly;
- ``wrong``: a value was returned that differs from the expected one, or where a failure was expected;
- ``missed``: an expected value was not read (a failure where a value was due);
- ``failed as due``: a failure that was expected, with the expected reason fragment.

Read rate = read / criteria with an expected value. Goal (issue 9): 0 wrong values, read rate >= 0.95.

Run: ``python bench/judge_parse.py [--cases PATH] [--verbose]``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing evalkit
    sys.path.insert(0, str(REPO))

from evalkit.judges.coherence import COHERENCE_ALIASES  # noqa: E402
from evalkit.judges.parse import ScoreSpec, read_scores  # noqa: E402

CASES = REPO / "data" / "judge_replies" / "replies.yaml"


def classify(case: dict[str, Any], spec: ScoreSpec) -> list[tuple[str, str, str]]:
    """(criterion, outcome, detail) for each criterion of one case."""
    reading = read_scores(case["reply"], spec)
    want: dict[str, float] = case.get("scores") or {}
    fails: dict[str, str] = case.get("fails") or {}
    out = []
    for name in spec.names:
        got = reading.scores.get(name)
        if name in want:
            outcome = "read" if got == want[name] else ("wrong" if got is not None else "missed")
            out.append((name, outcome, f"want {want[name]}, got {got} {reading.errors.get(name, '')}"))
        else:
            frag = fails.get(name, "")
            if got is not None:
                out.append((name, "wrong", f"want failure {frag!r}, got {got}"))
            else:
                ok = frag in reading.errors.get(name, "")
                out.append((name, "failed as due" if ok else "failed, other reason", reading.errors[name]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=Path, default=CASES)
    p.add_argument("--verbose", action="store_true", help="print every criterion that was not read as due")
    args = p.parse_args(argv)
    cases = yaml.safe_load(args.cases.read_text(encoding="utf-8"))
    spec = ScoreSpec(("coherence", "style_consistency"), 1, 5, aliases=COHERENCE_ALIASES)
    counts: Counter[str] = Counter()
    by_rule: dict[str, Counter[str]] = {}
    for case in cases:
        for name, outcome, detail in classify(case, spec):
            counts[outcome] += 1
            by_rule.setdefault(case["rule"], Counter())[outcome] += 1
            if args.verbose and outcome not in ("read", "failed as due"):
                print(f"[{case['rule']}] {name}: {outcome}: {detail}\n    {case['reply'][:100]!r}")
    due = sum(len(c.get("scores") or {}) for c in cases)
    rate = counts["read"] / due if due else 0.0
    print(f"{'rule':<14} {'read':>5} {'missed':>6} {'wrong':>5} {'failed as due':>13} {'other reason':>12}")
    for rule, c in by_rule.items():
        print(
            f"{rule:<14} {c['read']:>5} {c['missed']:>6} {c['wrong']:>5} {c['failed as due']:>13}"
            f" {c['failed, other reason']:>12}"
        )
    print(f"\n{len(cases)} replies, {due} criteria with a value due, {sum(counts.values()) - due} due to fail")
    print(f"read rate: {counts['read']}/{due} = {rate:.3f}")
    print(f"wrong values: {counts['wrong']}")
    other = counts["failed, other reason"]
    print(f"failures with the expected reason: {counts['failed as due']}, other reason: {other}")
    print("goal met" if counts["wrong"] == 0 and rate >= 0.95 else "goal missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
