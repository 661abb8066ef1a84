"""``image``: Atomiton's image node (resize, convert, filter, overlay, merge) on Pillow.

Parameter names, defaults and the output object are Atomiton's (``SPEC.md`` section 2.7, where
sharp does the work); the behaviour is what those names promise:

- resize follows sharp's ``fit`` semantics: ``cover`` crops at ``position``, ``contain``
  letterboxes at ``position``, ``fill`` stretches, ``inside`` / ``outside`` keep the aspect ratio
  and fit within / around the box; one side alone scales the other to match;
- ``opacity`` is applied to overlays (Atomiton accepts it and ignores it);
- ``width`` / ``height`` in the output are the written file's (Atomiton echoes the request);
- the image-processor template's ``operation: resize`` (``maintainAspectRatio``) and
  ``operation: watermark`` (``watermarkPath``, ``scale``, ``margin``) run too.

Image inputs may be a path, ``{path}`` / ``{imagePath}`` objects, an upstream node's output
object, or bytes; ``images`` and a list arriving on ``input`` are lists of those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field

from atomiton.errors import NodeError
from atomiton.library._compat import primary
from atomiton.library.image_composite import (
    ImageFormat,
    ImageResult,
    composite,
    open_image,
    save_image,
)
from atomiton.nodes.context import NodeContext
from atomiton.nodes.decorator import node

if TYPE_CHECKING:
    from PIL import Image

NODE = "image"
Operation = Literal["overlay", "merge", "composite", "blend", "resize", "watermark"]
Fit = Literal["cover", "contain", "fill", "inside", "outside"]
Position = Literal[
    "center",
    "top",
    "right",
    "bottom",
    "left",
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
]
POSITIONS: tuple[str, ...] = get_args(Position)


@node(id=NODE, name="Image", category="media", icon="image", tags=("atomiton",))
def image(
    ctx: NodeContext,
    baseImage: Any = None,
    overlayImage: Any = None,
    images: list[Any] | None = None,
    input: Any = None,
    *,
    operation: Operation = "overlay",
    output: str | None = None,
    width: Annotated[float, Field(gt=0)] | None = None,
    height: Annotated[float, Field(gt=0)] | None = None,
    format: ImageFormat | None = None,
    quality: Annotated[int, Field(ge=1, le=100)] = 90,
    fit: Fit | None = None,
    position: Position = "center",
    blendMode: str = "over",
    opacity: Annotated[float, Field(ge=0, le=1)] = 1.0,
    blur: Annotated[float, Field(ge=0, le=100)] | None = None,
    sharpen: bool | None = None,
    grayscale: bool | None = None,
    maintainAspectRatio: bool = True,
    watermarkPath: str | None = None,
    scale: Annotated[float, Field(gt=0, le=1)] | None = None,
    margin: Annotated[int, Field(ge=0)] = 0,
) -> ImageResult:
    """Resize, convert and filter an image, or overlay / merge several (Atomiton's ``image``)."""
    if position not in POSITIONS:
        raise NodeError(
            f"[{NODE}] unknown position '{position}'", hint=f"use one of {', '.join(POSITIONS)}"
        )
    if blur is not None and not 0 <= blur <= 100:
        raise NodeError(f"[{NODE}] blur must be between 0 and 100, got {blur}")
    sources = _sources(baseImage, input, overlayImage, images)
    if not sources:
        raise NodeError(
            f"[{NODE}] No valid image inputs provided",
            hint="connect 'input' or 'baseImage', or set 'images' to a list of paths",
        )
    if operation == "overlay" and len(sources) < 2:
        raise NodeError(
            f"[{NODE}] overlay needs a base image and an overlay image, got one image",
            hint="connect 'baseImage' and 'overlayImage', or give two 'images'",
        )
    if operation == "merge" and len(sources) < 2:
        raise NodeError(f"[{NODE}] merge requires at least 2 images, got {len(sources)}")
    first = open_image(sources[0], NODE, "base image").convert("RGBA")
    if operation == "resize" and fit is None:
        fit = "inside" if maintainAspectRatio else "fill"
    picture = resize(first, width, height, fit or "cover", position)
    if operation == "watermark":
        mark = watermarkPath or (sources[1] if len(sources) > 1 else None)
        if mark is None:
            raise NodeError(
                f"[{NODE}] watermark needs 'watermarkPath' (or a second image)",
                hint="set watermarkPath to a PNG with transparency",
            )
        picture = _watermark(picture, mark, scale, margin, position, blendMode, opacity)
    elif operation != "resize":
        for index, extra in enumerate(sources[1:], start=1):
            layer = open_image(extra, NODE, f"image {index + 1}").convert("RGBA")
            x, y = gravity(picture.size, layer.size, position)
            picture = composite(
                picture, layer, x, y, mode=blendMode, opacity=opacity, node_type=NODE
            )
    picture = filters(picture, blur=blur, sharpen=bool(sharpen), grayscale=bool(grayscale))
    result = save_image(picture, NODE, ctx, output, format, quality)
    ctx.log(f"{operation}: wrote {result['width']}x{result['height']} {result['format']}")
    return result


def resize(
    picture: Image.Image,
    width: float | None,
    height: float | None,
    fit: str = "cover",
    position: str = "center",
) -> Image.Image:
    """Resize like sharp's ``resize(width, height, {fit, position})``."""
    from PIL import Image

    if not width and not height:
        return picture
    w, h = picture.size
    if not width or not height:
        factor = (width or 0) / w if width else (height or 0) / h
        return picture.resize(_scaled(w, h, factor), Image.Resampling.LANCZOS)
    box = (round(width), round(height))
    if fit == "fill":
        return picture.resize(box, Image.Resampling.LANCZOS)
    wide, tall = box[0] / w, box[1] / h
    if fit in ("inside", "contain"):
        scaled = picture.resize(_scaled(w, h, min(wide, tall)), Image.Resampling.LANCZOS)
        if fit == "inside":
            return scaled
        canvas = Image.new("RGBA", box, (0, 0, 0, 0))
        canvas.paste(scaled, gravity(box, scaled.size, position))
        return canvas
    if fit not in ("cover", "outside"):
        raise NodeError(
            f"[{NODE}] unknown fit '{fit}'", hint="use cover, contain, fill, inside or outside"
        )
    scaled = picture.resize(_scaled(w, h, max(wide, tall)), Image.Resampling.LANCZOS)
    if fit == "outside":
        return scaled
    x, y = gravity(scaled.size, box, position)
    return scaled.crop((x, y, x + box[0], y + box[1]))


def gravity(outer: tuple[int, int], inner: tuple[int, int], position: str) -> tuple[int, int]:
    """Top-left corner that places ``inner`` in ``outer`` at ``position`` (negative: overhang)."""
    dx, dy = outer[0] - inner[0], outer[1] - inner[1]
    x = 0 if "left" in position else dx if "right" in position else dx // 2
    y = 0 if "top" in position else dy if "bottom" in position else dy // 2
    return x, y


def filters(
    picture: Image.Image, *, blur: float | None, sharpen: bool, grayscale: bool
) -> Image.Image:
    """Gaussian blur of ``blur`` sigma, a mild unsharp mask, and grayscale (alpha kept)."""
    from PIL import ImageFilter

    if blur:
        picture = picture.filter(ImageFilter.GaussianBlur(radius=blur))
    if sharpen:
        picture = picture.filter(ImageFilter.UnsharpMask(radius=1, percent=100, threshold=0))
    if grayscale:
        picture = picture.convert("LA" if "A" in picture.getbands() else "L")
    return picture


def _watermark(
    picture: Image.Image,
    mark_source: Any,
    scale: float | None,
    margin: int,
    position: str,
    mode: str,
    opacity: float,
) -> Image.Image:
    from PIL import Image

    mark = open_image(mark_source, NODE, "watermark").convert("RGBA")
    if scale:
        factor = picture.width * scale / mark.width
        mark = mark.resize(_scaled(mark.width, mark.height, factor), Image.Resampling.LANCZOS)
    x, y = gravity(picture.size, mark.size, position)
    x += margin if "left" in position else -margin if "right" in position else 0
    y += margin if "top" in position else -margin if "bottom" in position else 0
    return composite(picture, mark, x, y, mode=mode, opacity=opacity, node_type=NODE)


def _sources(base: Any, incoming: Any, overlay: Any, images: Any) -> list[Any]:
    """Every image given, in order: base, input (one or a list), overlay, then ``images``."""
    found: list[Any] = []
    for value in (base, primary(incoming), overlay, images):
        if isinstance(value, list | tuple):
            found += [v for v in value if v is not None]
        elif value is not None:
            found.append(value)
    return found


def _scaled(w: int, h: int, factor: float) -> tuple[int, int]:
    return max(1, round(w * factor)), max(1, round(h * factor))
