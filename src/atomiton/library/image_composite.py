"""``image-composite``: layers with blend modes and opacity, onto a base image or a canvas.

This module is also the imaging toolkit the ``image`` node builds on: reading an image from
whatever a Blueprint hands over (a path, ``{path}`` / ``{imagePath}`` objects, an Atomiton output
object, bytes), compositing one layer over another, and saving in a chosen format.

Compositing follows the W3C "Compositing and Blending" model, the one sharp (libvips) and
browsers use: a separable blend function ``B(Cb, Cs)`` mixes the colours, then source-over (or a
Porter-Duff operator for sharp's operator names) combines them by alpha. Opacity scales the
layer's alpha before anything else, so ``opacity: 0.5`` really is half transparent.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from atomiton.errors import NodeError
from atomiton.library._compat import primary
from atomiton.nodes.context import NodeContext
from atomiton.nodes.decorator import node

if TYPE_CHECKING:
    from PIL import Image

Array = Any  # a float32 numpy array; numpy is imported inside the functions only
ImageFormat = Literal["png", "jpeg", "webp"]
FORMATS: dict[str, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


class ImageResult(TypedDict, total=False):
    """Atomiton's image output object: ``result`` and ``imagePath`` are the written file."""

    result: str
    imagePath: str
    width: int
    height: int
    format: str
    size: int
    success: bool


@node(id="image-composite", name="Image composite", category="media", icon="layers")
def image_composite(
    ctx: NodeContext,
    layers: list[dict[str, Any]],
    base: Any = None,
    *,
    width: int | None = None,
    height: int | None = None,
    background: str = "transparent",
    output: str | None = None,
    format: ImageFormat | None = None,
    quality: int = 90,
) -> ImageResult:
    """Composite ``layers`` (each ``{image, x, y, opacity, blendMode}``) in order onto ``base``,
    or onto a ``width`` x ``height`` canvas filled with ``background``."""
    from PIL import Image, ImageColor

    node_type = "image-composite"
    if base is not None:
        canvas = open_image(base, node_type, "base").convert("RGBA")
    elif width and height:
        try:
            color = ImageColor.getrgb(background) if background != "transparent" else (0, 0, 0, 0)
        except ValueError:
            raise NodeError(
                f"[{node_type}] background '{background}' is not a colour",
                hint="use 'transparent', a name like 'white', or '#rrggbb' / '#rrggbbaa'",
            ) from None
        canvas = Image.new("RGBA", (width, height), color)
    else:
        raise NodeError(
            f"[{node_type}] nothing to composite onto: give 'base' or both 'width' and 'height'",
        )
    for index, layer in enumerate(layers):
        where = f"layers[{index}]"
        if not isinstance(layer, Mapping) or "image" not in layer:
            raise NodeError(
                f"[{node_type}] {where} must be an object with an 'image', got {layer!r}",
                hint='e.g. {"image": "logo.png", "x": 10, "y": 10, "blendMode": "multiply"}',
            )
        picture = open_image(layer["image"], node_type, where).convert("RGBA")
        if layer.get("width") or layer.get("height"):
            size = _scaled_size(picture.size, layer.get("width"), layer.get("height"))
            picture = picture.resize(size, Image.Resampling.LANCZOS)
        canvas = composite(
            canvas,
            picture,
            int(layer.get("x", 0)),
            int(layer.get("y", 0)),
            mode=str(layer.get("blendMode", "normal")),
            opacity=float(layer.get("opacity", 1.0)),
            node_type=node_type,
        )
        ctx.progress(100 * (index + 1) / max(len(layers), 1), f"layer {index + 1}/{len(layers)}")
    return save_image(canvas, node_type, ctx, output, format, quality)


