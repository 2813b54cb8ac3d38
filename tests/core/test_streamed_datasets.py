"""Datasets read batch by batch: lazy rows, hash splits, memory-mapped .npz/.npy, TFRecords."""

import os

import numpy as np
import pytest
from hypothesis import given, strategies as st
from PIL import Image

from edge_runtime.core import datasets
from edge_runtime.core.datasets import load_dataset, load_folder_dataset, load_npz_dataset
from edge_runtime.core.image_rows import ArrayRows, LazyRows, mapped_images, split_by_hash
from edge_runtime.core.tfrecord import parse_example
from edge_runtime.errors import InputError


def _photo_folder(root, classes=3, per_class=20, size=10):
    """Class sub-folders of distinct noisy RGB PNGs (lossless, so pixels compare exactly)."""
    rng = np.random.default_rng(7)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels, "RGB").save(root / f"class{c}" / f"{i:03d}.png")
    return str(root)


def test_lazy_rows_index_like_the_array_they_read():
    array = np.arange(7 * 2 * 2 * 1, dtype=np.uint8).reshape(7, 2, 2, 1)
    rows = ArrayRows(array)
    assert rows.shape == array.shape and len(rows) == 7
    assert np.array_equal(rows[3], array[3]) and np.array_equal(rows[-1], array[-1])
    assert np.array_equal(rows[np.array([5, 1, 5])], array[[5, 1, 5]])
    assert np.array_equal(rows[array[:, 0, 0, 0] % 2 == 0], array[array[:, 0, 0, 0] % 2 == 0])
    view = rows[2:6]
    assert isinstance(view, LazyRows) and np.array_equal(np.asarray(view), array[2:6])
    assert np.array_equal(np.asarray(view.take([3, 0])), array[[5, 2]])
    assert np.array_equal(np.stack(list(rows)), array)
    with pytest.raises(IndexError):
        rows[7]
    assert mapped_images(view, lambda p: int(p.sum()))[1] == int(array[3].sum())


def test_a_streamed_folder_splits_exactly_as_the_same_folder_in_memory(tmp_path):
    folder = _photo_folder(tmp_path / "photos")
    held = load_folder_dataset(folder, stream=False)
    streamed = load_folder_dataset(folder, stream=True)
    assert not held.streamed and streamed.streamed
    assert np.array_equal(np.asarray(streamed.x_test), held.x_test) and np.array_equal(streamed.y_test, held.y_test)
    assert np.array_equal(np.asarray(streamed.x_train), held.x_train)
    for a, b in zip(streamed.held_out_split(), held.held_out_split()):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert 0 < len(held.y_test) < 60 and len(set(held.y_test)) == 3  # every class in the test split


def test_a_hash_split_takes_each_class_share_whatever_the_listing_order():
    keys = [f"c{i % 3}/{i:04d}.png" for i in range(300)]
    labels = np.array([i % 3 for i in range(300)])
    chosen = split_by_hash(keys, 0.2, "test", labels)
    assert [int(chosen[labels == c].sum()) for c in range(3)] == [20, 20, 20]
    order = np.random.default_rng(1).permutation(300)
    again = split_by_hash([keys[i] for i in order], 0.2, "test", labels[order])
    assert set(np.array(keys)[chosen]) == set(np.array(keys)[order][again])
    assert not np.array_equal(chosen, split_by_hash(keys, 0.2, "held-out", labels))  # salts pick other keys


def test_a_folder_over_the_memory_limit_is_streamed_by_default(tmp_path, monkeypatch):
    folder = _photo_folder(tmp_path / "photos", per_class=4)
    assert not load_dataset(folder).streamed
    monkeypatch.setattr(datasets, "STREAM_ABOVE_BYTES", 100)
    assert load_dataset(folder).streamed


def _arrays(n=40):
    rng = np.random.default_rng(3)
    return {"x_train": rng.integers(0, 256, (n, 6, 6), dtype=np.uint8), "y_train": rng.integers(0, 4, n),
            "x_test": rng.integers(0, 256, (10, 6, 6), dtype=np.uint8), "y_test": rng.integers(0, 4, 10)}


def test_an_uncompressed_npz_is_memory_mapped_and_reads_the_same(tmp_path):
    path = str(tmp_path / "d.npz")
    arrays = _arrays()
    np.savez(path, **arrays)
    held, mapped = load_npz_dataset(path), load_npz_dataset(path, stream=True)
    assert not held.streamed and mapped.streamed
    assert isinstance(mapped.x_train.array, np.memmap)
    assert np.array_equal(np.asarray(mapped.x_train), arrays["x_train"][..., None])
    for a, b in zip(mapped.held_out_split(), held.held_out_split()):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_a_compressed_npz_cannot_be_streamed_and_says_how_to_save_it(tmp_path):
    path = str(tmp_path / "d.npz")
    np.savez_compressed(path, **_arrays())
    assert not load_npz_dataset(path).streamed
    with pytest.raises(InputError, match="np.savez"):
        load_npz_dataset(path, stream=True)


