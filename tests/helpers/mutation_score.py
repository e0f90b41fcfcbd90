"""The mutation score per module group, read from `mutmut results --all true` on stdin.

Score = killed / (killed + survived). A timeout counts as killed (the mutant made the tests
hang), as does a worker killed by a signal at its CPU limit; "no tests" counts as survived (no
test runs the mutated function at all). Anything else (suspicious, skipped) is shown, not scored.
"""

from __future__ import annotations

import sys
from collections import Counter

GROUPS = {
    "app/ledger": "app.ledger.",
    "app/payments": "app.payments.",
    "app/domain/spending.py": "app.domain.spending.",
    "app/domain/purchases.py": "app.domain.purchases.",
}
KILLED = {"killed", "timeout", "segfault"}
SURVIVED = {"survived", "no tests"}


def group_of(mutant: str) -> str:
    return next((group for group, prefix in GROUPS.items() if mutant.startswith(prefix)), "other")


def line(label: str, counts: Counter[str]) -> str:
    killed = sum(counts[s] for s in KILLED)
    survived = sum(counts[s] for s in SURVIVED)
    scored = killed + survived
    score = f"{100 * killed / scored:5.1f}%" if scored else "    -"
    detail = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    return f"{label:<26} {score}  {killed}/{scored}  ({detail})"


def main() -> None:
    by_group: dict[str, Counter[str]] = {group: Counter() for group in GROUPS}
    survivors = []
    for raw in sys.stdin:
        name, sep, status = raw.strip().rpartition(": ")
        if not sep:
            continue
        by_group.setdefault(group_of(name), Counter())[status] += 1
        if status in SURVIVED:
            survivors.append(f"  {name}: {status}")
    total: Counter[str] = sum(by_group.values(), Counter())
    if survivors:
        print("Surviving mutants (`.venv/bin/mutmut show NAME` for the diff):")
        print("\n".join(survivors))
    print("Mutation score: killed / (killed + survived); timeouts count as killed,")
    print("mutants no test reaches count as survived.")
    for group, counts in by_group.items():
        print(line(group, counts))
    print(line("overall", total))


if __name__ == "__main__":
    main()
