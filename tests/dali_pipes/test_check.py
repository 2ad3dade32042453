import hashlib
import os
import shutil

import cv2
import numpy as np
import pytest

from attention_swap_reid.dali_pipes.check import check_manifest, main
from tests.dali_pipes.conftest import write_csv, write_pair


def _tree_digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_good_manifest_passes_with_summary(good_manifest, capsys):
    assert check_manifest(good_manifest) == []
    assert main([str(good_manifest)]) == 0
    out = capsys.readouterr().out
    assert "train: 3 ids, 6 images, 3 cameras" in out and "query: 2 ids, 2 images" in out


def test_each_bad_row_is_reported_and_nothing_changes(tmp_path, capsys):
    rows = []
    image, mask = write_pair(tmp_path, "ok", seed=1)
    rows.append([image, mask, 1, 0, 0, "train"])                       # line 2: fine
    rows.append(["images/missing.jpg", mask, 1, 1, 0, "train"])        # line 3: missing image
    image, mask = write_pair(tmp_path, "trunc", seed=2)
    data = (tmp_path / image).read_bytes()
    (tmp_path / image).write_bytes(data[: len(data) // 2])
    rows.append([image, mask, 2, 0, 0, "train"])                        # line 4: truncated JPEG
    image, mask = write_pair(tmp_path, "size", mask_size=(30, 16), seed=3)
    rows.append([image, mask, 2, 1, 0, "train"])                        # line 5: mask of another size
    image, mask = write_pair(tmp_path, "empty", empty=True, seed=4)
    rows.append([image, mask, 3, 0, 0, "train"])                        # line 6: empty mask
    image, mask = write_pair(tmp_path, "pid", seed=5)
    rows.append([image, mask, "abc", 0, 0, "train"])                    # line 7: non-integer pid
    rows.append([image, mask, 4, 0, 0, "validation"])                   # line 8: unknown split
    image, mask = write_pair(tmp_path, "q", seed=6)
    rows.append([image, "", 9, 0, -1, "query"])                         # line 9: no gallery match
    image, mask = write_pair(tmp_path, "g", seed=7)
    rows.append([image, "", 9, 0, -1, "gallery"])                       # same camera only
    rows.append([image, "", 10, 1, -1, "train"])                        # line 11: train row without mask
    path = write_csv(tmp_path / "manifest.csv", rows)
    before = _tree_digest(tmp_path)

    problems = check_manifest(path)
    by_row = {}
    for p in problems:
        by_row.setdefault(p.row, []).append(p)
    assert sorted(by_row) == [3, 4, 5, 6, 7, 8, 9, 11]
    assert "not found" in by_row[3][0].message and by_row[3][0].path.endswith("missing.jpg")
    assert "truncated" in by_row[4][0].message
    assert "differs" in by_row[5][0].message and "16x30" in by_row[5][0].message
    assert "empty" in by_row[6][0].message
    assert "pid" in by_row[7][0].message
    assert "split" in by_row[8][0].message
    assert "no gallery image" in by_row[9][0].message
    assert "no mask" in by_row[11][0].message

    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: image JPEG is truncated" in out
    assert _tree_digest(tmp_path) == before


def test_undecodable_file_and_split_filter(tmp_path):
    image, mask = write_pair(tmp_path, "a")
    (tmp_path / "images" / "junk.jpg").write_bytes(b"this is not an image")
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"],
                                          ["images/junk.jpg", "", 2, 0, 0, "query"]])
    assert [p.row for p in check_manifest(path)] == [3, 3]  # undecodable + no gallery match
    assert check_manifest(path, ["train"]) == []


