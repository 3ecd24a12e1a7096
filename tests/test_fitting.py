"""The keep-best training loop (fitting.train) on a one-parameter problem whose every step is
known: loss (w - 1)^2 under SGD, so each update multiplies the error by (1 - 2 lr)."""

import math

import pytest
import torch

from inrcodec.codecs.base import Progress
from inrcodec.fitting import BestState, lr_multiplier, optimize, seeded, train


class Scalar(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(value, dtype=torch.float64))


def quadratic(module, seen):
    def objective(step):
        seen.append(float(module.w.detach()))
        return (module.w - 1) ** 2, None

    return objective


def sgd(lr):
    return lambda params: torch.optim.SGD(params, lr=lr)


def test_keep_best_restores_the_best_parameters():
    # lr 0.25 halves the error (converging), then lr 1.5 doubles it with alternating sign
    m, seen = Scalar(5.0), []
    schedule = lr_multiplier(lambda step: 1.0 if step < 5 else 6.0)
    log = train(m, quadratic(m, seen), sgd(0.25), 9, schedule=schedule)
    assert seen[:6] == [5.0, 3.0, 2.0, 1.5, 1.25, 1.125]  # best at step 5, then diverging
    assert m.w.item() == 1.125 and log.best_loss == 0.125 ** 2
    assert log.steps == 9 and log.final_loss == (seen[-1] - 1) ** 2 > log.best_loss
    m2, seen2 = Scalar(5.0), []
    train(m2, quadratic(m2, seen2), sgd(0.25), 9, schedule=schedule, keep_best=False)
    assert seen2 == seen and m2.w.item() != 1.125  # without keep_best: the last update stays


def test_patience_reloads_the_best_and_plateau_can_lower_the_rate_or_stop():
    m, seen, calls = Scalar(0.9), [], []

    def on_plateau(step, opt):
        calls.append(step)
        for g in opt.param_groups:
            g["lr"] = 0.25
        return len(calls) == 2

    # lr 1.5: errors -0.1, 0.2, -0.4: two steps without a new best -> reload w = 0.9
    log = train(m, quadratic(m, seen), sgd(1.5), 500, patience=2, on_plateau=on_plateau)
    assert seen[:4] == pytest.approx([0.9, 1.2, 0.6, 0.9])
    assert calls[0] == 2
    # from the reload at lr 0.25 the error halves each step: new bests, until the float
    # error stops shrinking; the second plateau stops the run
    assert len(calls) == 2 and log.steps == calls[1] + 1 < 500
    assert log.best_loss == min((w - 1) ** 2 for w in seen)


def test_patience_without_plateau_hook_keeps_going_from_the_best():
    m, seen = Scalar(0.9), []
    log = train(m, quadratic(m, seen), sgd(1.5), 6, patience=2)
    # two steps without a new best -> back to w = 0.9 (the only best); the reloaded state
    # scores the best loss again, which is no new best, so the next cycle is one step shorter
    assert seen == pytest.approx([0.9, 1.2, 0.6, 0.9, 1.2, 0.9])
    assert log.steps == 6 and m.w.item() == 0.9


def test_non_finite_loss_stops_the_loop_keeping_the_best():
    m, seen = Scalar(3.0), []

    def objective(step):
        seen.append(float(m.w.detach()))
        loss = (m.w - 1) ** 2
        return (loss * math.nan if step == 4 else loss), None

    log = train(m, objective, sgd(0.25), 10)
    assert len(seen) == 5 and log.steps == 4  # the NaN step made no update
    assert math.isnan(log.final_loss) and log.best_loss == (seen[3] - 1) ** 2
    assert m.w.item() == seen[3] == 1.25


