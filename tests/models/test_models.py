import torch

from mmdg_bench.models.encoders import Tiny2DCNN, Tiny3DCNN
from mmdg_bench.models.heads import GradientReversal
from mmdg_bench.models.multimodal import MultimodalModel


def test_gradient_reversal_negates_and_scales():
    x = torch.randn(4, 3, requires_grad=True)
    GradientReversal(0.3)(x).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.3))


def test_any_number_of_modalities():
    encoders = {"video": Tiny3DCNN(3, 16), "audio": Tiny2DCNN(1, 16), "flow": Tiny3DCNN(2, 16)}
    model = MultimodalModel(encoders, feature_dim=16, num_classes=5, num_domains=2, head_hidden=8, grl_coeff=0.3)
    batch = {"video": torch.randn(2, 3, 4, 16, 16), "audio": torch.randn(2, 1, 20, 30),
             "flow": torch.randn(2, 2, 4, 16, 16)}
    out = model(batch)
    assert out.fused_logits.shape == (2, 5)
    assert set(out.unimodal_logits) == set(out.domain_logits) == {"video", "audio", "flow"}
    assert all(d.shape == (2, 2) for d in out.domain_logits.values())
    assert model.fused_head.head[0].in_features == 3 * 16
