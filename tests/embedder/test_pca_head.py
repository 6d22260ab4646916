"""Tests for embedder.pca_head: a PCA head that matches scikit-learn's PCA and loads as a model of its own."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch.nn import functional

from embedder import ModelLoadError, load_embedder
from embedder.checkpoint import save_checkpoint
from embedder.pca_head import backbone_of, main, pca_head, reduce
from embedder.projection_head import ProjectionHead
from embedder.quantization import calibration_photos
from tests.embedder.test_checkpoint import PREPROCESSING, seeded_backbone


def clustered_unit_vectors(count: int = 300, width: int = 24) -> np.ndarray:
    generator = np.random.default_rng(0)
    centres = generator.standard_normal((6, width)) * 3
    vectors = centres[generator.integers(0, 6, count)] + generator.standard_normal((count, width))
    unit: np.ndarray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_the_head_is_scikit_learns_pca_of_the_unit_vectors() -> None:
    vectors = clustered_unit_vectors()
    expected = PCA(5).fit_transform(vectors)
    with torch.no_grad():
        # Rows scaled away from unit length: the head normalises its input first.
        ours = pca_head(vectors, 5)(torch.from_numpy(vectors * 7.0)).numpy()
    assert ours.shape == (len(vectors), 5)
    # An axis's sign is arbitrary; each column matches scikit-learn's up to sign.
    signs = np.sign((ours * expected).sum(axis=0))
    assert np.allclose(ours * signs, expected, atol=1e-4)


def test_whitening_gives_every_axis_unit_variance() -> None:
    vectors = clustered_unit_vectors()
    with torch.no_grad():
        plain = pca_head(vectors, 5)(torch.from_numpy(vectors)).numpy()
        white = pca_head(vectors, 5, whiten=True)(torch.from_numpy(vectors)).numpy()
    assert np.allclose(white.std(axis=0, ddof=1), 1.0, atol=1e-3)
    assert plain.std(axis=0)[0] > 2 * plain.std(axis=0)[-1]  # without, the first axes dominate


@pytest.mark.parametrize(("count", "dimension"), [(300, 24), (300, 0), (5, 5)])
def test_impossible_widths_are_refused(count: int, dimension: int) -> None:
    with pytest.raises(ValueError, match=r"dimension must be|axes need more"):
        pca_head(clustered_unit_vectors(count), dimension)


def test_the_flag_survives_the_head_config_and_old_configs_read_as_before() -> None:
    head = ProjectionHead([8, 4], normalise_input=True)
    assert ProjectionHead.from_config(head.config()).normalise_input
    assert not ProjectionHead.from_config({"dims": [8, 4], "bias": True}).normalise_input
    assert "normalise_input" not in ProjectionHead([8, 4]).config()


def test_a_reduced_checkpoint_embeds_the_projected_unit_vectors(tmp_path: Path, grocery_train: Path) -> None:
    source = tmp_path / "source.pt"
    save_checkpoint(source, seeded_backbone(), "resnet18", PREPROCESSING, config={"epochs": 3})
    photos = calibration_photos(grocery_train, 40)
    out = reduce(str(source), photos, 16, tmp_path / "reduced.pt")

    full, reduced = load_embedder(str(source)), load_embedder(str(out))
    assert (reduced.info.dimension, reduced.info.name) == (16, "resnet18")
    assert reduced.info.key != full.info.key  # its own collection
    full_vectors = full.embed_paths(photos)
    with torch.no_grad():
        expected = functional.normalize(pca_head(full_vectors, 16)(torch.from_numpy(full_vectors)), dim=1)
    vectors = reduced.embed_paths(photos)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, expected.numpy(), atol=1e-4)


def test_a_checkpoint_with_a_head_is_refused(
    tmp_path: Path, grocery_train: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "headed.pt"
    save_checkpoint(path, seeded_backbone(), "resnet18", PREPROCESSING, head=ProjectionHead([512, 8]))
    with pytest.raises(ModelLoadError, match="already has a 8-d head"):
        backbone_of(str(path))
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--model",
                str(path),
                "--photos",
                str(grocery_train),
                "--dimension",
                "4",
                "--out",
                str(tmp_path / "x.pt"),
            ]
        )
    assert exit_info.value.code == 1
    assert "already has a 8-d head" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_vitrine_reduce_writes_a_model_the_other_commands_load(tmp_path: Path, grocery_train: Path) -> None:
    from click.testing import CliRunner

    from backend.cli.commands import main as vitrine

    source = tmp_path / "source.pt"
    save_checkpoint(source, seeded_backbone(), "resnet18", PREPROCESSING)
    out = tmp_path / "reduced.pt"
    arguments = ["reduce", "--model", str(source), "--photos", str(grocery_train), "--count", "24"]
    result = CliRunner().invoke(vitrine, [*arguments, "--dimension", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "8-d vectors, fitted on 24 photos" in result.output
    assert load_embedder(str(out)).info.dimension == 8
