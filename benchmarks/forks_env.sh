#!/usr/bin/env bash
# Set up the ICIP 2024 loss study's reference code (INRAnalysis-ICIP24/nif, main; INRAnalysis-
# ICIP24/cool-chic, 1.0-adaptations and 2.0-adaptations) outside the project, for
# benchmarks/forks_side_by_side.py. Reference code: read it, run it, never copy it.
# Usage: forks_env.sh NIF_GIT_DIR COOLCHIC_GIT_DIR DEST
#   *_GIT_DIR: clones (bare or not) of the two forks; DEST: a folder outside the repository.
# DEST gets nif/, cc-1.0-adaptations/, cc-2.0-adaptations/, venv/ (torch 2.13 and the forks'
# small dependencies) and shim/ (stand-ins for what torch 2.13 cannot import or the
# measurement does not need). Then: forks_side_by_side.py --nif-fork DEST/nif ... --python
# DEST/venv/bin/python --shim DEST/shim
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 NIF_GIT_DIR COOLCHIC_GIT_DIR DEST" >&2; exit 2; }
gd() { [ -d "$1/.git" ] && echo "$1/.git" || echo "$1"; }
nif=$(gd "$1"); cc=$(gd "$2"); dest=$(mkdir -p "$3" && cd "$3" && pwd)
mkdir -p "$dest/nif" "$dest/cc-1.0-adaptations" "$dest/cc-2.0-adaptations"
git --git-dir="$nif" archive main | tar -x -C "$dest/nif"
for b in 1.0-adaptations 2.0-adaptations; do
  git --git-dir="$cc" archive "$b" | tar -x -C "$dest/cc-$b"
done
python3 -m venv "$dest/venv"
"$dest/venv/bin/pip" install -q torch==2.13.0
# constriction as both Cool-chic forks pin it (0.3.0): 0.5.0, what pip picks otherwise, panics on
# a Laplace scale of 0, which the 2.0 fork's scales reach once rounded to its probability grid
# (for positive scales both versions write the same bytes)
"$dest/venv/bin/pip" install -q numpy scipy pyyaml pillow brotli pytorch-msssim einops fvcore \
  constriction==0.3.0
s="$dest/shim"; mkdir -p "$s/torchvision/transforms" "$s/skimage" "$s/lpips"
echo "from . import transforms" > "$s/torchvision/__init__.py"
cat > "$s/torchvision/transforms/__init__.py" <<'PY'
import numpy as np
import torch
from . import functional


class Compose:
    def __init__(self, ts):
        self.ts = ts

    def __call__(self, x):
        for t in self.ts:
            x = t(x)
        return x


class Resize:
    def __init__(self, size):
        self.size = tuple(size)

    def __call__(self, img):
        h, w = self.size
        if img.size != (w, h):
            raise RuntimeError("shim Resize only supports the identity")
        return img


class ToTensor:
    def __call__(self, pic):
        return functional.to_tensor(pic)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        return (t - self.mean) / self.std
PY
cat > "$s/torchvision/transforms/functional.py" <<'PY'
import numpy as np
import torch
from PIL import Image


def to_tensor(pic):
    a = np.asarray(pic)
    if a.ndim == 2:
        a = a[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()
    return t.float().div(255) if t.dtype == torch.uint8 else t.float()


def to_pil_image(t):
    a = t.detach().cpu()
    if a.dtype != torch.uint8:
        a = a.mul(255).clamp(0, 255).to(torch.uint8)  # torchvision: mul(255).byte()
    return Image.fromarray(a.permute(1, 2, 0).numpy())


def crop(t, top, left, height, width):
    return t[..., top:top + height, left:left + width]
PY
cat > "$s/skimage/io.py" <<'PY'
import numpy as np
from PIL import Image


def imread(path):
    return np.asarray(Image.open(path))


def imsave(path, arr):
    Image.fromarray(np.asarray(arr)).save(path)
PY
cat > "$s/lpips/__init__.py" <<'PY'
import torch
class LPIPS(torch.nn.Module):
    def __init__(self, *a, **k): super().__init__()
    def forward(self, a, b): return torch.zeros(())
PY
cat > "$s/sitecustomize.py" <<'PY'
import sys, types
class _W:
    def __init__(self, *a, **k): pass
    def __getattr__(self, name): return lambda *a, **k: None
m = types.ModuleType("torch.utils.tensorboard"); m.SummaryWriter = _W
sys.modules["torch.utils.tensorboard"] = m

# torch 2.13 dropped the schedulers' `verbose` argument and print_lr, which the forks still use.
import torch.optim.lr_scheduler as _ls
_init = _ls.LRScheduler.__init__
def _lrs_init(self, optimizer, last_epoch=-1, verbose=None):
    _init(self, optimizer, last_epoch)
_ls.LRScheduler.__init__ = _lrs_init
if not hasattr(_ls.LRScheduler, "print_lr"):
    _ls.LRScheduler.print_lr = lambda self, *a, **k: None
_rinit = _ls.ReduceLROnPlateau.__init__
def _rop_init(self, *a, verbose=None, **k):
    _rinit(self, *a, **k)
_ls.ReduceLROnPlateau.__init__ = _rop_init
PY
: > "$s/skimage/__init__.py"
PYTHONPATH="$s" "$dest/venv/bin/python" -c "import torch, brotli, pytorch_msssim, yaml" && echo "forks ready in $dest"
