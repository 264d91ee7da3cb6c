"""The reference models: small torch modules meant to become hardware.

Each is FINN-sized (at most a few tens of thousands of parameters, at most
32 channels) and trains in seconds on two CPU cores. All digits models take
``N x 1 x 8 x 8`` images in [0, 1]; `Mnist1dCNN` takes ``N x 1 x 40``
signals. Every class says its input shape (`input_shape`, without the batch)
and its data set (`dataset`). BatchNorm layers fold into the preceding
convolution when exported to ONNX in eval mode.

The ONNX graphs use only: Conv, BatchNormalization (folded), Relu, MaxPool,
Flatten, Gemm/MatMul, Add, GlobalAveragePool, ReduceMean, and for the
Transformer its attention arithmetic (MatMul, Softmax, LayerNormalization,
Reshape/Transpose with shape arithmetic).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class DigitsMLP(nn.Module):
    """64 -> 64 -> 32 -> 10 with ReLU."""

    dataset: ClassVar[str] = "digits"
    input_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)

    def __init__(self, hidden: tuple[int, int] = (64, 32), num_classes: int = 10):
        super().__init__()
        h1, h2 = hidden
        self.fc1 = nn.Linear(64, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def _conv_bn(cin: int, cout: int, dims: int = 2, stride: int = 1) -> nn.Sequential:
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return nn.Sequential(
        conv(cin, cout, 3, stride=stride, padding=1, bias=False), bn(cout)
    )


class DigitsLeNet(nn.Module):
    """conv 1->8 3x3, relu, maxpool 2, conv 8->16 3x3, relu, maxpool 2,
    flatten (64), fc 64 -> 32, relu, fc 32 -> 10. Convolutions have BatchNorm."""

    dataset: ClassVar[str] = "digits"
    input_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)

    def __init__(self, channels: tuple[int, int] = (8, 16), hidden: int = 32):
        super().__init__()
        c1, c2 = channels
        self.conv1 = _conv_bn(1, c1)
        self.conv2 = _conv_bn(c1, c2)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(c2 * 2 * 2, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # c1 x 4 x 4
        x = self.pool(torch.relu(self.conv2(x)))  # c2 x 2 x 2
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn, plus the input (identity skip), then relu."""

    def __init__(self, channels: int, dims: int = 2):
        super().__init__()
        self.conv1 = _conv_bn(channels, channels, dims)
        self.conv2 = _conv_bn(channels, channels, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x))
        y = self.conv2(y)
        return torch.relu(x + y)


class DigitsResNet(nn.Module):
    """Stem conv 1->16, residual block at 8x8, maxpool 2, residual block at
    4x4, global average pool, fc 16 -> 10."""

    dataset: ClassVar[str] = "digits"
    input_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)

    def __init__(self, channels: int = 16):
        super().__init__()
        self.stem = _conv_bn(1, channels)
        self.block1 = ResidualBlock(channels)
        self.pool = nn.MaxPool2d(2)
        self.block2 = ResidualBlock(channels)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = self.block1(x)
        x = self.pool(x)
        x = self.block2(x)
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class DigitsTransformer(nn.Module):
    """The 8 rows of the image as 8 tokens of 8 features: linear embedding to
    d_model, a learned positional embedding, `layers` post-norm Transformer
    encoder layers (ReLU feed-forward, no dropout), mean over tokens, fc."""

    dataset: ClassVar[str] = "digits"
    input_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)

    def __init__(
        self, d_model: int = 32, nhead: int = 4, layers: int = 2, ffn: int = 64
    ):
        super().__init__()
        self.embed = nn.Linear(8, d_model)
        self.pos = nn.Parameter(torch.zeros(1, 8, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                nhead,
                dim_feedforward=ffn,
                dropout=0.0,
                batch_first=True,
            )
            for _ in range(layers)
        )
        self.fc = nn.Linear(d_model, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1, 2)  # N x 8 rows x 8 columns (C = 1)
        x = self.embed(x) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.fc(x.mean(dim=1))


class Mnist1dCNN(nn.Module):
    """1-D CNN for MNIST-1D (N x 1 x 40): conv-bn-relu layers with two
    stride-2 downsamplings (40 -> 20 -> 10), flatten, fc -> 10."""

    dataset: ClassVar[str] = "mnist1d"
    input_shape: ClassVar[tuple[int, ...]] = (1, 40)

    def __init__(self, channels: int = 32, hidden: int = 64):
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            _conv_bn(1, c, dims=1),
            nn.ReLU(),
            _conv_bn(c, c, dims=1, stride=2),
            nn.ReLU(),
            _conv_bn(c, c, dims=1),
            nn.ReLU(),
            _conv_bn(c, c, dims=1, stride=2),
            nn.ReLU(),
        )
        self.fc1 = nn.Linear(c * 10, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


#: Model name -> class. The names are what the CLI, `get_model` and the
#: benchmarks use.
ZOO: dict[str, type[nn.Module]] = {
    "digits-mlp": DigitsMLP,
    "digits-lenet": DigitsLeNet,
    "digits-resnet": DigitsResNet,
    "digits-transformer": DigitsTransformer,
    "mnist1d-cnn": Mnist1dCNN,
}
