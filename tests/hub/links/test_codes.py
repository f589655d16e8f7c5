"""Codes and slugs: unguessable, URL-safe, no look-alikes, reserved words refused."""

from __future__ import annotations

import re

import pytest

import hub.links
from hub.links import ALPHABET, RESERVED, InvalidSlug, code_bits, new_code, validate_slug


def test_alphabet_has_no_look_alikes_and_is_url_safe() -> None:
    assert not set("0Oo1lIi") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 55
    assert re.fullmatch(r"[A-Za-z0-9]+", ALPHABET)


def test_generated_codes_carry_at_least_40_random_bits() -> None:
    assert code_bits(8) >= 46
    assert code_bits(7) >= 40
    with pytest.raises(ValueError):
        new_code(6)
    codes = {new_code(8) for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    # Every letter of the alphabet turns up: the draw covers it, not a subset.
    assert set("".join(codes)) == set(ALPHABET)


@pytest.mark.parametrize("slug", ["spring-sale", "Mug_2025", "abc", "a" * 64])
def test_good_slugs(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    ["ab", "a" * 65, "-lead", "_lead", "has space", "dot.ted", "sl/ash", "ünï", "x?y", "a%2f"],
)
def test_malformed_slugs(slug: str) -> None:
    with pytest.raises(InvalidSlug):
        validate_slug(slug)


@pytest.mark.parametrize(
    "slug", ["healthz", "READYZ", "api", "Api", "hooks", "dashboard", "feeds", "static", "api-v2"]
)
def test_reserved_slugs(slug: str) -> None:
    with pytest.raises(InvalidSlug, match="reserved"):
        validate_slug(slug)


def test_reserved_words_include_the_hubs_own_paths() -> None:
    assert {
        "healthz",
        "readyz",
        "api",
        "hooks",
        "dashboard",
        "feeds",
        "static",
        "favicon.ico",
        "robots.txt",
    } <= RESERVED


def test_public_names() -> None:
    assert sorted(hub.links.__all__) == sorted(set(hub.links.__all__))
    for name in hub.links.__all__:
        assert hasattr(hub.links, name), name
    assert "create_link" in hub.links.__all__ and "LinkOut" in hub.links.__all__
