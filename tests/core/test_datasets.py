import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from edge_runtime.core.datasets import load_dataset
from edge_runtime.errors import InputError


def test_digits_split_is_deterministic():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert np.array_equal(a.y_test, b.y_test) and a.x_test.shape == (359, 8, 8, 1) and a.x_test.dtype == np.uint8
    fit1, held1 = a.held_out_split()[1], a.held_out_split()[3]
    assert len(fit1) + len(held1) == len(a.y_train)


def test_npz_float_pixels(tmp_path):
    path = str(tmp_path / "d.npz")
    np.savez(path, x_train=np.full((4, 5, 5), 0.5), y_train=[0, 1, 0, 1], x_test=np.zeros((2, 5, 5)), y_test=[1, 0])
    data = load_dataset(path)
    assert data.x_train.dtype == np.uint8 and data.x_train[0, 0, 0, 0] == 128 and data.labels == ("0", "1")


def test_npz_missing_arrays(tmp_path):
    path = str(tmp_path / "d.npz")
    np.savez(path, x=np.zeros((2, 2)))
    with pytest.raises(InputError, match="missing arrays x_train, y_train, x_test, y_test"):
        load_dataset(path)


def test_npz_mismatched_lengths(tmp_path):
    path = str(tmp_path / "d.npz")
    np.savez(path, x_train=np.zeros((4, 5, 5), np.uint8), y_train=[0, 1], x_test=np.zeros((2, 5, 5), np.uint8), y_test=[1, 0])
    with pytest.raises(InputError, match="x_train has 4 images but y_train has 2 labels"):
        load_dataset(path)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=1, max_size=30), st.integers(0, 4), st.sampled_from(["uint8", "float32"]))
def test_one_hot_labels_load_as_the_class_indices(tmp_path_factory, labels, extra, dtype):
    """y as one-hot rows (keras.utils.to_categorical's layout, with any number of classes past the largest) loads
    as the same class indices as y given as indices; once it read as N × C labels and failed on the count."""
    path = str(tmp_path_factory.mktemp("onehot") / "d.npz")
    y = np.array(labels)
    one_hot = np.eye(max(2, y.max() + 1 + extra), dtype=dtype)[y]  # (N, 1) is a column of indices
    images = np.zeros((len(y), 4, 4), np.uint8)
    np.savez(path, x_train=images, y_train=one_hot, x_test=images[:1], y_test=one_hot[:1])
    data = load_dataset(path)
    assert data.y_train.tolist() == labels and data.y_test.tolist() == labels[:1]
    assert len(data.labels) == one_hot.shape[1]  # the columns count the classes, seen or not


@pytest.mark.parametrize("y_train, message", [
    (np.array([[0.9, 0.1], [0.2, 0.8]]), r"y_train has shape \(2, 2\) but its rows are not one-hot"),
    (np.array([[1, 1], [0, 1]]), "its rows are not one-hot"),
    (np.array([0.0, 1.5]), "not whole numbers"),
    (np.zeros((2, 2, 2)), r"has shape \(2, 2, 2\); expected class indices"),
])
def test_labels_that_are_not_classes_are_refused(tmp_path, y_train, message):
    path = str(tmp_path / "d.npz")
    images = np.zeros((2, 4, 4), np.uint8)
    np.savez(path, x_train=images, y_train=y_train, x_test=images, y_test=np.array([0, 1]))
    with pytest.raises(InputError, match=message):
        load_dataset(path)


def test_image_folder(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (6, 6) if i else (9, 9), (i * 40, 10, 10)).save(tmp_path / label / f"{i}.png")
    data = load_dataset(str(tmp_path))
    assert data.labels == ("cat", "dog") and data.image_shape == (6, 6, 3) and data.color_mode == "RGB"
    assert len(data.y_train) + len(data.y_test) == 10


