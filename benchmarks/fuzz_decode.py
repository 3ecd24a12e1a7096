"""Structure-aware fuzzing of the decoder at scale: 100,000+ hostile files from every codec,
decoded under the default limits (tests/fuzzing.py makes the cases; tests/test_fuzz.py runs
2,000 of them in CI).

    nice -n 10 python benchmarks/fuzz_decode.py --cases 100000 --chunk 5000   # resumable
    python benchmarks/fuzz_decode.py --summary                               # write the .md

The run is cut into chunks of `--chunk` cases, each a fresh worker process (one torch thread)
running Hypothesis with its own seed (the chunk number), one at a time. A finished chunk is one
line of benchmarks/results/fuzz_decode.jsonl (appended and fsynced); rerunning the same command
skips the chunks already there, so a killed run resumes where it stopped. A case fails if the
decode raises anything but DecodeError, warns, returns a malformed image, or runs past
`--timeout` seconds; failing files are kept in benchmarks/results/fuzz_failures/.

The corpus: the golden files (RGB 24x24 of every codec, a 16-bit NIfTI slice) and, made once
with few training steps and kept in benchmarks/results/fuzz_corpus/, a grey (L) and an RGBA
file of every codec.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
RESULTS = ROOT / "benchmarks" / "results"
LOG = RESULTS / "fuzz_decode.jsonl"
CORPUS_DIR = RESULTS / "fuzz_corpus"
FAILURES = RESULTS / "fuzz_failures"


def make_corpus() -> None:
    """A grey and an RGBA file of every codec (the golden files' settings, small crops)."""
    import make_golden
    import torch

    import inrcodec
    from inrcodec.codecs.registry import CODECS

    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    sample = inrcodec.read_image(make_golden.SAMPLE)
    for codec in CODECS:
        settings = dict(make_golden.CASES[codec])
        preset = settings.pop("preset")
        for mode, (h, w) in (("L", (12, 16)), ("RGBA", (10, 14))):
            path = CORPUS_DIR / f"{codec}-{mode}.inr"
            if path.exists():
                continue
            rgb = sample.data[:, 30:30 + h, 90:90 + w]
            data = rgb.mean(0, keepdim=True) if mode == "L" else torch.cat(
                [rgb, torch.linspace(0.2, 1.0, w).expand(1, h, w)])
            image = inrcodec.Image(data, 8, mode)
            result = inrcodec.encode(image, codec=codec, preset=preset, seed=3, device="cpu",
                                     metrics=False, **settings)
            path.write_bytes(bytes(result))
            print(f"corpus: {path.name} ({len(result)} bytes)", file=sys.stderr)


def corpus():
    from fuzzing import Corpus, with_version_2

    files = sorted((ROOT / "tests" / "golden").glob("*.inr")) + sorted(CORPUS_DIR.glob("*.inr"))
    return Corpus(with_version_2({p.stem: p.read_bytes() for p in files}))


def status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout


def worker(chunk: int, cases: int, timeout: float) -> dict:
    """Run one chunk in this process; returns its JSON row."""
    import torch
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from fuzzing import check_decode, hostile_files
    from inrcodec import api

    torch.set_num_threads(1)
    files = corpus()
    rss_start = status_bytes("VmRSS")
    stats = {"cases": 0, "accepted": 0, "rejected": 0, "failures": []}
    slowest: list[dict] = []
    signal.signal(signal.SIGALRM, _alarm)

    @seed(chunk)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hostile_files(files))
    def run(case):
        stats["cases"] += 1
        signal.setitimer(signal.ITIMER_REAL, timeout)
        t = time.perf_counter()
        try:
            outcome = check_decode(case.data)
        except Timeout:
            failure = f"timeout: decode ran past {timeout} s"
        except BaseException as exc:  # noqa: BLE001 - every other exception is a finding
            failure = f"{type(exc).__name__}: {exc}"[:2000]
        else:
            failure = None
            stats["accepted" if outcome.accepted else "rejected"] += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        seconds = time.perf_counter() - t
        if failure is not None:
            FAILURES.mkdir(parents=True, exist_ok=True)
            name = f"chunk{chunk:03d}-case{stats['cases']:05d}.inr"
            (FAILURES / name).write_bytes(case.data)
            stats["failures"].append({"file": name, "base": case.base, "ops": case.ops,
                                      "error": failure})
            return
        row = {"seconds": seconds, "accepted": outcome.accepted, "base": case.base,
               "ops": list(case.ops), "message": outcome.message[:300]}
        if outcome.accepted:
            row["cost"] = api.decode_cost(case.data).to_dict()
        slowest.append(row)
        slowest.sort(key=lambda r: -r["seconds"])
        del slowest[5:]

    t0 = time.time()
    run()
    peak = status_bytes("VmHWM")  # this process's own peak (ru_maxrss carries the parent's)
    return {"chunk": chunk, "seed": chunk, "cases": stats["cases"],
            "accepted": stats["accepted"], "rejected": stats["rejected"],
            "failures": stats["failures"], "slowest": slowest,
            "peak_rss_bytes": peak, "rss_at_start_bytes": rss_start,
            "seconds": time.time() - t0, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_average": os.getloadavg()[0]}


def done_chunks() -> dict[int, dict]:
    if not LOG.exists():
        return {}
    rows = {}
    for line in LOG.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by a kill: that chunk runs again
            continue
        rows[row["chunk"]] = row
    return rows


def append(row: dict) -> None:
    with open(LOG, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def summary() -> str:
    rows = sorted(done_chunks().values(), key=lambda r: r["chunk"])
    meta = json.loads((RESULTS / "fuzz_decode_meta.json").read_text()) \
        if (RESULTS / "fuzz_decode_meta.json").exists() else {}
    cases = sum(r["cases"] for r in rows)
    failures = [f for r in rows for f in r["failures"]]
    slowest = sorted((s for r in rows for s in r["slowest"]), key=lambda s: -s["seconds"])
    accepted = [s for s in slowest if s["accepted"]]
    peak = max((r["peak_rss_bytes"] for r in rows), default=0)
    start = max((r["rss_at_start_bytes"] for r in rows), default=0)
    seconds = sum(r["seconds"] for r in rows)
    lines = [
        "# Structure-aware fuzzing of the decoder (issue 20)", "",
        f"Command: `{meta.get('command', 'python benchmarks/fuzz_decode.py')}` "
        f"(commit {meta.get('commit', '?')}); {len(rows)} chunks of "
        f"{meta.get('chunk', '?')} cases, each a fresh worker (one torch thread), run one at "
        "a time under `nice -n 10`.",
        f"Machine: {meta.get('machine', platform.platform())}; load average at the chunks' "
        f"ends {min((r['load_average'] for r in rows), default=0):.1f} to "
        f"{max((r['load_average'] for r in rows), default=0):.1f} (shared with other jobs).",
        f"Estimated before the start: {meta.get('estimate', '?')}.", "",
        "| cases | accepted (decoded) | rejected (DecodeError) | failures | slowest decode | "
        "peak RSS of a worker | run time |", "|---|---|---|---|---|---|---|",
        f"| {cases} | {sum(r['accepted'] for r in rows)} | "
        f"{sum(r['rejected'] for r in rows)} | {len(failures)} | "
        f"{slowest[0]['seconds']:.2f} s |" if slowest else "| 0 | | | | |",
    ]
    if slowest:
        lines[-1] += (f" {peak / 2**20:.0f} MiB ({(peak - start) / 2**20:.0f} MiB over the "
                      f"{start / 2**20:.0f} MiB after imports) | {seconds / 3600:.2f} h |")
    lines += ["", "Slowest cases (any outcome):", ""]
    for s in slowest[:5]:
        what = f"decoded, cost {s['cost']}" if s["accepted"] else f"rejected: {s['message']}"
        lines.append(f"- {s['seconds']:.2f} s, {s['base']} {' / '.join(s['ops'])}: {what}")
    if accepted:
        s = accepted[0]
        lines += ["", f"Slowest accepted decode: {s['seconds']:.2f} s ({s['base']} "
                  f"{' / '.join(s['ops'])}, cost {s['cost']})."]
    lines += ["", f"Failures: {len(failures)}."]
    for f in failures[:20]:
        lines.append(f"- {f['file']}: {f['base']} {' / '.join(f['ops'])}: {f['error'][:300]}")
    first = RESULTS / "fuzz_decode_attempt1.jsonl"
    if first.exists():
        rows1 = [json.loads(line) for line in first.read_text().splitlines() if line.strip()]
        fails1 = [f for r in rows1 for f in r["failures"]]
        lines += ["", f"A first attempt (commit d5751e1) was stopped after "
                  f"{sum(r['cases'] for r in rows1)} cases with {len(fails1)} failures, all one "
                  "finding: a header key named with a line break (\"\\n!y\") went raw into "
                  "the DecodeError's message, which must be one line. Fixed (names are quoted, "
                  "and DecodeError collapses whitespace), the file kept as a regression case "
                  "(tests/fuzz_regressions/), and the run restarted from zero: the table above "
                  "is the restarted run. Its rows: fuzz_decode_attempt1.jsonl."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=100_000, help="total cases")
    ap.add_argument("--chunk", type=int, default=5000, help="cases per worker process")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a decode may take")
    ap.add_argument("--estimate", default="", help="the run time estimated before the start "
                    "(recorded in the summary)")
    ap.add_argument("--summary", action="store_true", help="only write fuzz_decode.md")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.chunk, args.timeout)))
        return
    if not args.summary:
        make_corpus()
        meta_path = RESULTS / "fuzz_decode_meta.json"
        if not meta_path.exists():
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()
            import torch

            meta_path.write_text(json.dumps({
                "command": f"nice -n 10 python benchmarks/fuzz_decode.py --cases {args.cases} "
                           f"--chunk {args.chunk} --timeout {args.timeout:g}"
                           + (' --estimate "..."' if args.estimate else ""),
                "commit": commit, "chunk": args.chunk,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), torch "
                           f"{torch.__version__}, Python {platform.python_version()}",
                "estimate": args.estimate, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "load_average_at_start": os.getloadavg()[0]}, indent=1) + "\n")
        n_chunks = -(-args.cases // args.chunk)
        have = done_chunks()
        for chunk in range(n_chunks):
            if chunk in have:
                continue
            t = time.time()
            r = subprocess.run([sys.executable, __file__, "--worker", str(chunk), "--chunk",
                                str(args.chunk), "--timeout", str(args.timeout)],
                               capture_output=True, text=True)
            if r.returncode != 0:  # a crash of the worker itself is a finding too
                row = {"chunk": chunk, "seed": chunk, "cases": 0, "accepted": 0, "rejected": 0,
                       "failures": [{"file": "", "base": "", "ops": [],
                                     "error": f"worker exit {r.returncode}: "
                                              f"{r.stderr[-2000:]}"}],
                       "slowest": [], "peak_rss_bytes": 0, "rss_at_start_bytes": 0,
                       "seconds": time.time() - t, "load_average": os.getloadavg()[0]}
            else:
                row = json.loads(r.stdout.strip().splitlines()[-1])
            append(row)
            print(f"chunk {chunk}: {row['cases']} cases, {row['accepted']} accepted, "
                  f"{len(row['failures'])} failures, slowest "
                  f"{max((s['seconds'] for s in row['slowest']), default=0):.2f} s, "
                  f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)
    (RESULTS / "fuzz_decode.md").write_text(summary())


if __name__ == "__main__":
    main()
