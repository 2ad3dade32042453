"""File-name parsing of the Market-1501 style layout."""
import pytest

from attention_swap_reid.prepare.dukemtmc import LAYOUT as DUKE
from attention_swap_reid.prepare.folder_layout import parse_file_name
from attention_swap_reid.prepare.importing import DatasetError
from attention_swap_reid.prepare.market1501 import LAYOUT as MARKET


@pytest.mark.parametrize("name, layout, expected", [
    ("0002_c1s1_000451_03.jpg", MARKET, (2, 1)),
    ("-1_c3s2_000123_02.jpg", MARKET, (-1, 3)),
    ("0000_c6s4_002202_04.jpg", MARKET, (0, 6)),
    ("0005_c2_f0046985.jpg", DUKE, (5, 2)),
    ("7140_c8_f0197550.jpg", DUKE, (7140, 8)),
])
def test_pid_and_camera_known_values(name, layout, expected):
    assert parse_file_name(name, layout) == expected


@pytest.mark.parametrize("name, layout", [("c1_0002.jpg", MARKET), ("0002_c0s1_000451_03.jpg", MARKET),
                                          ("0005_c9_f0046985.jpg", DUKE), ("0005-c2-f0046985.jpg", DUKE)])
def test_unparsable_or_out_of_range_names_raise(name, layout):
    with pytest.raises(DatasetError, match=name):
        parse_file_name(name, layout)
