"""Image files of more than 8 bits are scaled to the model's range, not clipped: a 16-bit greyscale PNG read
by Pillow's own conversion became a saturated mask (44975 → 255)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge_runtime.core.image_folder import read_folder
from edge_runtime.core.manifest import InputSpec
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.core.quant import Quantization

SIDE = 8
# a 16-bit ramp whose top values Pillow's conversion would clip to 255
RAMP = (np.arange(SIDE * SIDE).reshape(SIDE, SIDE) * 1000 + 1000).astype(np.uint16)
EXPECTED = np.round(RAMP.astype(np.float64) * 255 / 65535).astype(np.uint8)


def image_in(mode: str) -> Image.Image:
    data = {"I;16": RAMP.astype("<u2"), "I;16B": RAMP.astype(">u2"), "I": RAMP.astype("<i4"),
            "F": (RAMP / 65535).astype("<f4")}[mode]
    return Image.frombytes(mode, (SIDE, SIDE), data.tobytes())


def preprocessor() -> Preprocessor:
    spec = InputSpec(SIDE, SIDE, 1, "L", 1.0, 0.0, "bilinear")
    return Preprocessor(spec, Quantization(1.0, -128))


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_a_deep_greyscale_image_is_scaled_not_clipped(mode, tmp_path):
    path = tmp_path / f"deep.{'png' if mode == 'I;16' else 'tiff'}"  # 16-bit PNG reads as I;16
    image_in(mode).save(path)
    with Image.open(path) as reopened:
        assert reopened.mode.startswith(mode.split(";")[0])
    pixels = preprocessor().load_pixels(str(path))
    np.testing.assert_array_equal(pixels[..., 0], EXPECTED)
    assert pixels.max() < 255  # nothing saturates


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_folders_scale_deep_images_the_same_way(mode, tmp_path):
    for name in ("deep", "plain"):
        (tmp_path / "photos" / name).mkdir(parents=True)
    image_in(mode).save(tmp_path / "photos" / "deep" / "a.tiff")
    Image.fromarray(EXPECTED).save(tmp_path / "photos" / "plain" / "b.png")
    pixels, labels, _, colour, skipped = read_folder(str(tmp_path / "photos"))
    assert colour == "L" and not skipped and labels.tolist() == [0, 1]
    np.testing.assert_array_equal(pixels[0, ..., 0], EXPECTED)
    np.testing.assert_array_equal(pixels[1, ..., 0], EXPECTED)


def test_floats_above_one_are_read_as_0_to_255(tmp_path):
    values = np.linspace(0, 250, SIDE * SIDE, dtype="<f4").reshape(SIDE, SIDE)
    path = tmp_path / "f.tiff"
    Image.frombytes("F", (SIDE, SIDE), values.tobytes()).save(path)
    np.testing.assert_array_equal(preprocessor().load_pixels(str(path))[..., 0], np.round(values).astype(np.uint8))


def test_a_photo_stored_sideways_is_turned_as_its_exif_says(tmp_path):
    """Phones store photos sideways with an EXIF orientation; every viewer turns them upright, and the board and
    the converter's folders now do too (they once read the raw, sideways pixels)."""
    sideways = Image.fromarray(EXPECTED).transpose(Image.Transpose.ROTATE_90)
    exif = sideways.getexif()
    exif[0x0112] = 6  # "turn 90° clockwise to view"
    (tmp_path / "photos" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "b").mkdir()
    sideways.save(tmp_path / "photos" / "a" / "phone.png", exif=exif)
    sideways.save(tmp_path / "photos" / "b" / "no_exif.png")
    np.testing.assert_array_equal(preprocessor().load_pixels(str(tmp_path / "photos" / "a" / "phone.png"))[..., 0],
                                  EXPECTED)
    pixels, labels, _, _, _ = read_folder(str(tmp_path / "photos"))
    np.testing.assert_array_equal(pixels[0, ..., 0], EXPECTED)
    np.testing.assert_array_equal(pixels[1, ..., 0], np.asarray(sideways))  # no orientation: as stored
