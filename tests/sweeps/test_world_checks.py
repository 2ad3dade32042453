"""The world measurements (sweeps/world_checks.py): the colour histogram against OpenCV's, the
halves of a person, the shared-scene count and the retrieval mAP on hand-made cases."""
import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.manifest import Sample
from attention_swap_reid.sweeps import world_checks as wc


def test_histogram_is_the_square_root_of_opencvs_normalized_histogram():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 8, 3), dtype=np.uint8)
    keep = rng.random((16, 8)) < 0.6
    hist = cv2.calcHist([image], [0, 1, 2], keep.astype(np.uint8), [4, 4, 4], [0, 256] * 3).ravel()
    assert np.allclose(wc.histogram(image, keep), np.sqrt(hist / hist.sum()))
    assert wc.histogram(image, keep) @ wc.histogram(image, keep) == pytest.approx(1.0)


def test_halves_split_the_person_at_the_middle_row_of_its_box():
    person = np.zeros((10, 4), bool)
    person[2:8, 1:3] = True
    upper, lower = wc._region(person, "upper half"), wc._region(person, "lower half")
    assert np.flatnonzero(upper.any(1)).tolist() == [2, 3, 4] and np.flatnonzero(lower.any(1)).tolist() == [5, 6, 7]
    assert (upper | lower).sum() == person.sum() and not (upper & lower).any()
    assert (wc._region(person, "background") == ~person).all()


def test_shared_scenes_counts_query_gallery_pairs():
    def s(pid, split, scene):
        return Sample("x", "y", pid, 0, 0, split, extra={"scene": scene})
    samples = [s(1, "query", 3), s(2, "query", 4), s(1, "gallery", 3), s(2, "gallery", 3), s(3, "gallery", 5)]
    assert wc.shared_scenes(samples) == (2, 1)   # (q1, g1) same person, (q1, g2) another


def test_part_map_finds_people_by_their_colour(tmp_path):
    """Two people (red and blue) on the same grey backdrop: person pixels retrieve perfectly,
    the backdrop cannot tell them apart."""
    samples = []
    for k, (pid, colour, split, cam) in enumerate([(1, (0, 0, 255), "query", 0), (2, (255, 0, 0), "query", 0),
                                                   (1, (0, 0, 255), "gallery", 1), (2, (255, 0, 0), "gallery", 1)]):
        image = np.full((16, 8, 3), 128, np.uint8)
        mask = np.zeros((16, 8), np.uint8)
        mask[4:12, 2:6] = 255
        image[mask > 0] = colour
        cv2.imwrite(str(tmp_path / f"{k}.png"), image)
        cv2.imwrite(str(tmp_path / f"{k}m.png"), mask)
        samples.append(Sample(str(tmp_path / f"{k}.png"), str(tmp_path / f"{k}m.png"), pid, cam, 0, split))
    assert wc.part_map(samples, "person") == pytest.approx(100.0)
    assert wc.part_map(samples, "background") == pytest.approx(75.0)   # ties: gallery order, 1 then 0.5
    assert 60 < wc.random_map(samples, draws=200) < 90                  # two gallery items: 100 or 50