def open_image(value: Any, node_type: str, what: str) -> Image.Image:
    """An image from a path, a ``{path}`` / ``{imagePath}`` / ``{data}`` object, or bytes."""
    from PIL import Image, UnidentifiedImageError

    value = primary(value)
    if isinstance(value, Mapping):
        value = next(
            (value[k] for k in ("imagePath", "path", "filePath", "data") if value.get(k)), value
        )
    try:
        if isinstance(value, bytes | bytearray | memoryview):
            picture = Image.open(io.BytesIO(bytes(value)))
        elif isinstance(value, str | Path):
            path = Path(value).expanduser()
            if not path.is_file():
                raise NodeError(
                    f"[{node_type}] Image file not found: {value} (the {what})",
                    hint="give an existing file path; relative paths start at the working folder",
                )
            picture = Image.open(io.BytesIO(path.read_bytes()))  # no file handle left open
        else:
            raise NodeError(
                f"[{node_type}] the {what} must be a file path, an object with 'path' or "
                f"'imagePath', or bytes; got {type(value).__name__}",
            )
        picture.load()
    except UnidentifiedImageError:
        raise NodeError(
            f"[{node_type}] Unsupported image format (the {what} is not an image Pillow reads)",
            hint="supported: PNG, JPEG, WebP, GIF, TIFF, BMP",
        ) from None
    return picture


def save_image(
    picture: Image.Image,
    node_type: str,
    ctx: NodeContext,
    output: str | None,
    format: str | None,
    quality: int,
) -> ImageResult:
    """Write ``picture`` to ``output`` (or a new file in the run's artifact folder)."""
    from PIL import Image

    chosen = format or (EXTENSIONS.get(Path(output).suffix.lower()) if output else None) or "png"
    if chosen not in FORMATS:
        raise NodeError(
            f"[{node_type}] unsupported output format '{chosen}'",
            hint=f"use one of {', '.join(FORMATS)}",
        )
    if not 1 <= quality <= 100:
        raise NodeError(f"[{node_type}] quality must be between 1 and 100, got {quality}")
    suffix = ".jpg" if chosen == "jpeg" else f".{chosen}"
    if output:
        target = Path(output).expanduser()
    else:
        target = ctx.artifact_dir / f"{node_type}-{uuid.uuid4().hex[:12]}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "jpeg" and picture.mode not in ("RGB", "L"):
        flat = Image.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        picture = flat
    options: dict[str, Any] = {"quality": quality} if chosen != "png" else {"optimize": True}
    picture.save(target, FORMATS[chosen], **options)
    return ImageResult(
        result=str(target),
        imagePath=str(target),
        width=picture.width,
        height=picture.height,
        format=chosen,
        size=target.stat().st_size,
        success=True,
    )