def test_a_class_folder_s_own_sub_folders_are_read_too(tmp_path):
    """photos/cat/2023/a.jpg is a cat, as Keras' image_dataset_from_directory reads it (such images were left out
    without a word); hidden folders are not read."""
    for where in ("cat", "cat/2023", "cat/2024/june", "dog", "dog/.thumbnails"):
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.new("RGB", (6, 6), (i * 40, 10, 10)).save(tmp_path / where / f"{i}.png")
    data = load_dataset(str(tmp_path))
    labels = np.concatenate([data.y_train, data.y_test])
    assert data.labels == ("cat", "dog") and (labels == 0).sum() == 6 and (labels == 1).sum() == 2


def test_folder_without_classes(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(InputError, match="one sub-folder of images per class"):
        load_dataset(str(tmp_path))


def test_which_datasets_are_images_resized_to_one_size(tmp_path):
    """What the converter resizes to --model's input: folders of images and TFRecords, not arrays."""
    from edge_runtime.core.datasets import is_image_source

    photos = tmp_path / "photos" / "a"
    photos.mkdir(parents=True)
    (photos / "1.png").write_bytes(b"")
    arrays, shards = tmp_path / "arrays", tmp_path / "shards"
    arrays.mkdir()
    shards.mkdir()
    (arrays / "x_train.npy").write_bytes(b"")
    (shards / "x_train-00.npy").write_bytes(b"")
    (tmp_path / "d.npz").write_bytes(b"")
    assert is_image_source(str(tmp_path / "photos"))
    assert not any(is_image_source(str(p)) for p in (arrays, shards, tmp_path / "d.npz"))
    assert not is_image_source("digits") and not is_image_source(str(tmp_path / "missing"))


def test_class_names_as_labels_become_the_bundle_labels(tmp_path):
    """y as class names (sorted, as an image folder's sub-folders are) label the classes; mixing names and
    numbers across splits is refused. Channels-first images get the transpose to make."""
    path = str(tmp_path / "d.npz")
    images = np.zeros((3, 4, 4), np.uint8)
    np.savez(path, x_train=images, y_train=np.array(["dog", "cat", "owl"]), x_test=images[:2],
             y_test=np.array([["owl"], ["cat"]]))
    data = load_dataset(path)
    assert data.labels == ("cat", "dog", "owl")
    assert data.y_train.tolist() == [1, 0, 2] and data.y_test.tolist() == [2, 0]
    np.savez(path, x_train=images, y_train=np.array([b"dog", b"cat", b"owl"]), x_test=images[:2],
             y_test=np.array([b"owl", b"cat"]))
    assert load_dataset(path).labels == ("cat", "dog", "owl")  # bytes too, not "b'cat'"
    np.savez(path, x_train=images, y_train=np.array(["dog", "cat", "owl"]), x_test=images[:2], y_test=[0, 1])
    with pytest.raises(InputError, match="y_train holds class names, y_test numbers"):
        load_dataset(path)
    np.savez(path, x_train=np.zeros((3, 3, 8, 8), np.uint8), y_train=[0, 1, 0], x_test=images[:2], y_test=[0, 1])
    with pytest.raises(InputError, match=r"channels first\? np.transpose\(x, \(0, 2, 3, 1\)\)"):
        load_dataset(path)


def test_every_image_is_the_training_test_and_validation_images(tmp_path):
    """What calibrate --unseen fits on: every image once, with its label, training then test then x_val."""
    path = str(tmp_path / "d.npz")
    x = np.arange(9, dtype=np.uint8).reshape(9, 1, 1) * np.ones((9, 2, 2), np.uint8)
    np.savez(path, x_train=x[:4], y_train=[0, 1, 2, 3], x_test=x[4:6], y_test=[4, 5], x_val=x[6:], y_val=[6, 7, 8])
    pixels, labels = load_dataset(path).every_image()
    assert labels.tolist() == list(range(9)) and len(pixels) == 9
    assert np.asarray(pixels)[:, 0, 0, 0].tolist() == list(range(9))
