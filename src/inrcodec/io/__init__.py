"""Reading and writing images: PNG / JPEG / TIFF (8- and 16-bit) and NIfTI slices.

`read_image` and `write_image` choose the format by the file name; writes are atomic
(`files.atomic_write`).
"""

from .files import atomic_write, check_output_path, write_bytes
from .images import image_to_pil, pil_to_image, read_image, write_image
from .nifti import is_nifti, read_labels, read_slice

__all__ = ["atomic_write", "check_output_path", "image_to_pil", "is_nifti", "pil_to_image",
           "read_image", "read_labels", "read_slice", "write_bytes", "write_image"]
