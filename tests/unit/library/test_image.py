"""The ``image`` node: sharp's resize semantics, formats, filters, overlays with opacity, and the
image-processor template's ``resize`` / ``watermark`` operations."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from recording_context import RecordingContext

from atomiton.errors import NodeError
from atomiton.library.image import image
from atomiton.nodes.decorator import definition_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "images"
PHOTO = str(FIXTURES / "sample-photo.png")  # 1200 x 800 RGBA
THUMB = str(FIXTURES / "sample-thumbnail.png")  # 300 x 200 RGBA


@pytest.fixture
def ctx(tmp_path: Path) -> RecordingContext:
    return RecordingContext(artifact_dir=tmp_path / "artifacts")


def solid(path: Path, size: tuple[int, int], color: tuple[int, ...]) -> str:
    Image.new("RGBA", size, color).save(path)
    return str(path)


@pytest.fixture
def halves(tmp_path: Path) -> str:
    """A 200 x 100 image: left half red, right half blue."""
    pixels = np.zeros((100, 200, 4), dtype=np.uint8)
    pixels[:, :100] = (255, 0, 0, 255)
    pixels[:, 100:] = (0, 0, 255, 255)
    path = tmp_path / "halves.png"
    Image.fromarray(pixels, "RGBA").save(path)
    return str(path)


def opened(result: Mapping[str, Any]) -> Image.Image:
    picture = Image.open(result["imagePath"])
    picture.load()
    return picture


def alpha(picture: Image.Image, xy: tuple[int, int]) -> int:
    value = picture.getpixel(xy)
    assert isinstance(value, tuple)
    return value[3]


def test_definition_uses_atomitons_names() -> None:
    definition = definition_of(image)
    assert definition is not None
    assert definition.id == "image"
    assert set(definition.input_names) == {"baseImage", "overlayImage", "images", "input"}
    assert set(definition.output_names) == {
        "result",
        "imagePath",
        "width",
        "height",
        "format",
        "size",
        "success",
    }
    assert definition.parameter("fit") is not None
    assert definition.parameter("operation").default == "overlay"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("position", "expected"),
    [("left", (255, 0, 0)), ("right", (0, 0, 255)), ("top-right", (0, 0, 255))],
)
def test_cover_crops_at_the_position(
    ctx: RecordingContext, halves: str, position: Any, expected: tuple[int, int, int]
) -> None:
    result = image(
        ctx, halves, operation="composite", width=100, height=100, fit="cover", position=position
    )
    picture = opened(result).convert("RGB")
    assert picture.size == (100, 100)
    assert picture.getpixel((50, 50)) == expected
    assert (result["width"], result["height"]) == (100, 100)


def test_contain_letterboxes_at_the_position(ctx: RecordingContext, halves: str) -> None:
    top = opened(
        image(
            ctx, halves, operation="composite", width=200, height=200, fit="contain", position="top"
        )
    )
    assert top.size == (200, 200)
    assert alpha(top, (10, 10)) == 255  # the picture sits at the top
    assert alpha(top, (10, 190)) == 0  # transparent bar below it
    centre = opened(image(ctx, halves, operation="composite", width=200, height=200, fit="contain"))
    assert alpha(centre, (10, 10)) == 0
    assert alpha(centre, (10, 100)) == 255


@pytest.mark.parametrize(
    ("fit", "box", "size"),
    [
        ("fill", (50, 80), (50, 80)),
        ("inside", (300, 300), (300, 200)),
        ("outside", (300, 300), (450, 300)),
        ("cover", (300, 300), (300, 300)),
        ("contain", (300, 300), (300, 300)),
    ],
)
def test_fit_modes_give_sharps_sizes(
    ctx: RecordingContext, fit: Any, box: tuple[int, int], size: tuple[int, int]
) -> None:
    result = image(ctx, PHOTO, operation="composite", width=box[0], height=box[1], fit=fit)
    assert opened(result).size == size
    assert (result["width"], result["height"]) == size


def test_one_side_keeps_the_aspect_ratio(ctx: RecordingContext) -> None:
    assert opened(image(ctx, PHOTO, operation="blend", width=600)).size == (600, 400)
    assert opened(image(ctx, PHOTO, operation="blend", height=100)).size == (150, 100)


@pytest.mark.parametrize(("fmt", "pil_name"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_formats(ctx: RecordingContext, fmt: str, pil_name: str) -> None:
    result = image(ctx, THUMB, operation="composite", format=fmt)  # type: ignore[arg-type]
    picture = opened(result)
    assert picture.format == pil_name
    assert result["format"] == fmt
    assert result["size"] == Path(result["imagePath"]).stat().st_size
    assert result["result"] == result["imagePath"]
    assert result["success"] is True


def test_quality_changes_the_jpeg(ctx: RecordingContext) -> None:
    low = image(ctx, PHOTO, operation="composite", format="jpeg", quality=10)
    high = image(ctx, PHOTO, operation="composite", format="jpeg", quality=95)
    assert low["size"] < high["size"]


def test_output_path_and_format_from_its_extension(ctx: RecordingContext, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.webp"
    result = image(ctx, THUMB, operation="composite", output=str(target))
    assert result["imagePath"] == str(target)
    assert opened(result).format == "WEBP"


def test_blur_sharpen_grayscale(ctx: RecordingContext, tmp_path: Path) -> None:
    board = np.kron(np.indices((8, 8)).sum(axis=0) % 2, np.ones((8, 8))) * 255
    source = tmp_path / "board.png"
    Image.fromarray(board.astype(np.uint8), "L").convert("RGBA").save(source)
    plain = np.asarray(opened(image(ctx, str(source), operation="composite")).convert("L"))
    blurred = np.asarray(
        opened(image(ctx, str(source), operation="composite", blur=3)).convert("L")
    )
    assert blurred.std() < plain.std() * 0.9
    soft = image(ctx, str(source), operation="composite", blur=2)
    sharper = np.asarray(
        opened(image(ctx, soft["imagePath"], operation="composite", sharpen=True)).convert("L")
    )
    assert sharper.std() > np.asarray(opened(soft).convert("L")).std()
    gray = opened(image(ctx, PHOTO, operation="composite", grayscale=True))
    assert gray.mode == "LA"


def test_overlay_applies_opacity_at_the_position(ctx: RecordingContext, tmp_path: Path) -> None:
    base = solid(tmp_path / "red.png", (100, 100), (255, 0, 0, 255))
    mark = solid(tmp_path / "blue.png", (20, 20), (0, 0, 255, 255))
    result = image(ctx, base, mark, opacity=0.5, position="bottom-right")
    picture = opened(result).convert("RGB")
    assert picture.getpixel((90, 90)) == (128, 0, 128)
    assert picture.getpixel((50, 50)) == (255, 0, 0)
    assert ctx.logs[-1] == ("info", "overlay: wrote 100x100 png")


def test_merge_composites_every_other_image(ctx: RecordingContext, tmp_path: Path) -> None:
    base = solid(tmp_path / "white.png", (60, 60), (255, 255, 255, 255))
    red = solid(tmp_path / "red.png", (10, 10), (255, 0, 0, 255))
    green = solid(tmp_path / "green.png", (5, 5), (0, 255, 0, 255))
    picture = opened(image(ctx, images=[base, red, green], operation="merge", position="top-left"))
    rgb = picture.convert("RGB")
    assert rgb.getpixel((2, 2)) == (0, 255, 0)
    assert rgb.getpixel((8, 8)) == (255, 0, 0)
    assert rgb.getpixel((30, 30)) == (255, 255, 255)


def test_multiply_blend_mode(ctx: RecordingContext, tmp_path: Path) -> None:
    base = solid(tmp_path / "a.png", (10, 10), (200, 100, 50, 255))
    layer = solid(tmp_path / "b.png", (10, 10), (128, 128, 128, 255))
    picture = opened(image(ctx, base, layer, blendMode="multiply")).convert("RGB")
    assert picture.getpixel((5, 5)) == (100, 50, 25)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda p: {"path": p},
        lambda p: {"imagePath": p},
        lambda p: {"result": p, "success": True, "width": 300},
        lambda p: Path(p).read_bytes(),
    ],
    ids=["path-object", "imagePath-object", "output-object", "bytes"],
)
def test_image_inputs_in_every_shape(ctx: RecordingContext, wrap: Any) -> None:
    result = image(ctx, input=wrap(THUMB), operation="composite", width=150)
    assert opened(result).size == (150, 100)


def test_resize_operation_of_the_template(ctx: RecordingContext) -> None:
    kept = image(
        ctx,
        input=PHOTO,
        operation="resize",
        width=800,
        height=600,
        quality=85,
        format="jpeg",
        maintainAspectRatio=True,
    )
    assert opened(kept).size == (800, 533)
    assert opened(kept).format == "JPEG"
    stretched = image(
        ctx, input=PHOTO, operation="resize", width=800, height=600, maintainAspectRatio=False
    )
    assert opened(stretched).size == (800, 600)


def test_watermark_operation_of_the_template(ctx: RecordingContext) -> None:
    result = image(
        ctx,
        input=PHOTO,
        operation="watermark",
        watermarkPath=THUMB,
        position="bottom-right",
        opacity=0.7,
        scale=0.25,
        margin=10,
    )
    marked = np.asarray(opened(result).convert("RGB")).astype(int)
    original = np.asarray(Image.open(PHOTO).convert("RGB")).astype(int)
    assert marked.shape == original.shape
    # the watermark (scaled to 300 x 200) covers x 890..1189, y 590..789
    assert (marked[:580, :] == original[:580, :]).all()
    assert (marked[795:, :] == original[795:, :]).all()
    assert (marked[590:790, 890:1190] != original[590:790, 890:1190]).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "[image] No valid image inputs provided"),
        ({"input": PHOTO}, "overlay needs a base image and an overlay image"),
        ({"images": [PHOTO], "operation": "merge"}, "merge requires at least 2 images, got 1"),
        ({"input": "/no/such.png", "operation": "composite"}, "Image file not found: /no/such.png"),
        ({"input": PHOTO, "operation": "watermark"}, "watermark needs 'watermarkPath'"),
        ({"input": PHOTO, "operation": "composite", "quality": 0}, "quality must be between"),
        ({"input": PHOTO, "operation": "composite", "blur": 101}, "blur must be between"),
        ({"input": [PHOTO, THUMB], "blendMode": "sparkle"}, "unknown blend mode 'sparkle'"),
        ({"input": [PHOTO, THUMB], "opacity": 2}, "opacity must be between 0 and 1"),
        ({"input": PHOTO, "operation": "composite", "position": "middle"}, "unknown position"),
        (
            {"input": PHOTO, "operation": "composite", "width": 9, "height": 9, "fit": "squash"},
            "unknown fit 'squash'",
        ),
        ({"input": 42, "operation": "composite"}, "must be a file path"),
    ],
)
def test_errors(ctx: RecordingContext, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NodeError) as caught:
        image(ctx, **kwargs)
    assert message in str(caught.value)


def test_a_file_that_is_not_an_image(ctx: RecordingContext, tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not a picture")
    with pytest.raises(NodeError, match=r"\[image\] Unsupported image format"):
        image(ctx, input=str(fake), operation="composite")


async def test_runs_through_the_python_runtime(tmp_path: Path) -> None:
    """The engine's in-process runtime finds the context argument and maps the output object."""
    from atomiton.runtimes.base import NodeCall
    from atomiton.runtimes.python import PythonRuntime

    definition = definition_of(image)
    assert definition is not None
    reporter = RecordingContext()
    call = NodeCall(
        run_id="r1",
        node_id="resize",
        definition=definition,
        inputs={"input": {"result": PHOTO, "success": True}},
        parameters={"operation": "resize", "width": 300, "format": "webp"},
        artifact_dir=tmp_path / "artifacts",
    )
    runtime = PythonRuntime(threads=1)
    try:
        result = await runtime.invoke(call, reporter)
    finally:
        await runtime.aclose()
    assert (result.outputs["width"], result.outputs["height"]) == (300, 200)
    assert Path(result.outputs["imagePath"]).parent == tmp_path / "artifacts"
    assert reporter.logs == [("info", "resize: wrote 300x200 webp")]
