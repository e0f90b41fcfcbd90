"""Summarise py-spy's raw (collapsed) stacks: where a worker's samples went."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int = 25, focus: str = "(app/") -> str:
    """Return the top functions by inclusive and by own samples, the project's first."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"{total} samples"]
    out.append(f"-- inclusive, frames under {focus}:")
    for frame, n in inclusive.most_common():
        if focus in frame:
            out.append(f"{100 * n / total:5.1f}%  {frame}")
            if len(out) > top + 2:
                break
    out.append("-- own time, any frame:")
    for frame, n in own.most_common(top):
        out.append(f"{100 * n / total:5.1f}%  {frame}")
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:3])))
