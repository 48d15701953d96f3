"""Ordinary augmentation of a training batch: each image gets its own small random affine (shift, rotation,
scale, shear) and elastic distortion (Simard et al. 2003), applied to the whole batch in one resampling."""
import math

import torch
import torch.nn.functional as F

SHIFT = 2.0  # pixels, each axis
ROTATE = math.radians(12)
SCALE = (0.9, 1.1)
SHEAR = 0.15
ELASTIC = 1.5  # largest standard deviation of the elastic displacement, in pixels
ELASTIC_GRID = 4  # the displacement is smooth: random at 4x4 points, interpolated over the image
AUGMENTATION = (f"per image: shift ±{SHIFT:g} px, rotation ±{math.degrees(ROTATE):g}°, scale {SCALE[0]}-{SCALE[1]}, "
                f"shear ±{SHEAR}, elastic displacement σ ≤ {ELASTIC} px")  # what the checkpoints' configs record


def augment(x, generator=None):
    """Images [N, 1, H, W] in [0, 1] -> a randomly warped copy, same shape, still in [0, 1]; black comes in at the
    borders, as MNIST's background. Draws from `generator` (default: torch's global generator, so a seeded run
    repeats itself)."""
    n, _, height, width = x.shape

    def uniform(low, high, *shape):
        return torch.rand(n, *shape, generator=generator) * (high - low) + low

    angle, shear, scale = uniform(-ROTATE, ROTATE), uniform(-SHEAR, SHEAR), uniform(*SCALE)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # theta maps output to input: 1/scale enlarges
    theta = torch.stack([torch.stack([cos, cos * shear - sin], 1), torch.stack([sin, sin * shear + cos], 1)], 1)
    shift = uniform(-SHIFT, SHIFT, 2) * torch.tensor([2 / width, 2 / height])  # pixels in grid units ([-1, 1])
    grid = F.affine_grid(torch.cat([theta, shift[:, :, None]], 2), list(x.shape), align_corners=False)
    field = torch.randn(n, 2, ELASTIC_GRID, ELASTIC_GRID, generator=generator) * uniform(0, ELASTIC, 1, 1, 1)
    field = F.interpolate(field, size=(height, width), mode="bicubic", align_corners=True)
    grid = grid + (field * torch.tensor([2 / width, 2 / height])[:, None, None]).permute(0, 2, 3, 1)
    return F.grid_sample(x, grid.to(x.device), mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)
