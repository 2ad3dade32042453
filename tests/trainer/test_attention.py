"""trainer.attention: the share of activation energy on the person, on hand-made cases."""
import pytest
import torch

from trainer.attention import attention_share, mean_attention_share


def test_all_inside_all_outside_and_half():
    masks = torch.zeros(3, 8, 4, dtype=torch.uint8)
    masks[:, :4] = 1  # the top half of every image is person
    maps = torch.zeros(3, 5, 4, 2)  # feature cells of 2 x 2 pixels
    maps[0, :, :2] = 1.0  # energy only in the top half: all inside
    maps[1, :, 2:] = 3.0  # only in the bottom half: all outside
    maps[2] = 2.0  # everywhere: half inside
    assert attention_share(maps, masks).tolist() == [1.0, 0.0, 0.5]


def test_cells_partly_on_the_person_count_by_their_person_fraction():
    masks = torch.zeros(1, 2, 2, dtype=torch.uint8)
    masks[0, 0, 0] = 255  # one pixel of four: the single cell is 25 % person
    assert attention_share(torch.ones(1, 1, 1, 1), masks).item() == pytest.approx(0.25)


def test_zero_maps_and_bad_shapes():
    assert attention_share(torch.zeros(1, 2, 2, 2), torch.ones(1, 4, 4)).item() == 0.0
    with pytest.raises(ValueError, match="attention_share"):
        attention_share(torch.zeros(2, 2, 2), torch.ones(2, 4, 4))


def test_mean_over_a_loader_with_a_backbone():
    backbone = torch.nn.AvgPool2d(2)  # (B, 3, 8, 4) -> (B, 3, 4, 2)
    images = torch.zeros(2, 3, 8, 4)
    images[0, :, :4] = 1.0  # image 0 bright on the person (top half), image 1 bright below
    images[1, :, 4:] = 1.0
    masks = torch.zeros(2, 8, 4, 1, dtype=torch.uint8)
    masks[:, :4] = 1
    loader = [{"images": images[:1], "masks": masks[:1]}, {"images": images[1:], "masks": masks[1:]}]
    assert mean_attention_share(backbone, loader, "cpu") == pytest.approx(0.5)
