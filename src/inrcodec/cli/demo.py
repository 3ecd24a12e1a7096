"""`inrcodec demo`: code the shipped samples with the default codec, put the same images
through JPEG, WebP, AVIF and JPEG XL at the nearest file size, print what each achieves and
draw a side-by-side crop (original | ours | AVIF | JPEG)."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import Any

from rich.table import Table

from ..console import err, out
from .common import TrainingProgress, fmt

SAMPLES = {"smooth": "kodim23_192x128.png", "detailed": "kodim01_192x128.png"}
BASELINES = ("jpeg/420", "webp", "avif", "jpegxl")


def sample_path(name: str = "smooth") -> Path:
    return Path(str(resources.files("inrcodec") / "data" / SAMPLES[name]))


def run_demo(codec: str, preset: str | None, steps: int | None, outdir: Path,
             samples: list[str]) -> None:
    from .. import api
    from ..baselines import encode_at_bpp, get_baseline
    from ..io import write_bytes, write_image
    from ..metrics import evaluate

    outdir.mkdir(parents=True, exist_ok=True)
    settings = {"steps": steps} if steps else {}
    for name in samples:
        src = sample_path(name)
        image = api.as_image(src)
        err.print(f"\n[bold]{name} sample[/bold]: {src} ({image.width}x{image.height})")
        with TrainingProgress(enabled=True) as bar:
            result = api.encode(image, codec=codec, preset=preset, progress=bar, **settings)
        inr = outdir / f"{Path(src).stem}.{codec}.inr"
        write_bytes(inr, bytes(result))
        decoded = api.decode(inr.read_bytes())  # what the file holds, not the encoder's copy
        write_image(decoded, inr.with_suffix(".png"))
        rows = [(f"{codec} ({result.preset})", len(result), decoded)]
        for label in BASELINES:  # the file nearest in size to ours
            name_, _, variant = label.partition("/")
            r = encode_at_bpp(get_baseline(name_, variant), image, result.bpp, nearest=True)
            rows.append((label, len(r.data), r.decoded))
        table = Table(title=f"{name} sample at ~{result.bpp:.2f} bpp: the same image through "
                            "each codec at the nearest file size")
        for col in ("codec", "bytes", "bpp", "PSNR dB", "MS-SSIM", "LPIPS"):
            table.add_column(col, justify="left" if col == "codec" else "right")
        scores = {}
        for label, nbytes, dec in rows:
            m = evaluate(image, dec)
            scores[label] = (nbytes, m)
            table.add_row(label, str(nbytes), f"{8 * nbytes / image.num_pixels:.3f}",
                          fmt(m["psnr"], "", 2), fmt(m["msssim"], "", 4), fmt(m["lpips"], "", 4))
        out.print(table)
        png = outdir / f"{Path(src).stem}.compare.png"
        crops_figure(image, [(f"ours ({codec})", rows[0][0], rows[0][2]),
                             ("AVIF", "avif", rows[3][2]), ("JPEG", "jpeg/420", rows[1][2])],
                     scores, png)
        ours = scores[rows[0][0]][1]["psnr"]
        jpeg = scores["jpeg/420"][1]["psnr"]
        avif = scores["avif"][1]["psnr"]
        out.print(f"{inr} decodes to {inr.with_suffix('.png')}; side-by-side crop: {png}")
        out.print(f"At this size our file is {ours - jpeg:+.2f} dB against JPEG and "
                  f"{ours - avif:+.2f} dB against AVIF (PSNR).")


def crops_figure(image: Any, tiles: list[tuple[str, str, Any]], scores: dict[str, Any],
                 path: Path) -> None:
    """original | each (title, score key, decoded image), on the image's most detailed
    64x64 window enlarged 3x, each titled with its bytes and PSNR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..bench.crops import detailed_window
    from ..io import image_to_pil, write_bytes

    box = detailed_window(image, 64)
    panels = [("original", None, image)] + tiles
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4))
    for ax, (label, key, im) in zip(axes, panels, strict=True):
        ax.imshow(image_to_pil(im).crop(box).resize((192, 192), 0))
        title = label
        if key is not None:
            nbytes, m = scores[key]
            title += f"\n{nbytes} B, {m['psnr']:.2f} dB"
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buf.getvalue())
