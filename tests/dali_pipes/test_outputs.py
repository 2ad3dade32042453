"""dali_pipes.outputs: the output checks and marked pictures the commands share."""
import os

import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.manifest import OutputError
from attention_swap_reid.dali_pipes.outputs import (check_writable, encode_marked, is_marked, picture_suffix,
                                                    write_atomically)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg"])
def test_a_marked_picture_decodes_and_is_known_by_its_program_only(tmp_path, suffix):
    image = np.random.default_rng(0).integers(0, 255, (20, 12, 3), dtype=np.uint8)
    path = tmp_path / f"p{suffix}"
    write_atomically(path, encode_marked(image, suffix, "python -m tool"))
    decoded = cv2.imread(str(path))
    assert decoded.shape == image.shape
    if suffix == ".png":
        assert np.array_equal(decoded, image)
    assert is_marked(path, "python -m tool") and not is_marked(path, "python -m other")
    cv2.imwrite(str(tmp_path / f"plain{suffix}"), image)
    assert not is_marked(tmp_path / f"plain{suffix}", "python -m tool")
    assert not is_marked(tmp_path / "missing.png", "python -m tool")


def test_written_files_get_the_umask_permissions_and_leave_nothing_else(tmp_path):
    mask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "a" / "f.bin", b"data")
    finally:
        os.umask(mask)
    assert (tmp_path / "a" / "f.bin").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.bin"]


def test_check_writable_makes_the_folder_and_names_a_blocked_one(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "f.npz")
    assert (tmp_path / "new" / "deeper").is_dir() and not any((tmp_path / "new" / "deeper").iterdir())
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=rf"^output {tmp_path / 'file' / 'f.npz'}: cannot write in {tmp_path / 'file'}: "):
        check_writable(tmp_path / "file" / "f.npz")


def test_picture_suffix_names_the_ones_taken():
    assert picture_suffix("a/B.JPG") == ".jpg"
    with pytest.raises(OutputError, match=r"needs one of the suffixes \.png, \.jpg, \.jpeg \(its format\), got \.gif"):
        picture_suffix("ranks.gif")
