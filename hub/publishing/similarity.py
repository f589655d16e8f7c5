"""Near-duplicate texts: a 64-bit simhash of word shingles (Charikar 2002).

Each overlapping run of `SHINGLE` words (lower-cased, URLs and punctuation removed, so that
two posts differing only by their tracked link are the same text) is hashed with BLAKE2b to
64 bits; each bit position sums +1/-1 over all shingles, and the fingerprint keeps the sign of
each sum. Texts that share most of their shingles get fingerprints a few bits apart, so the
Hamming distance of two fingerprints estimates how different the texts are: 0-3 bits of 64
is the usual "near duplicate" threshold for short texts.

A dozen lines do not warrant a dependency (the PyPI ``simhash`` package is unmaintained).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["SHINGLE", "distance", "fingerprint"]

SHINGLE = 3
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_MASK = (1 << 64) - 1


def _features(text: str) -> list[str]:
    words = _WORD.findall(_URL.sub(" ", text).lower())
    if len(words) < SHINGLE:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)]


def fingerprint(text: str) -> int | None:
    """The 64-bit simhash of `text`, or ``None`` when it has no words."""
    features = _features(text)
    if not features:
        return None
    sums = [0] * 64
    for feature in features:
        value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        for bit in range(64):
            sums[bit] += 1 if value >> bit & 1 else -1
    out = 0
    for bit, total in enumerate(sums):
        if total > 0:
            out |= 1 << bit
    return out & _MASK


def distance(a: int, b: int) -> int:
    """Differing bits of two fingerprints (0 = same shingles)."""
    return (a ^ b).bit_count()