def test_window_scores_the_mean_and_keeps_the_windows_first_state():
    # loss = w + offset under SGD lr 1: w goes 0, -1, -2, ...; losses 5 5 | 1 3 | 2 2
    m, seen = Scalar(0.0), []
    offsets = [5, 6, 3, 6, 6, 7]

    def objective(step):
        seen.append(float(m.w.detach()))
        return m.w + offsets[step], None

    log = train(m, objective, sgd(1.0), 6, window=2, return_best=True)
    assert seen == [0, -1, -2, -3, -4, -5]
    assert log.best_loss == 2.0  # (1 + 3) / 2; the last window (2 + 2) / 2 is no better
    assert m.w.item() == -2.0 and float(log.best_state["w"]) == -2.0


def test_grad_clip_bounds_the_update():
    m = Scalar(11.0)
    train(m, lambda step: ((m.w - 1) ** 2, None), sgd(1.0), 1, grad_clip=0.5, keep_best=False)
    assert m.w.item() == pytest.approx(10.5)  # the gradient 20 clipped to norm 0.5


def test_progress_offsets_and_psnr():
    m, seen = Scalar(0.5), []
    target = torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64)

    def objective(step):
        pred = m.w * torch.ones(1, 1, 2, 2, dtype=torch.float64)  # not a view of w
        return ((pred - target) ** 2).mean(), pred

    train(m, objective, sgd(0.1), 3, phase="qat", progress=seen.append, target=target,
          offset=10, total=30)
    assert [(p.phase, p.step, p.total) for p in seen] == [("qat", s, 30) for s in (11, 12, 13)]
    assert isinstance(seen[0], Progress) and seen[0].psnr == pytest.approx(-10 * math.log10(1 / 16))


def test_lr_multiplier_gives_lambda_lr_rates_exactly():
    factor = lambda t: 0.6 + 0.4 * max(0.0, 1 - t / 7)  # noqa: E731
    a = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    b = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(a, factor)
    apply = lr_multiplier(factor)
    for t in range(8):
        apply(t, b)
        assert b.param_groups[0]["lr"] == a.param_groups[0]["lr"]  # the same float
        a.step()
        sched.step()


def test_optimize_is_the_render_target_case():
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 3)
    x, target = torch.rand(5, 2), torch.rand(5, 3)
    log = optimize(net, lambda: net(x), target, torch.nn.functional.mse_loss, 30, 1e-2)
    with torch.no_grad():
        assert float(torch.nn.functional.mse_loss(net(x), target)) == log.best_loss
    assert log.steps == 30 and log.best_state is None


def test_best_state_across_runs():
    m = Scalar(2.0)
    best = BestState(m)
    assert best.offer(1.0) and not best.offer(1.0) and not best.offer(math.nan)
    with torch.no_grad():
        m.w.fill_(7.0)
    assert not best.offer(3.0) and best.restore() and m.w.item() == 2.0
    assert not BestState(m).restore()  # nothing offered: nothing to load


def test_seeded():
    g = seeded(3)
    assert g is torch.default_generator and torch.initial_seed() == 3
    a = torch.rand(4)
    seeded(3)
    private = seeded(99, private=True)
    torch.rand(2, generator=private)  # leaves the global stream alone
    assert torch.equal(torch.rand(4), a)


def test_evaluate_scores_every_k_iterations_and_the_final_state():
    # the loss trained on is (w - 1)^2, but the state kept is the one evaluate() likes best:
    # |w - 1.7|, evaluated before the update at iterations 0, 3, 6 and once after the end
    m, seen, evaluated = Scalar(5.0), [], []

    def evaluate():
        evaluated.append(float(m.w.detach()))
        return abs(float(m.w.detach()) - 1.7)

    log = train(m, quadratic(m, seen), sgd(0.25), 8, evaluate=evaluate, eval_every=3)
    assert evaluated == [seen[0], seen[3], seen[6], 1 + (seen[7] - 1) / 2]
    assert seen[3] == 1.5 and m.w.item() == 1.5  # the evaluated best, not the last state
    assert log.best_loss == pytest.approx(0.2)
    with pytest.raises(ValueError):
        train(m, quadratic(m, []), sgd(0.25), 2, evaluate=evaluate, window=2)
