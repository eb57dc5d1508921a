"""Classifier heads and the DANN domain discriminator behind a gradient-reversal layer (GMP,
arXiv 2603.14175, Sec. 3; DANN: Ganin & Lempitsky 2015)."""

import torch
from torch import nn


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, features, coeff: float):
        ctx.coeff = coeff
        return features.view_as(features)

    @staticmethod
    def backward(ctx, grad):
        # DANN (Ganin & Lempitsky 2015): the discriminator learns to tell domains apart while the
        # encoder receives the negated gradient and learns to make them indistinguishable.
        return -ctx.coeff * grad, None


class GradientReversal(nn.Module):
    def __init__(self, coeff: float):
        super().__init__()
        self.coeff = coeff

    def forward(self, features):
        return _ReverseGradient.apply(features, self.coeff)


def mlp_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class DomainDiscriminator(nn.Module):
    """Predicts the source domain of one modality's feature; its gradient reaches the encoder reversed."""

    def __init__(self, feature_dim: int, hidden: int, num_domains: int, grl_coeff: float):
        super().__init__()
        self.reverse = GradientReversal(grl_coeff)
        self.classify = mlp_head(feature_dim, hidden, num_domains)

    def forward(self, features):
        return self.classify(self.reverse(features))