def composite(
    base: Image.Image,
    layer: Image.Image,
    x: int,
    y: int,
    *,
    mode: str = "normal",
    opacity: float = 1.0,
    node_type: str = "image-composite",
) -> Image.Image:
    """``layer`` over ``base`` (both RGBA) with its top-left corner at (x, y), clipped to base."""
    import numpy as np
    from PIL import Image

    if not 0.0 <= opacity <= 1.0:
        raise NodeError(f"[{node_type}] opacity must be between 0 and 1, got {opacity}")
    key = mode.lower().replace("_", "-")
    if key not in BLEND_MODES and key not in PORTER_DUFF:
        raise NodeError(
            f"[{node_type}] unknown blend mode '{mode}'",
            hint=f"use one of {', '.join(sorted({*BLEND_MODES, *PORTER_DUFF}))}",
        )
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + layer.width, base.width), min(y + layer.height, base.height)
    if right <= left or bottom <= top:
        return base
    under = np.asarray(base, dtype=np.float32)[top:bottom, left:right] / 255.0
    over = np.asarray(layer, dtype=np.float32)[top - y : bottom - y, left - x : right - x] / 255.0
    mixed = _mix(under, over, key, opacity)
    pixels = np.asarray(base).copy()
    pixels[top:bottom, left:right] = np.clip(np.rint(mixed * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA")


def _mix(under: Array, over: Array, mode: str, opacity: float) -> Array:
    """Blend, then combine by alpha in premultiplied form (clamped, so ``add`` saturates)."""
    import numpy as np

    cb, ab = under[..., :3], under[..., 3:]
    cs, as_ = over[..., :3], over[..., 3:] * opacity
    if mode in PORTER_DUFF:
        fa, fb = PORTER_DUFF[mode](np, as_, ab)
        blended = cs
    else:
        fa, fb = np.ones_like(as_), 1.0 - as_
        blended = (1.0 - ab) * cs + ab * BLEND_MODES[mode](np, cb, cs)
    alpha = np.clip(as_ * fa + ab * fb, 0.0, 1.0)
    premultiplied = np.clip(as_ * fa * blended + ab * fb * cb, 0.0, 1.0)
    color = np.clip(premultiplied / np.where(alpha > 0, alpha, 1.0), 0.0, 1.0)
    return np.concatenate([color, alpha], axis=-1)


def _soft_light(np: Any, cb: Array, cs: Array) -> Array:
    d = np.where(cb <= 0.25, ((16 * cb - 12) * cb + 4) * cb, np.sqrt(cb))
    return np.where(cs <= 0.5, cb - (1 - 2 * cs) * cb * (1 - cb), cb + (2 * cs - 1) * (d - cb))


def _hard_light(np: Any, cb: Array, cs: Array) -> Array:
    return np.where(cs <= 0.5, 2 * cb * cs, 1 - 2 * (1 - cb) * (1 - cs))


def _dodge(np: Any, cb: Array, cs: Array) -> Array:
    return np.where(cs >= 1, 1.0, np.minimum(1.0, cb / np.maximum(1 - cs, 1e-6)))


def _burn(np: Any, cb: Array, cs: Array) -> Array:
    return np.where(cs <= 0, 0.0, 1 - np.minimum(1.0, (1 - cb) / np.maximum(cs, 1e-6)))


Blend = Callable[[Any, Array, Array], Array]
BLEND_MODES: dict[str, Blend] = {
    "normal": lambda np, cb, cs: cs,
    "over": lambda np, cb, cs: cs,
    "multiply": lambda np, cb, cs: cb * cs,
    "screen": lambda np, cb, cs: cb + cs - cb * cs,
    "overlay": lambda np, cb, cs: _hard_light(np, cs, cb),
    "darken": lambda np, cb, cs: np.minimum(cb, cs),
    "lighten": lambda np, cb, cs: np.maximum(cb, cs),
    "difference": lambda np, cb, cs: np.abs(cb - cs),
    "exclusion": lambda np, cb, cs: cb + cs - 2 * cb * cs,
    "hard-light": _hard_light,
    "soft-light": _soft_light,
    "color-dodge": _dodge,
    "colour-dodge": _dodge,
    "color-burn": _burn,
    "colour-burn": _burn,
}
"""Separable blend functions ``B(Cb, Cs)`` (backdrop, source), combined by source-over; each
takes the numpy module first so that numpy is imported only when an image is composited."""

Factors = Callable[[Any, Array, Array], tuple[Array, Array]]
PORTER_DUFF: dict[str, Factors] = {
    "clear": lambda np, a_s, a_b: (np.zeros_like(a_s), np.zeros_like(a_b)),
    "source": lambda np, a_s, a_b: (np.ones_like(a_s), np.zeros_like(a_b)),
    "in": lambda np, a_s, a_b: (a_b, np.zeros_like(a_b)),
    "out": lambda np, a_s, a_b: (1 - a_b, np.zeros_like(a_b)),
    "atop": lambda np, a_s, a_b: (a_b, 1 - a_s),
    "dest": lambda np, a_s, a_b: (np.zeros_like(a_s), np.ones_like(a_b)),
    "dest-over": lambda np, a_s, a_b: (1 - a_b, np.ones_like(a_b)),
    "dest-in": lambda np, a_s, a_b: (np.zeros_like(a_s), a_s),
    "dest-out": lambda np, a_s, a_b: (np.zeros_like(a_s), 1 - a_s),
    "dest-atop": lambda np, a_s, a_b: (1 - a_b, a_s),
    "xor": lambda np, a_s, a_b: (1 - a_b, 1 - a_s),
    "add": lambda np, a_s, a_b: (np.ones_like(a_s), np.ones_like(a_b)),
    "saturate": lambda np, a_s, a_b: (
        np.minimum(1.0, (1 - a_b) / np.maximum(a_s, 1e-6)),
        np.ones_like(a_b),
    ),
}
"""Porter-Duff operators as (Fa, Fb) factors, for sharp's operator names (``add`` sums and
saturates)."""


def _scaled_size(size: tuple[int, int], width: Any, height: Any) -> tuple[int, int]:
    w, h = size
    if width and height:
        return int(width), int(height)
    if width:
        return int(width), max(1, round(h * int(width) / w))
    return max(1, round(w * int(height) / h)), int(height)
