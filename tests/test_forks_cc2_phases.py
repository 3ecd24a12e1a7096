"""benchmarks/forks_cc2_phases.py: the 2.0 fork's encode log read phase by phase (the networks'
rate taken out after their quantisation; a restarted encode's last run), and our trace's
columns."""

from __future__ import annotations

import pytest

from conftest import ROOT, load_script

phases = load_script(ROOT / "benchmarks" / "forks_cc2_phases.py")

HEAD = "loss          rate_bpp      iterations    time_sec      rate_mlp_bpp"


def _table(rows: list[tuple[int, float, float]]) -> str:
    lines = ["", f'{"ID":^6}|{"loss":^14}|{"rate_bpp":^14}|']
    lines += [f"{i:^6}|{loss:^14.4f}|{rate:^14.4f}|" for i, loss, rate in rows]
    return "\n".join(lines + ["", "#### Warm-up phase:  0 ####", ""])


def _end(loss: float, rate: float, mlp: float = 0.0) -> str:
    return (f"{loss:.6f}      {rate:.6f}      100           1.0           0.000000       0      "
            f"0.0100        all           100           -1.00% -0.001 bpp\n\n"
            f"Performance at the end of the phase:\n{HEAD}\n"
            f"{loss:.6f}      {rate:.6f}      100           1.00          {mlp:.6f}\n")


def fork_log(offset: float = 0.0) -> str:
    parts = ["$ python src/encode.py --lmbda=0.001 --recipe=faster",
             _table([(1, 1.5, 0.5), (0, 2.0, 0.6)]), _table([(1, 0.9 + offset, 0.45),
                                                              (0, 1.1, 0.5)])]
    for k in range(9):
        parts.append(_end(0.8 - 0.01 * k + offset, 0.42 - 0.001 * k))
    # phase 9: its last row before the networks are quantised, then its end with their rate
    parts.append("0.690000      0.400000      9000          20.0          0.000000       1      "
                 "0.0005        synthesis     100           -0.50% +0.000 bpp\n\n"
                 "Time greedy_quantization: 50.0 seconds\n")
    parts.append(_end(0.830 + offset, 0.530, 0.125))
    parts.append(_end(0.860 + offset, 0.550, 0.125))
    return "\n".join(parts)


def test_the_fork_s_log_gives_each_phase_with_the_latents_rate_only():
    cells = phases.parse_fork_log(fork_log())
    assert list(cells) == phases.COLUMNS
    assert cells["warm-up"] == (0.9, 0.45)  # the last round's winner
    assert cells["0"] == (0.8, 0.42) and cells["8"] == pytest.approx((0.72, 0.412))
    assert cells["9"] == (0.69, 0.40)  # before the greedy quantisation
    # after it the fork's loss counts the networks' 0.125 bpp at lambda 1e-3: taken out
    assert cells["9 q"] == pytest.approx((0.705, 0.405))
    assert cells["10"] == pytest.approx((0.735, 0.425))


def test_a_restarted_encode_s_log_is_read_from_its_last_run():
    cells = phases.parse_fork_log(fork_log(0.5) + "\n" + fork_log())
    assert cells == phases.parse_fork_log(fork_log())


def test_an_unfinished_log_is_refused():
    with pytest.raises(ValueError, match="phase ends"):
        phases.parse_fork_log(fork_log().split("Time greedy")[0])


def test_our_trace_gives_the_same_columns():
    warm = [("warmup", 2.0 - 0.1 * i, 0.5) for i in range(14)]
    fit = [("fit", 0.8 - 0.01 * k, 0.42) for k in range(10)]
    trace = {"seed": 1, "rows": warm + fit + [("quantised", 0.71, 0.41), ("fit", 0.74, 0.43)]}
    cells = phases.ours_cells(trace)
    assert list(cells) == phases.COLUMNS
    assert cells["warm-up"] == pytest.approx((0.7, 0.5))  # the better of the last round's two
    assert cells["9"] == pytest.approx((0.71, 0.42))
    assert cells["9 q"] == (0.71, 0.41) and cells["10"] == (0.74, 0.43)
    md = phases.report({1: cells}, {1: cells}, "mse")
    assert md.count("| fork | 1 |") == 1 and md.count("| ours | 1 |") == 1
