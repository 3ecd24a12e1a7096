"""The segmenter's data, cost, training and evaluation, on tiny synthetic cases (seconds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import ROOT
from inrcodec.cli import app
from inrcodec.errors import ConfigError, InputError
from inrcodec.medical.augment import SliceSet, augmentation, batch, epoch_samples
from inrcodec.medical.datasets import load_case
from inrcodec.medical.dice import dice
from inrcodec.medical.evaluate import case_scores, gaussian_blur, summarise
from inrcodec.medical.flops import conv_macs, count_macs
from inrcodec.medical.split import Split, load_split
from inrcodec.medical.train_unet import TrainSettings, train
from inrcodec.medical.unet import UNet, UNetConfig, load_unet, save_weights, segment

TINY = dict(epochs=2, samples=8, batch=4, crop=32, channels=(4, 8), stem=2, refine=4)


def write_case(folder: Path, seed: int, z: int = 6, size: int = 48, scale: int = 1,
               offset: int = 0) -> np.ndarray:
    """fla + seg: a disc of brain with a bright lesion on the middle slices."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    vol = np.zeros((size, size, z), np.float32)
    seg = np.zeros((size, size, z), np.uint8)
    brain = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2
    for k in range(z):
        r2 = 20 + 15 * k * (k < z - 1)
        lesion = ((yy - 20 - seed) ** 2 + (xx - 26) ** 2) < r2 if 0 < k < z - 1 else brain & False
        vol[:, :, k] = brain * (300 + rng.normal(0, 10, brain.shape)) + lesion * 300
        seg[:, :, k] = lesion * (2 if k % 2 else 4)  # BraTS labels: whole tumour = label > 0
    folder.mkdir(parents=True, exist_ok=True)
    codes = vol.astype(np.int16).astype(np.int32) * scale + offset  # exactly affine in the codes
    nib.save(nib.Nifti1Image(codes.astype(np.int16), np.eye(4)),
             str(folder / "fla.nii.gz"))
    nib.save(nib.Nifti1Image(seg, np.eye(4)), str(folder / "seg.nii.gz"))
    return seg > 0


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Split]:
    root = tmp_path_factory.mktemp("cases") / "brats"
    for i, name in enumerate(("A", "B", "V")):
        write_case(root / name, i)
    write_case(root.parent / "T", 3)
    return root, Split(("A", "B"), ("V",), ("../T",))


def test_packaged_split_is_by_case_and_complete():
    split = load_split()
    assert (len(split.train), len(split.validation), len(split.test)) == (32, 6, 2)
    names = [Path(n).name for part in split.parts().values() for n in part]
    assert len(names) == len(set(names)) == 40
    assert {Path(n).name for n in split.test} == {"OtherEXampleFromTCIA", "TCGA-DU-7294"}
    folder = ROOT.parent / "shared" / "data" / "mri" / "brats18"
    if folder.is_dir():  # the 38 cases on disk are exactly train + validation
        assert {p.name for p in folder.iterdir() if p.is_dir()} == \
            set(split.train) | set(split.validation)


def test_split_refuses_a_case_in_two_parts(tmp_path):
    with pytest.raises(ConfigError, match="both train and test"):
        Split(("A", "B"), ("V",), ("../A",))  # the same case folder, wherever it lives
    bad = tmp_path / "s.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a split"):
        load_split(bad)


def test_training_slices_come_from_training_cases_only(data):
    root, split = data
    slices = SliceSet.load(root, split.train)
    cases = {slices.case_of(i) for i in range(len(slices))}
    assert cases == {"A", "B"} and not cases & {"V", "T"}
    picks = epoch_samples(slices.area, 40, 0.5, np.random.default_rng(0))
    assert len(picks) == 40 and picks.max() < len(slices)
    assert (slices.area[picks] > 0).sum() >= 20  # at least half drawn among tumour slices
    # the codes are the pipeline's 16-bit reading of each slice
    i = int(np.argmax(slices.area))
    case = load_case(root, slices.case_of(i))
    k = int(slices.index[i, 1])
    np.testing.assert_allclose(slices.image(i)[0], case.image(k).data[0].numpy(), atol=1e-5)
    assert np.array_equal(slices.mask(i)[0] > 0, case.mask(k))
    assert slices.image(i, context=2).shape[0] == 5  # 2.5D: the slice and two on each side


