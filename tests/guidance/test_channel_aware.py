"""Channel awareness: predicted masks narrow as SNR and budget fall; given regions never do."""

import pytest
import torch

from mllmsc.guidance import GUIDANCE
from mllmsc.guidance.base import Guidance, keep_fraction, tighten
from mllmsc.types import ChannelState


class Blob(Guidance):
    """A fixed smooth bump: a stand-in for a semantic backend."""

    name = "blob"
    channel_aware = True

    def predict(self, x, intent, csi):
        b, _, h, w = x.shape
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        d2 = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2).float()
        return torch.exp(-d2 / (2 * (h / 5) ** 2)).expand(b, 1, h, w), ["blob"], True


def test_keep_fraction_is_monotone_and_one_without_channel_state():
    assert keep_fraction(None) == 1 == keep_fraction(ChannelState())
    snrs = [-5, 0, 1, 4, 7, 10, 12, 20]
    qs = [keep_fraction(ChannelState(snr_db=s)) for s in snrs]
    assert qs == sorted(qs) and qs[-1] == 1 and qs[0] == pytest.approx(0.4)
    cbrs = [1 / 128, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 2]
    qc = [keep_fraction(ChannelState(cbr=c)) for c in cbrs]
    assert qc == sorted(qc) and qc[-1] == 1


def test_mask_area_never_grows_as_snr_falls():
    x = torch.rand(2, 3, 48, 64)
    guide = Blob()
    untouched = guide(x, "blob").mask.sum()
    areas = [int(guide(x, "blob", ChannelState(snr_db=s, cbr=1 / 16)).mask.sum()) for s in range(20, -10, -1)]
    assert all(a >= b for a, b in zip(areas, areas[1:], strict=False))
    assert areas[0] <= untouched and areas[-1] < areas[0] and areas[-1] > 0
    # the soft map narrows with the mask: soft >= 0.5 is the tightened mask
    imp = guide(x, "blob", ChannelState(snr_db=0.0, cbr=1 / 64))
    assert torch.equal(imp.soft >= 0.5, imp.mask) or (imp.mask ^ (imp.soft >= 0.5)).float().mean() < 1e-3


def test_tightened_masks_are_nested():
    soft = torch.rand(1, 1, 32, 32)
    masks = [tighten(soft, q)[1] for q in (1.0, 0.8, 0.5, 0.2, 0.05)]
    for big, small in zip(masks, masks[1:], strict=False):
        assert torch.all(big | ~small) and small.sum() <= big.sum()


def test_no_channel_state_means_no_tightening():
    x = torch.rand(1, 3, 32, 32)
    guide = Blob()
    plain = guide(x, "blob", None)
    assert torch.equal(plain.mask, guide(x, "blob", ChannelState()).mask)
    assert torch.equal(plain.mask, guide(x, "blob", ChannelState(snr_db=30, cbr=0.5)).mask)


@pytest.mark.parametrize("name, kwargs", [("box", {"box": (2, 2, 20, 20)}), ("uniform", {})])
def test_given_regions_are_never_tightened(name, kwargs):
    guide = GUIDANCE.build(name, **kwargs)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(guide(x).mask, guide(x, None, ChannelState(snr_db=-10, cbr=1 / 128)).mask)


def test_mask_tensor_is_never_tightened():
    m = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    m[..., 4:12, 4:12] = True
    imp = GUIDANCE.build("mask", mask=m)(torch.rand(1, 3, 16, 16), None, ChannelState(snr_db=-5, cbr=0.01))
    assert torch.equal(imp.mask, m)
