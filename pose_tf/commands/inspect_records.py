"""`pose-tf inspect-records`: render training samples with their targets to PNG.

Each PNG is a 2x2 sheet of one pipeline sample (after augmentation):
  top-left     the input image as the network sees it
  top-right    joint heatmaps (max over the 17 joints), colour-mapped over the image
  bottom-left  PAFs: colour = limb direction (hue), arrows every other cell
  bottom-right loss mask: red = ignored cells (crowds, unlabelled people); the title
               lists joints the source does not label
"""
from __future__ import annotations

import os

NAME = "inspect-records"
HELP = "render pipeline samples (image + heatmaps, PAFs, loss mask) to PNG files"


def add_arguments(p):
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--recipe", help="recipe file or name under datasets/ (e.g. shared_train)")
    src.add_argument("--records", help="glob of TFRecord shards")
    p.add_argument("--records-root", help="value of ${POSE_TF_RECORDS} in recipe globs")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--num", type=int, default=8, help="samples to render (default 8)")
    p.add_argument("--seed", type=int, default=0, help="pipeline seed (default 0)")
    p.add_argument("--no-augment", action="store_true",
                   help="evaluation mode: whole image fitted, no augmentation")
    p.add_argument("--input-size", type=int, nargs=2, default=(368, 432), metavar=("H", "W"))
    p.add_argument("--mosaic-prob", type=float, default=0.0, metavar="P",
                   help="share of samples drawn as 2x2 mosaics of half-size crops, as "
                        "data.augment.mosaic_prob does in training (default 0)")


def run(args) -> int:
    import tensorflow as tf

    from ..core.errors import PoseTfError
    from ..data.recipes import load_recipe, single_source
    from ..data.records import first_damaged

    if not 0 <= args.mosaic_prob <= 1:
        raise PoseTfError(f"--mosaic-prob must be in [0, 1], got {args.mosaic_prob}")
    recipe = load_recipe(args.recipe) if args.recipe else single_source(args.records)
    try:
        written = _render(recipe, args)
    except tf.errors.DataLossError as exc:
        # The pipeline's error does not say which shard: find it, and say that instead.
        files = [path for paths in recipe.files(args.records_root) for path in paths]
        damaged = first_damaged(files)
        first_line = (str(exc.message).strip().splitlines() or ["data loss"])[0]
        raise damaged or PoseTfError(f"{args.records or args.recipe}: damaged records "
                                     f"({first_line})") from None
    print(f"wrote {written} sheets to {args.out}")
    return 0 if written else 1


def _render(recipe, args) -> int:
    """Render `args.num` pipeline samples of `recipe` to args.out; the count written."""
    from tqdm import tqdm

    from ..data.augment import AugmentConfig
    from ..data.pipeline import samples_dataset
    from ..io.images import write_image

    ds = samples_dataset(recipe, input_size=tuple(args.input_size), training=not args.no_augment,
                         seed=args.seed, records_root=args.records_root, shuffle_buffer=64,
                         augment=AugmentConfig(mosaic_prob=args.mosaic_prob), with_info=True)
    os.makedirs(args.out, exist_ok=True)
    written = 0
    for i, (image, maps, info) in enumerate(tqdm(ds.take(args.num), total=args.num, desc="render")):
        title = (f"{info['source'].numpy().decode()}/{info['variant'].numpy().decode()} "
                 f"{os.path.basename(info['filename'].numpy().decode())}")
        sheet = render_sheet(image.numpy(), {k: v.numpy() for k, v in maps.items()}, title=title)
        path = os.path.join(args.out, f"sample_{i:03d}.png")
        write_image(path, sheet)
        written += 1
    return written


def _upsample(grid, size):
    import cv2

    return cv2.resize(grid, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _label(panel, text):
    import cv2

    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(panel, (2, 2), (10 + w, 10 + h + base), (0, 0, 0), -1)
    cv2.putText(panel, text, (6, 6 + h), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def heatmap_panel(image, heatmaps):
    import cv2
    import numpy as np

    joints = heatmaps[..., :-1].max(axis=-1)
    heat = _upsample(joints, image.shape[:2])
    colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    alpha = np.clip(heat, 0, 1)[..., None] * 0.75
    return (image * (1 - alpha) + colour * alpha).astype(np.uint8)


def paf_panel(image, pafs, stride):
    import cv2
    import numpy as np

    from ..core.geometry import continuous_to_index, grid_to_input

    h, w = pafs.shape[:2]
    vec = pafs.reshape(h, w, -1, 2)
    mag = np.linalg.norm(vec, axis=-1)                      # [h, w, L]
    strongest = mag.argmax(axis=-1)
    pick = np.take_along_axis(vec, strongest[..., None, None], axis=2)[:, :, 0]
    strength = np.clip(mag.max(axis=-1), 0, 1)
    hue = ((np.degrees(np.arctan2(pick[..., 1], pick[..., 0])) % 360) / 2).astype(np.uint8)
    hsv = np.stack([hue, np.full_like(hue, 255), (strength * 255).astype(np.uint8)], axis=-1)
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    colour = cv2.resize(colour, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    alpha = cv2.resize(strength, (image.shape[1], image.shape[0]),
                       interpolation=cv2.INTER_NEAREST)[..., None] * 0.8
    panel = np.ascontiguousarray((image * 0.6 * (1 - alpha) + colour * alpha).astype(np.uint8))
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            if strength[y, x] > 0.5:
                # the cell's centre, as the pixel index cv2 draws at
                cx, cy = continuous_to_index(grid_to_input(np.array([x, y], np.float64), stride))
                dx, dy = pick[y, x] * stride * 0.9
                cv2.arrowedLine(panel, (int(cx), int(cy)), (int(cx + dx), int(cy + dy)),
                                (255, 255, 255), 1, cv2.LINE_AA, tipLength=0.4)
    return panel


def mask_panel(image, heatmap_mask):
    import numpy as np

    from ..core.keypoints import COCO_KEYPOINTS

    ignored = _upsample((heatmap_mask[..., -1] < 0.5).astype(np.float32), image.shape[:2])
    red = np.zeros_like(image)
    red[..., 0] = 255
    alpha = ignored[..., None] * 0.6
    panel = (image * (1 - alpha) + red * alpha).astype(np.uint8)
    unlabelled = [COCO_KEYPOINTS[k] for k in range(17) if heatmap_mask[..., k].max() == 0
                  and heatmap_mask[..., -1].max() > 0]
    return panel, unlabelled


def render_sheet(image, maps, stride=8, title="input"):
    """2x2 uint8 RGB sheet of one sample (image float [H, W, 3] 0..255, maps per contract)."""
    import numpy as np

    image = np.clip(image, 0, 255).astype(np.uint8)
    masked, unlabelled = mask_panel(image, maps["heatmap_mask"])
    note = "mask (red = ignored)"
    if unlabelled:
        note += f"; unlabelled: {len(unlabelled)} joints"
    top = np.concatenate([_label(image.copy(), title),
                          _label(heatmap_panel(image, maps["heatmaps"]), "heatmaps (17 joints)")], 1)
    bottom = np.concatenate([_label(paf_panel(image, maps["pafs"], stride), "PAFs (hue = direction)"),
                             _label(masked, note)], 1)
    return np.concatenate([top, bottom], 0)
