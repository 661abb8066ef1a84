"""``image-composite``: layers with blend modes and opacity onto a base or a canvas, checked
pixel by pixel against the W3C formulas for opaque colours."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from recording_context import RecordingContext

from atomiton.errors import NodeError
from atomiton.library.image_composite import image_composite
from atomiton.nodes.decorator import definition_of

BACK = (200, 100, 50)
FRONT = (128, 64, 230)


@pytest.fixture
def ctx(tmp_path: Path) -> RecordingContext:
    return RecordingContext(artifact_dir=tmp_path / "artifacts")


def solid(path: Path, size: tuple[int, int], color: tuple[int, ...]) -> str:
    Image.new("RGBA", size, color).save(path)
    return str(path)


def pixel(result: Mapping[str, Any], xy: tuple[int, int]) -> tuple[int, ...]:
    with Image.open(result["imagePath"]) as picture:
        value = picture.convert("RGBA").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def channelwise(fn: Callable[[float, float], float]) -> tuple[int, int, int]:
    mixed = (fn(b / 255, f / 255) for b, f in zip(BACK, FRONT, strict=True))
    return tuple(round(min(max(v, 0.0), 1.0) * 255) for v in mixed)  # type: ignore[return-value]


def test_definition() -> None:
    definition = definition_of(image_composite)
    assert definition is not None
    assert definition.id == "image-composite"
    assert definition.input_names == ("layers", "base")


@pytest.mark.parametrize(
    ("mode", "fn"),
    [
        ("normal", lambda b, f: f),
        ("multiply", lambda b, f: b * f),
        ("screen", lambda b, f: b + f - b * f),
        ("overlay", lambda b, f: 2 * b * f if b <= 0.5 else 1 - 2 * (1 - b) * (1 - f)),
        ("darken", min),
        ("lighten", max),
        ("add", lambda b, f: b + f),
        ("difference", lambda b, f: abs(b - f)),
        ("exclusion", lambda b, f: b + f - 2 * b * f),
        ("hard-light", lambda b, f: 2 * b * f if f <= 0.5 else 1 - 2 * (1 - b) * (1 - f)),
    ],
)
def test_blend_modes_match_their_formulas(
    ctx: RecordingContext, tmp_path: Path, mode: str, fn: Callable[[float, float], float]
) -> None:
    base = solid(tmp_path / "base.png", (20, 20), (*BACK, 255))
    layer = solid(tmp_path / "layer.png", (10, 10), (*FRONT, 255))
    result = image_composite(ctx, [{"image": layer, "x": 5, "y": 5, "blendMode": mode}], base)
    got = pixel(result, (10, 10))
    want = channelwise(fn)
    assert all(abs(g - w) <= 1 for g, w in zip(got[:3], want, strict=True)), (got, want)
    assert pixel(result, (1, 1))[:3] == BACK  # outside the layer nothing changes


def test_opacity_scales_the_layer(ctx: RecordingContext, tmp_path: Path) -> None:
    red = solid(tmp_path / "red.png", (10, 10), (255, 0, 0, 255))
    result = image_composite(
        ctx,
        [{"image": red, "x": 10, "y": 10, "opacity": 0.5}],
        width=40,
        height=30,
        background="white",
    )
    assert (result["width"], result["height"]) == (40, 30)
    assert pixel(result, (15, 15)) == (255, 128, 128, 255)
    assert pixel(result, (5, 5)) == (255, 255, 255, 255)


def test_transparent_canvas_keeps_partial_alpha(ctx: RecordingContext, tmp_path: Path) -> None:
    blue = solid(tmp_path / "blue.png", (10, 10), (0, 0, 255, 255))
    result = image_composite(ctx, [{"image": blue, "opacity": 0.5}], width=10, height=10)
    assert pixel(result, (5, 5)) == (0, 0, 255, 128)


def test_layers_stack_in_order_and_clip(ctx: RecordingContext, tmp_path: Path) -> None:
    red = solid(tmp_path / "red.png", (10, 10), (255, 0, 0, 255))
    green = solid(tmp_path / "green.png", (10, 10), (0, 255, 0, 255))
    layers = [{"image": red, "x": -5, "y": -5}, {"image": green, "x": 2, "y": 2}]
    result = image_composite(ctx, layers, width=20, height=20, background="#000000")
    assert pixel(result, (1, 1)) == (255, 0, 0, 255)
    assert pixel(result, (3, 3)) == (0, 255, 0, 255)
    assert pixel(result, (15, 15)) == (0, 0, 0, 255)
    assert [p for p, _ in ctx.progress_reports] == [50.0, 100.0]


def test_layer_resized_and_porter_duff_operators(ctx: RecordingContext, tmp_path: Path) -> None:
    red = solid(tmp_path / "red.png", (4, 4), (255, 0, 0, 255))
    result = image_composite(ctx, [{"image": red, "width": 8}], width=10, height=10)
    assert pixel(result, (7, 7))[:3] == (255, 0, 0)
    assert pixel(result, (9, 9))[3] == 0
    behind = image_composite(
        ctx, [{"image": red, "blendMode": "dest-over"}], width=4, height=4, background="blue"
    )
    assert pixel(behind, (1, 1)) == (0, 0, 255, 255)
    cleared = image_composite(
        ctx, [{"image": red, "blendMode": "clear"}], width=4, height=4, background="blue"
    )
    assert pixel(cleared, (1, 1))[3] == 0


def test_writes_the_requested_format(ctx: RecordingContext, tmp_path: Path) -> None:
    target = tmp_path / "out" / "card.jpg"
    result = image_composite(ctx, [], width=16, height=8, background="white", output=str(target))
    assert result["format"] == "jpeg"
    with Image.open(target) as written:
        assert written.format == "JPEG"
    assert result["size"] == target.stat().st_size


@pytest.mark.parametrize(
    ("layers", "kwargs", "message"),
    [
        ([], {}, "nothing to composite onto"),
        ([], {"width": 5, "height": 5, "background": "plaid"}, "background 'plaid' is not"),
        (["x.png"], {"width": 5, "height": 5}, "layers[0] must be an object with an 'image'"),
        ([{"image": "/none.png"}], {"width": 5, "height": 5}, "Image file not found: /none.png"),
        ([{"image": "LAYER", "blendMode": "glow"}], {"width": 5, "height": 5}, "blend mode 'glow'"),
        ([{"image": "LAYER", "opacity": -1}], {"width": 5, "height": 5}, "opacity must be"),
        ([], {"width": 5, "height": 5, "format": "gif"}, "unsupported output format 'gif'"),
    ],
)
def test_errors(
    ctx: RecordingContext,
    tmp_path: Path,
    layers: list[Any],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    layer = solid(tmp_path / "layer.png", (2, 2), (1, 2, 3, 255))
    layers = [_real(item, layer) for item in layers]
    with pytest.raises(NodeError) as caught:
        image_composite(ctx, layers, **kwargs)
    assert message in str(caught.value)
    assert str(caught.value).startswith("[image-composite]")


def _real(item: Any, layer: str) -> Any:
    """A parametrised layer whose image is the placeholder 'LAYER', pointed at a real file."""
    return {**item, "image": layer} if isinstance(item, dict) and item["image"] == "LAYER" else item