def test_augmentation_is_deterministic_under_a_seed(data):
    root, split = data
    slices = SliceSet.load(root, split.train)
    picks = np.arange(len(slices))
    pipeline = augmentation(32, blur_p=1.0, noise_p=1.0, affine_p=1.0)
    pipeline.set_random_state(seed=7)
    x1, m1 = batch(pipeline, slices, picks)
    pipeline.set_random_state(seed=7)
    x2, m2 = batch(pipeline, slices, picks)
    pipeline.set_random_state(seed=8)
    x3, _ = batch(pipeline, slices, picks)
    assert x1.shape == (len(picks), 1, 32, 32) and m1.shape == x1.shape
    assert torch.equal(x1, x2) and torch.equal(m1, m2)
    assert not torch.equal(x1, x3)
    assert set(torch.unique(m1).tolist()) <= {0.0, 1.0}


def test_flops_match_a_hand_count():
    net = UNet(UNetConfig((2, 4), stem=1))
    h = w = 8
    # level 1 at 8x8: 1->2, 2->2; level 2 at 4x4: 2->4, 4->4; up 4->2 (2x2 transposed, from
    # 4x4 input values); merge at 8x8: 4->2, 2->2; head 2->1 (1x1); BatchNorm 1 MAC a value
    convs = (conv_macs(1, 2, 3, 8, 8) + conv_macs(2, 2, 3, 8, 8) + conv_macs(2, 4, 3, 4, 4)
             + conv_macs(4, 4, 3, 4, 4) + 4 * 4 * 4 * 2 * 4 + conv_macs(4, 2, 3, 8, 8)
             + conv_macs(2, 2, 3, 8, 8) + conv_macs(2, 1, 1, 8, 8))
    bn = 2 * 64 * 2 + 2 * 16 * 4 + 2 * 64 * 2
    assert count_macs(net, h, w) == convs + bn == 14464 + 640
    # the half-resolution stem adds the full-resolution maps and the bilinear upsampling
    half = UNet(UNetConfig((2, 4), stem=2, refine=3))
    extra = conv_macs(1, 3, 3, 8, 8) + 3 * 64 + conv_macs(3, 2, 3, 4, 4) + 2 * 16 \
        + 4 * 2 * 64 + conv_macs(2 + 3, 3, 3, 8, 8) + 3 * 64 + conv_macs(3, 1, 1, 8, 8)
    core = (conv_macs(2, 2, 3, 4, 4) * 2 + conv_macs(2, 4, 3, 2, 2) + conv_macs(4, 4, 3, 2, 2)
            + 2 * 2 * 4 * 2 * 4 + conv_macs(4, 2, 3, 4, 4) + conv_macs(2, 2, 3, 4, 4)
            + 2 * 16 * 2 + 2 * 4 * 4 + 2 * 16 * 2)
    assert count_macs(half, h, w) == extra + core


def test_train_resumes_from_its_checkpoint(data, tmp_path):
    root, split = data
    settings = TrainSettings(**TINY)
    whole = train(root, split, settings, tmp_path / "a")

    def stop_in_epoch_2(step, steps, epoch, epochs, loss, score):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(root, split, settings, tmp_path / "b", progress=stop_in_epoch_2)
    with pytest.raises(ConfigError, match="--resume"):
        train(root, split, settings, tmp_path / "b")  # would overwrite the run
    other = TrainSettings(**(TINY | {"lr": 1e-2}))
    with pytest.raises(ConfigError, match="other settings"):
        train(root, split, other, tmp_path / "b", resume=True)
    resumed = train(root, split, settings, tmp_path / "b", resume=True)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx(
        [h["loss"] for h in whole["history"]], rel=1e-5)
    for a, b in zip(whole["net"].state_dict().values(), resumed["net"].state_dict().values(),
                    strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)
    with pytest.raises(InputError, match="no checkpoint"):
        train(root, split, settings, tmp_path / "c", resume=True)


def test_case_scores_compute_per_case_and_pooled_dice(data, monkeypatch):
    root, _ = data
    case = load_case(root, "V")
    gt = np.moveaxis(case.tumour, 2, 0)
    # a fake network: predicts the ground truth, but on slice 3 only the left half of it and
    # nothing at all on slice 4; blurred inputs (flatter images) lose slice 1 as well
    import inrcodec.medical.evaluate as ev

    def fake_predict(net, c, slices, *, blur=0.0, batch=16):
        pred = gt[list(slices)].copy()
        for j, k in enumerate(slices):
            if k == 3:
                pred[j][:, 26:] = False
            if k == 4 or (blur and k == 1):
                pred[j][:] = False
        return pred

    monkeypatch.setattr(ev, "predict", fake_predict)
    row = case_scores(None, case, n_largest=3)
    largest = case.largest_tumour_slices(3)
    assert row["slices"] == largest == [2, 3, 4]
    d3 = dice(fake_predict(None, case, [3])[0], gt[3])
    assert 0 < d3 < 1
    assert row["dice"] == pytest.approx([1.0, d3, 0.0])
    assert row["mean_dice"] == pytest.approx((1 + d3) / 3)
    pred = fake_predict(None, case, range(gt.shape[0]))
    pooled = 2 * (pred & gt).sum() / (pred.sum() + gt.sum())
    assert row["pooled_dice"] == pytest.approx(pooled)
    assert row["mean_dice_blurred"] == pytest.approx(row["mean_dice"])  # slice 1 not among them
    s = summarise([row, dict(row, mean_dice=0.9, mean_dice_blurred=0.93)])
    assert not s["all_meet_dice"] and not s["all_meet_blur"]  # 0.93 > 0.9 + 0.02