def test_a_folder_of_npy_shards_reads_as_their_concatenation(tmp_path):
    arrays = _arrays()
    np.save(tmp_path / "x_train-00000.npy", arrays["x_train"][:25])
    np.save(tmp_path / "x_train-00001.npy", arrays["x_train"][25:])
    np.save(tmp_path / "y_train.npy", arrays["y_train"])
    np.save(tmp_path / "x_test.npy", arrays["x_test"])
    np.save(tmp_path / "y_test.npy", arrays["y_test"])
    data = load_dataset(str(tmp_path))
    assert data.streamed and np.array_equal(np.asarray(data.x_train)[..., 0], arrays["x_train"])
    assert np.array_equal(data.x_train[np.array([30, 2])][..., 0], arrays["x_train"][[30, 2]])
    os.remove(tmp_path / "y_test.npy")
    with pytest.raises(InputError, match="no y_test"):
        load_dataset(str(tmp_path))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from tools.make_tfrecords import write_shards

    root = tmp_path_factory.mktemp("records")
    folder = _photo_folder(root / "photos")
    write_shards(folder, str(root / "shards"), shards=2)
    return folder, str(root / "shards")


def open_bytes(path):
    with open(path, "rb") as stream:
        return stream.read()


def test_tfrecords_hold_the_folders_images_and_labels(shards):
    folder, records = shards
    assert sorted(os.listdir(records)) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    from_folder = load_dataset(folder)
    from_records = load_dataset(records)
    assert from_records.streamed and from_records.labels == ("class0", "class1", "class2")
    by_pixels = {p.tobytes(): y for p, y in zip(np.concatenate([from_folder.x_train, from_folder.x_test]),
                                                np.concatenate([from_folder.y_train, from_folder.y_test]))}
    pixels = np.concatenate([np.asarray(from_records.x_train), np.asarray(from_records.x_test)])
    labels = np.concatenate([from_records.y_train, from_records.y_test])
    assert len(labels) == 60 and all(by_pixels[p.tobytes()] == y for p, y in zip(pixels, labels))
    assert 0 < len(from_records.y_test) < 60


def test_a_corrupt_record_is_named_and_skipped_or_refused_with_strict(shards, tmp_path):
    _, records = shards
    name = sorted(os.listdir(records))[0]
    data = bytearray(open_bytes(os.path.join(records, name)))
    start = data.index(b"\x89PNG")  # the first record's image
    data[start + 40:start + 200] = bytes(160)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / name).write_bytes(bytes(data))
    loaded = load_dataset(str(damaged))
    assert len(loaded.skipped) == 1 and f"{name} record 0" in loaded.skipped[0]
    assert len(loaded.y_train) + len(loaded.y_test) == 29
    with pytest.raises(InputError, match="record 0"):
        load_dataset(str(damaged), strict=True)


def test_a_truncated_tfrecord_keeps_the_records_before_the_cut(shards, tmp_path):
    _, records = shards
    name = sorted(os.listdir(records))[0]
    data = open_bytes(os.path.join(records, name))
    (tmp_path / name).write_bytes(data[:len(data) - 100])
    loaded = load_dataset(str(tmp_path / name))
    assert len(loaded.y_train) + len(loaded.y_test) == 29 and "ends inside a record" in loaded.skipped[0]


@given(label=st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1), blob=st.binary(max_size=300),
       text=st.text(max_size=20), floats=st.lists(st.floats(width=32, allow_nan=False), max_size=5))
def test_examples_parse_as_tensorflow_writes_them(label, blob, text, floats):
    tf = pytest.importorskip("tensorflow")
    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[blob])),
               "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label, 3])),
               "image/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
               "extra": tf.train.Feature(float_list=tf.train.FloatList(value=floats))}
    data = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    parsed = parse_example(data)
    assert parsed["image/encoded"] == [blob] and parsed["image/class/label"] == [label, 3]
    assert parsed["image/class/text"] == [text.encode()]
    assert parsed["extra"] == pytest.approx([float(np.float32(f)) for f in floats])


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_with_a_record_error(blob):
    from edge_runtime.core.tfrecord import RecordError

    try:
        parse_example(blob)
    except RecordError:
        pass


def test_a_streamed_folder_names_and_skips_a_truncated_image_or_refuses_it_with_strict(tmp_path):
    folder = _photo_folder(tmp_path / "photos", per_class=5)
    victim = os.path.join(folder, "class1", "002.png")
    data = open_bytes(victim)
    with open(victim, "wb") as stream:
        stream.write(data[:len(data) // 2])  # the header reads, the body does not decode
    loaded = load_folder_dataset(folder, stream=True)
    assert len(loaded.skipped) == 1 and victim in loaded.skipped[0]
    assert len(loaded.y_train) + len(loaded.y_test) == 14
    with pytest.raises(InputError, match="002.png"):
        load_folder_dataset(folder, stream=True, strict=True)
