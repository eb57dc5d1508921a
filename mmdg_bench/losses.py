"""The benchmark's loss, as named terms in task groups (GMP, arXiv 2603.14175, Eq. 1-5 and 16).

    L = L_c + lambda L_d,  L_d = sum_m CE(discriminator_m(GRL(z_m)), domain)

What L_c holds is the setting `loss.classification`, one for every strategy so that they stay
comparable:
- `paper`: the fused (joint) classifier's CE, as the paper's Eq. 1-5 write it. The unimodal heads,
  which give per-modality accuracy and GMP's semantic confidence rho, learn on detached features
  (the model detaches their input): their CE trains the heads only, so they measure the encoders
  without steering them.
- `author`: the first author's code: each modality's g_c is unimodal_weight x CE of its own head,
  and the fused CE is back-propagated as it is (the `plain` group: never modulated or projected).
- `both`: the fused CE and the weighted unimodal CEs together in L_c.
For a strategy that does not split gradients, `author` and `both` are the same loss.
"""

import torch.nn.functional as F

from mmdg_bench.models.multimodal import ModelOutputs
from mmdg_bench.strategies.base import CLASSIFICATION, DOMAIN, FUSED, PLAIN, LossTerm


def detaches_unimodal_heads(classification: str, strategy_cls) -> bool:
    """Whether the unimodal heads learn on detached features in this run (see the module doc)."""
    return classification == "paper" and not strategy_cls.unimodal_heads_train_encoders


def loss_terms(out: ModelOutputs, labels, domains, loss_config) -> list[LossTerm]:
    fused_group = PLAIN if loss_config.classification == "author" else CLASSIFICATION
    terms = [LossTerm(f"ce/{FUSED}", F.cross_entropy(out.fused_logits, labels), 1.0, fused_group, head=FUSED)]
    terms += [LossTerm(f"ce/{m}", F.cross_entropy(logits, labels), loss_config.unimodal_weight, CLASSIFICATION,
                       modality=m, head=m) for m, logits in out.unimodal_logits.items()]
    terms += [LossTerm(f"domain/{m}", F.cross_entropy(logits, domains), loss_config.domain_weight, DOMAIN,
                       modality=m) for m, logits in out.domain_logits.items()]
    return terms