def test_grayscale_and_colour_masks_are_accepted(tmp_path):
    """A grayscale photo and a mask saved as RGB are valid input (decoded as RGB / GRAY)."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "g.jpg"), np.full((20, 10), 128, np.uint8))
    rgb_mask = np.zeros((20, 10, 3), np.uint8)
    rgb_mask[5:15, 2:8] = 255
    cv2.imwrite(str(tmp_path / "masks" / "g.png"), rgb_mask)
    path = write_csv(tmp_path / "m.csv", [["images/g.jpg", "masks/g.png", 1, 0, 0, "train"]])
    assert check_manifest(path) == []


def test_cli_on_missing_manifest(tmp_path, capsys):
    assert main([str(tmp_path / "none.csv")]) == 2  # the manifest itself cannot be read: a usage fault
    err = capsys.readouterr().err
    assert "manifest file not found" in err and err.count("\n") == 1


def test_unmasked_rows_have_their_kind_and_the_cli_can_accept_them(tmp_path, capsys):
    from attention_swap_reid.dali_pipes.manifest import UNMASKED
    image, mask = write_pair(tmp_path, "ok", seed=1)
    image2, empty = write_pair(tmp_path, "empty", empty=True, seed=2)
    image3, broken = write_pair(tmp_path, "size", mask_size=(30, 16), seed=3)
    image4, _ = write_pair(tmp_path, "nomask", seed=4)
    image5, empty5 = write_pair(tmp_path, "gallery", empty=True, seed=5)
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"],
                                          [image2, empty, 1, 1, 0, "train"],   # line 3: empty mask
                                          [image4, "", 2, 0, 0, "train"],      # line 4: no mask
                                          [image3, broken, 2, 1, 0, "train"],  # line 5: a real problem
                                          [image5, empty5, 3, 0, 0, "gallery"]])  # test rows need no mask
    problems = check_manifest(path, ["train", "gallery"])
    assert [(p.row, p.kind) for p in problems] == [(3, UNMASKED), (4, UNMASKED), (5, "")]
    assert main([str(path), "--splits", "train", "--unmasked", "keep"]) == 1  # row 5 still counts
    captured = capsys.readouterr()
    assert f"{path}:5: mask size" in captured.out and ":3:" not in captured.out
    assert "note: 2 training row(s) have no person mask" in captured.err and "without the augmentation" in captured.err
    cv2.imwrite(str(tmp_path / broken), np.full((32, 16), 255, np.uint8))
    assert main([str(path), "--splits", "train", "--unmasked", "drop"]) == 0
    assert main([str(path), "--splits", "train"]) == 1
    # a loader that reads no mask checks the images only
    assert check_manifest(path, ["train"], masks=False) == []


def test_jpeg_masks_are_refused(tmp_path):
    """JPEG noise would make faint non-zero 'person' pixels all over the background."""
    image, _ = write_pair(tmp_path, "a")
    mask = np.zeros((32, 16), np.uint8)
    cv2.ellipse(mask, (8, 16), (5, 11), 0, 0, 360, 255, -1)
    cv2.imwrite(str(tmp_path / "masks" / "a.jpg"), mask)
    noisy = cv2.imread(str(tmp_path / "masks" / "a.jpg"), cv2.IMREAD_GRAYSCALE)
    assert ((noisy > 0) != (mask > 0)).any()  # why: the decoded JPEG has stray non-zero pixels
    path = write_csv(tmp_path / "m.csv", [[image, "masks/a.jpg", 1, 0, 0, "train"]])
    [problem] = check_manifest(path)
    assert "is a JPEG" in problem.message and problem.path.endswith("a.jpg")


@pytest.fixture
def unreadable(monkeypatch):
    """`unreadable(path)`: opening `path` raises PermissionError, as a file without read
    permission does (chmod cannot show it here: the tests may run as root, who reads anything)."""
    import builtins
    real_open, paths = builtins.open, set()

    def open_(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) in paths:
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", open_)
    return lambda path: paths.add(str(path))


def _messages(problems, row):
    return [p.message for p in problems if p.row == row]


def test_an_image_in_two_splits_is_a_leak_by_path_and_by_copy(tmp_path, capsys):
    rows = []
    for i, (pid, cam, split) in enumerate([(1, 0, "train"), (1, 1, "train"), (7, 0, "query"), (7, 1, "gallery")]):
        image, mask = write_pair(tmp_path, f"{i}", seed=i)
        rows.append([image, mask, pid, cam, 0, split])                   # lines 2-5: fine
    shutil.copy(tmp_path / "images" / "0.jpg", tmp_path / "images" / "copy.jpg")
    rows.append(["images/1.jpg", "", 7, 2, 0, "gallery"])               # line 6: a train file in the gallery
    rows.append(["images/copy.jpg", "", 7, 3, 0, "gallery"])            # line 7: a copy of a train file
    rows.append(["images/2.jpg", "", 7, 4, 0, "gallery"])               # line 8: the query file in the gallery
    path = write_csv(tmp_path / "m.csv", rows)
    problems = check_manifest(path)
    assert sorted({p.row for p in problems}) == [6, 7, 8]
    assert _messages(problems, 6) == ["gallery image is also the image of row 3 (train): an image in two splits "
                                      "inflates every metric"]
    [copy] = _messages(problems, 7)
    assert "byte-identical copy of the image of row 2 (train" in copy
    assert "also the image of row 4 (query)" in _messages(problems, 8)[0]
    assert main([str(path)]) == 1
    assert f"{path}:7: gallery image is a byte-identical copy" in capsys.readouterr().out
    # a training loader checks its own split only: copies inside train are no leak
    shutil.copy(tmp_path / "images" / "0.jpg", tmp_path / "images" / "copy2.jpg")
    train_only = write_csv(tmp_path / "t.csv", rows[:2] + [["images/copy2.jpg", "masks/0.png", 2, 0, 0, "train"]])
    assert check_manifest(train_only) == []


def test_duplicate_rows_are_reported(tmp_path):
    image, mask = write_pair(tmp_path, "a", seed=1)
    other, other_mask = write_pair(tmp_path, "b", seed=2)
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"], [other, other_mask, 1, 1, 0, "train"],
                                          [image, mask, 1, 0, 0, "train"]])
    [problem] = check_manifest(path, ["train"])  # as the training loader checks it
    assert (problem.row, problem.message) == (4, "duplicate row: its image is already listed on row 2 (train)")


def test_test_identities_seen_in_training_are_leaks_but_distractors_are_not(tmp_path, capsys):
    rows = []
    for i, (pid, cam, split) in enumerate([(0, 0, "train"), (0, 1, "train"), (5, 0, "train"), (5, 1, "train"),
                                          (5, 0, "query"), (5, 1, "gallery"), (5, 2, "gallery"),  # lines 6-8
                                          (9, 0, "query"), (9, 1, "gallery"),
                                          (0, 2, "gallery"), (-1, 3, "gallery")]):  # Market-1501 codes
        image, mask = write_pair(tmp_path, f"{i}", seed=i)
        rows.append([image, mask, pid, cam, 0, split])
    path = write_csv(tmp_path / "m.csv", rows)
    [problem] = check_manifest(path)
    assert problem.row == 6 and problem.message.startswith("query pid 5 is also a training identity (train row 4)")
    assert main([str(path)]) == 1 and f"{path}:6: query pid 5" in capsys.readouterr().out
    # test pids numbered on their own (MSMT17), or a loader of one split: no comparison
    assert check_manifest(path, separate_test_ids=True) == []
    assert main([str(path), "--separate-test-ids"]) == 0
    assert check_manifest(path, ["train"]) == [] and check_manifest(path, ["query", "gallery"]) == []


def test_negative_pids_belong_to_the_gallery_only(tmp_path):
    rows = []
    for i, (pid, split) in enumerate([(1, "train"), (-1, "train"), (-2, "query"), (-1, "gallery")]):
        image, mask = write_pair(tmp_path, f"{i}", seed=i)
        rows.append([image, mask, pid, i, 0, split])
    problems = check_manifest(write_csv(tmp_path / "m.csv", rows))
    negative = [(p.row, p.message) for p in problems if "negative pids" in p.message]
    assert [row for row, _ in negative] == [3, 4]
    assert negative[0][1].startswith("pid -1 on a train row: negative pids mark junk and distractor images")


def _jpeg(seed=0, **params):
    image = cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 255, (128, 64, 3), dtype=np.uint8), (5, 5), 0)
    flags = [v for item in params.items() for v in (getattr(cv2, f"IMWRITE_JPEG_{item[0].upper()}"), item[1])]
    return cv2.imencode(".jpg", image, flags)[1].tobytes()


def test_a_jpeg_cut_short_with_an_end_marker_is_found(tmp_path, capfd):
    """libjpeg decodes the crafted file without an error (it warns, and fills in grey)."""
    data = _jpeg()
    crafted = data[: len(data) // 2] + b"\xff\xd9"
    assert cv2.imdecode(np.frombuffer(crafted, np.uint8), cv2.IMREAD_UNCHANGED) is not None  # why it passed
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "half.jpg").write_bytes(crafted)
    (tmp_path / "images" / "whole.jpg").write_bytes(data)
    progressive = _jpeg(1, progressive=1)
    scans = [i for i in range(len(progressive) - 1) if progressive[i:i + 2] == b"\xff\xda"]
    (tmp_path / "images" / "scans.jpg").write_bytes(progressive[:scans[-2]] + b"\xff\xd9")  # cut between scans
    path = write_csv(tmp_path / "m.csv", [["images/whole.jpg", "", 1, 0, 0, "query"],
                                          ["images/half.jpg", "", 2, 0, 0, "query"],
                                          ["images/scans.jpg", "", 3, 0, 0, "query"]])
    problems = check_manifest(path, ["query"])
    assert [(p.row, p.message, os.path.basename(p.path)) for p in problems] == [
        (3, "image JPEG is truncated: its image data ends early (decoders fill the rest with grey)", "half.jpg"),
        (4, "image JPEG is truncated: its progressive scans stop before the image is complete", "scans.jpg")]
    capfd.readouterr()
    (tmp_path / "images" / "grey.jpg").write_bytes(cv2.imencode(".jpg", np.full((32, 16), 128, np.uint8))[1].tobytes())
    whole = write_csv(tmp_path / "whole.csv", [["images/whole.jpg", "", 1, 0, 0, "query"],
                                               ["images/grey.jpg", "", 2, 0, 0, "query"]])  # luma 128: probed
    assert check_manifest(whole, ["query"]) == []
    assert capfd.readouterr().err == ""  # probing a whole JPEG prints none of libjpeg's warnings


@pytest.mark.parametrize("params", [{}, {"progressive": 1}, {"rst_interval": 2}, {"quality": 30}])
def test_jpegs_cut_anywhere_are_found_and_whole_ones_pass(tmp_path, params):
    from attention_swap_reid.dali_pipes.check import _read_image
    for seed in range(4):
        data = _jpeg(seed, **params)
        (tmp_path / "whole.jpg").write_bytes(data)
        assert _read_image(str(tmp_path / "whole.jpg"), cv2.IMREAD_UNCHANGED)[2] == ""
        for fraction in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97):
            (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * fraction)] + b"\xff\xd9")
            assert _read_image(str(tmp_path / "cut.jpg"), cv2.IMREAD_UNCHANGED)[2] != "", (seed, fraction)


def test_unreadable_files_are_row_problems(tmp_path, unreadable, capsys):
    image, mask = write_pair(tmp_path, "a", seed=1)
    other, other_mask = write_pair(tmp_path, "b", seed=2)
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"], [other, other_mask, 1, 1, 0, "train"]])
    unreadable(tmp_path / image)
    unreadable(tmp_path / other_mask)
    problems = check_manifest(path, ["train"])  # what the training loader runs: no traceback
    assert [(p.row, p.message) for p in problems] == [(2, "image cannot be read (Permission denied)"),
                                                       (3, "mask cannot be read (Permission denied)")]
    assert main([str(path)]) == 1
    assert f"{path}:2: image cannot be read (Permission denied) ({tmp_path / image})" in capsys.readouterr().out


def test_a_manifest_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, unreadable, capsys):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("image,mask,pid,camid,viewpoint,split\nimages/caf\xe9.jpg,,1,0,0,train\n".encode("latin-1"))
    assert main([str(latin1)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert f"{latin1}:2: manifest is not UTF-8 text: byte 0xe9 at offset" in captured.err
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("image,mask,pid,camid,viewpoint,split\n".encode("utf-16"))
    assert main([str(utf16)]) == 2 and "it is UTF-16" in capsys.readouterr().err
    good = write_csv(tmp_path / "good.csv", [["a.jpg", "", 1, 0, 0, "query"]])
    unreadable(good)
    assert main([str(good)]) == 2
    assert f"{good}: manifest cannot be read (Permission denied)" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2 and "is a folder" in capsys.readouterr().err
    huge = tmp_path / "huge.csv"  # a field beyond the csv module's limit
    huge.write_text("image,mask,pid,camid,viewpoint,split\n" + "x" * 200_000 + ",,1,0,0,train\n")
    assert main([str(huge)]) == 2 and "manifest is not a readable CSV file: field larger" in capsys.readouterr().err


def _png16(path, mask):
    assert cv2.imwrite(str(path), mask)
    return path


def test_an_empty_mask_says_why_when_it_holds_a_person_the_loader_cannot_see(tmp_path):
    from attention_swap_reid.dali_pipes.manifest import UNMASKED
    rows = []
    person = np.zeros((32, 16), np.uint16)
    person[8:24, 4:12] = 1
    rgba = np.zeros((32, 16, 4), np.uint8)
    rgba[8:24, 4:12, 3] = 255
    for i, mask in enumerate([person, rgba, np.zeros((32, 16), np.uint8)]):
        image, _ = write_pair(tmp_path, f"{i}", seed=i)
        _png16(tmp_path / "masks" / f"{i}.png", mask)
        rows.append([image, f"masks/{i}.png", 1, i, 0, "train"])
    problems = check_manifest(write_csv(tmp_path / "m.csv", rows))
    assert [(p.row, p.kind) for p in problems] == [(2, ""), (3, ""), (4, UNMASKED)]  # a format fault is no "unmasked"
    assert problems[0].message == ("mask is empty as an 8-bit grey image, as the loader reads it: it is a 16-bit PNG "
                                   "with max value 1, which is 0 in 8 bits; save masks as 8-bit PNGs "
                                   "(0 background, 255 person)")
    assert "the person is only in the alpha channel" in problems[1].message
    assert problems[2].message == "mask is empty (no person pixel)"