def test_gaussian_blur_keeps_mean_and_smooths():
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, 16, 16] = 1.0
    y = gaussian_blur(x, 2.0)
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(y.max()) == pytest.approx(1 / (2 * np.pi * 4), rel=0.05)
    assert torch.equal(gaussian_blur(x, 0.0), x)


def test_segmentation_ignores_the_volume_intensity_scale(tmp_path):
    """Any BraTS-like volume: a rescaled and shifted copy gives the same mask and the same
    command output."""
    write_case(tmp_path / "a", 1, size=64)
    write_case(tmp_path / "b", 1, size=64, scale=37, offset=-900)
    net = UNet(UNetConfig((4, 8), stem=2, refine=4)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    weights = tmp_path / "w.npz"
    save_weights(net, weights)
    a, b = load_case(tmp_path, "a").image(2), load_case(tmp_path, "b").image(2)
    net = load_unet(weights)
    assert np.array_equal(segment(a.data, net), segment(b.data, net))
    runner = CliRunner()
    outs = []
    for name in ("a", "b"):
        mask = tmp_path / f"{name}.png"
        r = runner.invoke(app, ["medical", "segment", str(tmp_path / name / "fla.nii.gz"),
                                "--slice", "2", "--unet", str(weights), "-o", str(mask),
                                "--mask", str(tmp_path / name / "seg.nii.gz")])
        assert r.exit_code == 0, r.output
        text = " ".join(r.output.split())
        outs.append(re.search(r"tumour area (\d+) pixels, Dice ([\d.]+)", text).groups())
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    assert outs[0] == outs[1]


def test_old_weights_without_architecture_record_still_load(tmp_path):
    net = UNet(UNetConfig((4, 8)))
    path = tmp_path / "old.npz"
    save_weights(net, path)
    with np.load(path) as z:  # the first shipped file had channels, no __config__
        arrays = {k: z[k] for k in z.files if k != "__config__"}
    np.savez(path, **arrays)
    assert load_unet(path).config == UNetConfig((4, 8))


def test_cli_train_evaluate_and_errors(data, tmp_path):
    root, split = data
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({k: list(v) for k, v in split.parts().items()}))
    runner = CliRunner()
    common = ["--data", str(root), "--split", str(split_file)]
    weights, report = tmp_path / "w.npz", tmp_path / "rep"
    r = runner.invoke(app, ["medical", "train-unet", *common, "--epochs", "1", "--samples",
                            "4", "--batch", "4", "--crop", "32", "--channels", "4,8",
                            "--checkpoints", str(tmp_path / "ck"), "-o", str(weights),
                            "--report", str(report)])
    assert r.exit_code == 0, r.output
    result = json.loads(report.with_suffix(".json").read_text())["result"]
    assert [row["case"] for row in result["test"]["rows"]] == ["T"]
    assert "case-level Dice" in report.with_suffix(".md").read_text()
    bad_split = tmp_path / "bad.json"
    bad_split.write_text(json.dumps({"train": ["A"], "validation": ["A"]}))
    for args, msg in (
            (["train-unet", *common, "--epochs", "0"], "epochs"),
            (["train-unet", "--data", str(root), "--split", str(bad_split)], "both train"),
            (["train-unet", "--data", str(tmp_path), "--split", str(split_file)],
             "no such case folder"),
            (["train-unet", *common, "--resume", "--checkpoints", str(tmp_path / "none")],
             "no checkpoint"),
            (["train-unet", *common, "--channels", "4,x"], "--channels"),
            (["train-unet", *common, "--modality", "dwi"], "unknown modality"),
            (["train-unet", *common, "--checkpoints", str(tmp_path / "ck")], "--resume"),
            (["evaluate-unet", "--unet", str(tmp_path / "none.npz")], "not found"),
            (["evaluate-unet", "--unet", str(weights), "--split", str(tmp_path / "x.json")],
             "no such split")):
        r = runner.invoke(app, ["medical", *args])
        text = " ".join(r.output.split())
        assert r.exit_code == 2, (args, text)
        assert msg in text, (args, text)
