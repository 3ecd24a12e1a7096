"""Structure-aware fuzzing of the decoder (tests/fuzzing.py): about 2,000 Hypothesis cases on
the golden files of every codec, each a file edited behind a recomputed CRC. Every case must
end in a DecodeError or a well-formed image: no other exception, no warning, no hang.

Deterministic (derandomize): the same cases on every run. The long run is
benchmarks/fuzz_decode.py (100,000+ cases, default limits)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from conftest import ROOT
from fuzzing import (
    TEST_LIMITS,
    Corpus,
    check_decode,
    hostile_files,
    join,
    split,
    with_crc,
    with_version_2,
)

GOLDEN = ROOT / "tests" / "golden"
# the golden files (format version 1) and each in version 2, what the encoder writes now
CORPUS = Corpus(with_version_2({p.stem: p.read_bytes() for p in sorted(GOLDEN.glob("*.inr"))}))

FUZZ = settings(max_examples=700, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_corpus_decodes():
    for name, data in CORPUS.items():
        assert check_decode(data, TEST_LIMITS).accepted, name


def test_version_2_files_split_and_join_back_exactly():
    # so the mutations of a version 2 file edit exactly the field they name
    v2 = {k: v for k, v in CORPUS.items() if k.endswith("@v2")}
    assert len(v2) == 7
    for name, data in v2.items():
        assert with_crc(join(split(data))) == data, name


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "fuzz_regressions").glob("*.inr")),
                         ids=lambda p: p.stem)
def test_files_the_fuzzers_found(path):
    """Every file a fuzz run failed on, kept: each must now be rejected or decoded cleanly."""
    check_decode(path.read_bytes())


@FUZZ
@given(hostile_files(CORPUS, ("header-field", "header-delete", "header-add", "header-blob")))
def test_fuzz_header(case):
    check_decode(case.data, TEST_LIMITS)


@FUZZ
@given(hostile_files(CORPUS, ("section-bytes", "section-list", "payload-values")))
def test_fuzz_sections(case):
    check_decode(case.data, TEST_LIMITS)


@settings(FUZZ, max_examples=600)
@given(hostile_files(CORPUS))
def test_fuzz_everything(case):
    check_decode(case.data, TEST_LIMITS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_fuzzed_headers_of_every_codec_are_rejected_or_decoded(name):
    """A few hundred header edits per codec file (the mixed runs above sample files at
    random; this makes sure each codec's settings schema is hit)."""

    @settings(FUZZ, max_examples=40)
    @given(hostile_files(Corpus({name: CORPUS[name]}), ("header-field",)))
    def run(case):
        check_decode(case.data, TEST_LIMITS)

    run()
