"""trainer.summary: the final table."""
from attention_swap_reid.trainer.summary import format_table


def test_table_rows_percentages_and_missing_values():
    table = format_table({
        "attention": {"augment_p": 0.5, "minutes": 6.04, "rank1": 0.5, "rank5": 0.75, "rank10": 0.875,
                      "mAP": 0.41234, "mINP": 0.2, "robust_mAP": 0.3, "attention": 0.625, "gradcam": 0.7,
                      "swap_rate": 0.4875},
        "eval": {"augment_p": None, "rank1": 1.0, "rank5": 1.0, "rank10": 1.0, "mAP": 1.0, "mINP": 1.0},
    }).splitlines()
    assert table[0].startswith("| variant | augment p | rank-1 | rank-5 | rank-10 | mAP | mINP | robustness")
    assert table[0].endswith("| attention on the person | Grad-CAM on the person | swap rate | train min |")
    assert table[2] == "| attention | 0.5 | 50.0 | 75.0 | 87.5 | 41.2 | 20.0 | 30.0 | 62.5 | 70.0 | 48.8 | 6.0 |"
    assert table[3] == "| eval | - | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | - | - | - | - | 0.0 |"
