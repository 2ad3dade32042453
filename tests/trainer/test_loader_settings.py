"""The trainer config's `loader` and `data` sections reach the loaders' grouped options."""
from attention_swap_reid.dali_pipes import BotOptions, Placement
from attention_swap_reid.dali_pipes.checked import checked_manifest
from attention_swap_reid.trainer.config import from_dict
from attention_swap_reid.trainer.distributed import DistInfo
from attention_swap_reid.trainer.fit import _train_loader, make_eval_sets


def test_the_loader_section_reaches_the_loaders(tiny_world):
    cfg = from_dict({"data": {"manifest": str(tiny_world), "size": [64, 32]},
                     "loader": {"device": "cpu", "batch_p": 2, "batch_k": 4, "num_threads": 3, "flip": 0.25,
                                "pad": 3, "erasing": 0.75, "augment_in": "iterator", "mask_source": "png"}})
    checked = checked_manifest(tiny_world)
    train = _train_loader(cfg, 0.0, DistInfo(), "cpu", checked)
    assert train.bot == BotOptions(flip=0.25, pad=3, erasing=0.75)
    assert train.placement == Placement(augment_in="iterator", mask_source="png", num_threads=3)
    assert train.augment_in == "iterator" and train.batch_size == 8
    for loader in make_eval_sets(cfg, "cpu", {"test": checked})["test"]:
        assert loader.placement.num_threads == 3
