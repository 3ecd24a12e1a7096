"""Coverage-guided fuzzing of the decoder: atheris (libFuzzer) drives the same structure-aware
Hypothesis strategies as tests/test_fuzz.py and benchmarks/fuzz_decode.py, through
Hypothesis' `fuzz_one_input`, with inrcodec's bytecode instrumented for coverage. libFuzzer's
mutations of the choice sequence then steer the mutations of the files toward new code.

    pip install atheris            # optional; not a dependency of the package
    nice -n 10 python benchmarks/fuzz_atheris.py -max_total_time=600 -timeout=120 \\
        -rss_limit_mb=6144 /tmp/atheris-corpus

A failing case (any exception other than DecodeError, a warning, a malformed image) stops the
run with libFuzzer's crash report and the input; replay it with the same command and the crash
file as the only argument. Under the default decode limits. libFuzzer's artifacts (crash-*,
slow-unit-*, timeout-*) go to a temporary folder it prints, not the working directory, unless
-artifact_prefix is given.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

with atheris.instrument_imports(include=["inrcodec"]):
    import inrcodec  # noqa: F401 - instrumented for coverage
    from inrcodec.codecs.coolchic import codec as _coolchic  # noqa: F401
    from inrcodec.codecs.coolchic.five import codec as _coolchic5  # noqa: F401
    from inrcodec.codecs.inr import base as _inr  # noqa: F401

import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from fuzzing import Corpus, check_decode, hostile_files, with_version_2  # noqa: E402

torch.set_num_threads(1)
FILES = sorted((ROOT / "tests" / "golden").glob("*.inr")) + sorted(
    (ROOT / "benchmarks" / "results" / "fuzz_corpus").glob("*.inr"))
CORPUS = Corpus(with_version_2({p.stem: p.read_bytes() for p in FILES}))


@settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_files(CORPUS))
def decode_case(case):
    check_decode(case.data)


if __name__ == "__main__":
    if not any(a.startswith("-artifact_prefix=") for a in sys.argv[1:]):
        prefix = tempfile.mkdtemp(prefix="inrcodec-atheris-") + "/"
        print(f"libFuzzer artifacts go to {prefix}", flush=True)
        sys.argv.insert(1, f"-artifact_prefix={prefix}")
    atheris.Setup(sys.argv, decode_case.hypothesis.fuzz_one_input)
    atheris.Fuzz()
