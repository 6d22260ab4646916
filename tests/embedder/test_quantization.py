"""Tests for embedder.quantization: an int8 model that loads back as a model of its own."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from embedder import Embedder, ModelLoadError, load_embedder
from embedder.onnx_backend import OnnxBackbone, onnx_embedder
from embedder.quantization import METADATA_KEY, calibration_photos, main, quantize
from tests.embedder.test_onnx_backend import random_resnet18


@pytest.fixture(scope="module")
def fp32(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return onnx_embedder(random_resnet18(), cache_dir=tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def int8_file(fp32: Embedder, grocery_train: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    photos = calibration_photos(grocery_train, 16)
    return quantize(fp32, photos, tmp_path_factory.mktemp("models") / "resnet18-int8.onnx")


def test_calibration_photos_are_spread_over_the_folder(grocery_train: Path) -> None:
    photos = calibration_photos(grocery_train, 16)
    assert len(photos) == 16
    assert len({path.parent for path in photos}) >= 8  # not the first class's photos alone


def test_the_int8_model_is_a_model_of_its_own(fp32: Embedder, int8_file: Path) -> None:
    int8 = load_embedder(str(int8_file))
    assert isinstance(int8.model, OnnxBackbone)
    assert int8.preprocessing == fp32.preprocessing
    assert (int8.info.name, int8.info.dimension) == (fp32.info.name, fp32.info.dimension)
    assert int8.info.weights.startswith("int8:") and int8.info.key != fp32.info.key  # its own collection
    assert load_embedder(str(int8_file), backend="torch").info == int8.info  # only ONNX exists of it


def test_int8_vectors_stay_close_to_fp32_and_the_file_shrinks(
    fp32: Embedder, int8_file: Path, grocery_train: Path
) -> None:
    int8 = load_embedder(str(int8_file))
    held_out = sorted(grocery_train.rglob("*.jpg"))[1::97][:12]  # photos it was not calibrated on
    ours, reference = int8.embed_paths(held_out), fp32.embed_paths(held_out)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.95, cosines
    assert isinstance(fp32.model, OnnxBackbone)
    assert int8_file.stat().st_size < 0.4 * fp32.model.path.stat().st_size  # int8 weights


def test_an_onnx_file_without_vitrine_metadata_is_refused(fp32: Embedder, tmp_path: Path) -> None:
    assert isinstance(fp32.model, OnnxBackbone)
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(fp32.model.path.read_bytes())
    with pytest.raises(ModelLoadError, match="not a Vitrine int8 model"):
        load_embedder(str(plain))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot read ONNX model"):
        load_embedder(str(tmp_path / "junk.onnx"))


def test_the_metadata_says_where_the_model_came_from(fp32: Embedder, int8_file: Path) -> None:
    values = {entry.key: entry.value for entry in onnx.load(str(int8_file)).metadata_props}
    meta = json.loads(values[METADATA_KEY])
    assert meta["source"] == fp32.info.key and meta["calibration_photos"] == 16


def test_the_command_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--photos", str(tmp_path), "--out", str(tmp_path / "model.pt")])
    assert exited.value.code == 2 and "--out must name a .onnx file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--photos", str(tmp_path), "--out", str(tmp_path / "model.onnx")])
    assert exited.value.code == 1 and "no photos" in capsys.readouterr().err


def tiny_onnx(path: Path, meta: str, features: int = 3) -> Path:
    """A hand-made ONNX graph, (N, 3, 4, 4) -> (N, features), carrying the given metadata text."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["features"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", features])],
        [
            helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
            helper.make_tensor("ends", TensorProto.INT64, [1], [features]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta
    path.write_bytes(model.SerializeToString())
    return path


def tiny_meta(dimension: int) -> str:
    preprocessing = {"resize": 4, "crop": 4, "mean": [0, 0, 0], "std": [1, 1, 1]}
    return json.dumps({"architecture": "resnet18", "dimension": dimension, "preprocessing": preprocessing})


def test_metadata_nested_past_the_recursion_limit_is_a_load_error(tmp_path: Path) -> None:
    # A model a request may name (POST /admin/sync): an uncaught RecursionError answered 500.
    path = tiny_onnx(tmp_path / "deep.onnx", "[" * 100_000)
    with pytest.raises(ModelLoadError, match="unreadable Vitrine metadata"):
        load_embedder(str(path))


def test_a_dimension_the_model_does_not_produce_is_a_load_error(tmp_path: Path) -> None:
    assert load_embedder(str(tiny_onnx(tmp_path / "right.onnx", tiny_meta(3)))).info.dimension == 3
    with pytest.raises(ModelLoadError, match="says 1280-d vectors, the model gives 3"):
        load_embedder(str(tiny_onnx(tmp_path / "wrong.onnx", tiny_meta(1280))))
