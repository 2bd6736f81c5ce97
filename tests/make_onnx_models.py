#!/usr/bin/python3
"""make_onnx_models.py - export small PyTorch nets and torchvision models to ONNX
for end-to-end checks of cnnc's ONNX frontend.

For every model NAME, OUT/NAME/ gets
  model.onnx   opset 13 (or --opset), batch 1, static shapes, eval mode
  input.npy    float32 input, C order, batch first (seeded torch.randn)
  expect.npy   the same model evaluated in float64 (model.double()) - the reference
  input_b3.npy, expect_b3.npy   (small nets only) the same for a batch of 3
so that a test can run
  cnnc check OUT/NAME/model.onnx --input OUT/NAME/input.npy --expect OUT/NAME/expect.npy

Weights: torch.manual_seed(SEED) right before building each model, then every
batch norm gets non-trivial running statistics and affine parameters from the
same generator, so BN is not an identity.  The small nets are exported with
TrainingMode.PRESERVE (BatchNormalization nodes stay in the graph, so cnnc's
BN import is exercised); torchvision models with TrainingMode.EVAL (torch folds
BN into the convolutions, the usual deployment export).

Usage:
  make_onnx_models.py OUT [NAME ...]     the default set (small nets + resnet18,
                                         mobilenet_v2, squeezenet1_1, googlenet)
  make_onnx_models.py OUT --zoo          the torchvision classification zoo
  make_onnx_models.py --list [--zoo]     print the model names
Needs torch, torchvision, onnx and numpy (no network access: weights are random).
"""
import argparse
import io
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0
INPUT_SEED = 1234


# ----------------------------------------------------------------- small nets
class SmallCNN(nn.Module):
    """conv/bn/relu/pool/linear, a ceil-mode average pool and a softmax head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 3 * 3, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.1)
        x = F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class DwResidual(nn.Module):
    """Depthwise-separable blocks with a residual add, ReLU6, hardswish,
    a squeeze-excitation gate (mean -> conv -> sigmoid -> mul) and upsampling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.se1 = nn.Conv2d(16, 4, 1)
        self.se2 = nn.Conv2d(4, 16, 1)
        self.dw2 = nn.Conv2d(16, 32, 5, padding=2, groups=16)
        self.head = nn.Conv2d(48, 8, 1)

    def forward(self, x):
        x = F.relu6(self.bn0(self.stem(x)))
        y = F.hardswish(self.bn1(self.dw(x)))
        y = self.bn2(self.pw(y))
        s = torch.sigmoid(self.se2(F.relu(self.se1(y.mean((2, 3), keepdim=True)))))
        x = x + y * s
        z = F.max_pool2d(self.dw2(x), 2)
        z = F.interpolate(z, scale_factor=2, mode="nearest")
        return self.head(torch.cat([x, z], 1))


class Conv1dNet(nn.Module):
    """1-D convolutions, batchnorm1d, PReLU, max pooling and a global mean."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 5, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.act = nn.PReLU(8)
        self.c2 = nn.Conv1d(8, 12, 3, dilation=2)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = F.max_pool1d(self.act(self.bn(self.c1(x))), 2)
        x = torch.tanh(self.c2(x))
        return self.fc(x.mean(2))


class MiscOps(nn.Module):
    """Shape arithmetic (x.view(x.size(0), -1)), channel shuffle and chunk,
    transposed conv, reflect padding, elu/selu, constant sub/div and a
    matmul + add that should fold into a linear layer."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.c2 = nn.Conv2d(10, 6, 3)
        self.w = nn.Parameter(torch.randn(6 * 6 * 6, 10) * 0.05)
        self.b = nn.Parameter(torch.randn(10))

    def forward(self, x):
        x = F.elu(self.c1(x), alpha=0.7)
        b, c, h, w = x.size()
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        x1, x2 = x.chunk(2, dim=1)
        u = F.max_pool2d(self.up(F.selu(x2)), 2)
        x = torch.cat([x1, F.pad(u, (1, 1, 1, 1), mode="reflect")[:, :, 1:-1, 1:-1]], 1)
        x = (F.max_pool2d(x, 2) - 0.25) / 2.0
        x = torch.sigmoid(self.c2(x))
        x = x.view(x.size(0), -1)
        return torch.matmul(x, self.w) + self.b


SMALL = {
    "small_cnn": (SmallCNN, (3, 16, 16)),
    "dw_residual": (DwResidual, (3, 32, 32)),
    "conv1d_net": (Conv1dNet, (4, 40)),
    "misc_ops": (MiscOps, (3, 16, 16)),
}

DEFAULT_TV = ["resnet18", "mobilenet_v2", "squeezenet1_1", "googlenet"]
ZOO = [
    "alexnet", "vgg11", "resnet18", "resnet50", "densenet121", "squeezenet1_0", "squeezenet1_1",
    "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "googlenet", "inception_v3",
    "efficientnet_b0", "regnet_x_400mf", "mnasnet0_5",
]


def torchvision_model(name):
    import torchvision
    kw = {}
    if name in ("googlenet", "inception_v3"):
        kw = dict(aux_logits=False, init_weights=True)
    m = getattr(torchvision.models, name)(weights=None, **kw)
    size = 299 if name == "inception_v3" else 224
    return m, (3, size, size)


def randomize_bn(model):
    """Give every batch norm non-trivial statistics (seeded torch RNG)."""
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            c = mod.num_features
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(c) * 0.2)
                mod.running_var.copy_(torch.rand(c) * 0.8 + 0.4)
                if mod.affine:
                    mod.weight.copy_(torch.rand(c) * 0.8 + 0.6)
                    mod.bias.copy_(torch.randn(c) * 0.2)


def export(name, out_root, opset):
    torch.manual_seed(SEED)
    if name in SMALL:
        cls, shape = SMALL[name]
        model, training = cls(), torch.onnx.TrainingMode.PRESERVE
    else:
        model, shape = torchvision_model(name)
        training = torch.onnx.TrainingMode.EVAL
    randomize_bn(model)
    model.eval()
    gen = torch.Generator().manual_seed(INPUT_SEED)
    x = torch.randn((1,) + shape, generator=gen)
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, x, buf, opset_version=opset, training=training,
                          input_names=["input"], output_names=["output"], do_constant_folding=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(buf.getvalue())
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "expect.npy"), ref.astype(np.float64))
    if name in SMALL:
        # The file says batch 1; cnnc compiles for the batch of the input, so a
        # batch-3 pair checks that shapes baked in at export follow the batch.
        x3 = torch.randn((3,) + shape, generator=gen)
        with torch.no_grad():
            ref3 = model(x3.double()).numpy()
        np.save(os.path.join(d, "input_b3.npy"), x3.numpy().astype(np.float32))
        np.save(os.path.join(d, "expect_b3.npy"), ref3.astype(np.float64))
    try:
        import onnx
        ops = sorted({n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node})
    except ImportError:
        ops = []
    print("%-20s %s  ops: %s" % (name, os.path.join(d, "model.onnx"), " ".join(ops)), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?")
    ap.add_argument("names", nargs="*")
    ap.add_argument("--zoo", action="store_true", help="the torchvision classification zoo")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--opset", type=int, default=13)
    a = ap.parse_intermixed_args()
    names = a.names or (ZOO if a.zoo else list(SMALL) + DEFAULT_TV)
    if a.list:
        print("\n".join(names))
        return 0
    if not a.out:
        ap.error("OUT directory required")
    torch.set_num_threads(1)
    for n in names:
        if n not in SMALL and n not in ZOO:
            print("unknown model %s" % n, file=sys.stderr)
            return 2
        export(n, a.out, a.opset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
