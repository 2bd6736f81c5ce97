#!/usr/bin/python3
"""gen_golden.py - PyTorch float64 references for the cnnc golden tests.

For every case NAME this writes tests/golden/NAME/:
  model.yaml           the network in cnnc's YAML format (SPEC section 1), `weights: weights.safetensors`
  weights.safetensors  the module's state_dict (F32; a few cases also carry I64 num_batches_tracked)
  x.npy                float32 input, [N, per-sample shape]
  y.npy                float64 output of the PyTorch module run in float64 (model.double())
                       on the float32-rounded weights and input

Each case is a hand-written torch.nn.Module (the truth) plus the YAML text
that describes it; the YAML is then re-evaluated by tests/yaml_ref.py, an
independent interpreter of the format, which must reproduce y.npy to 1e-12.
The float32 PyTorch run is compared too, to make sure the 1e-4 tolerance of
`cnnc check` leaves room for float32 arithmetic.

Everything is seeded (torch.manual_seed(1000 + case index)): reruns give
byte-identical files.  Usage: gen_golden.py [--out DIR] [--check-only] [NAME ...]
"""
import argparse
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import yaml_ref  # noqa: E402

CASES = []


GROUP = ["foundation"]   # changed below as the file goes on


def case(shape, batch=2, nbt=False):
    """Register a case: the function returns (yaml_layers_text, module)."""
    def reg(fn):
        CASES.append(dict(name=fn.__name__, shape=shape, batch=batch, nbt=nbt, fn=fn, group=GROUP[0]))
        return fn
    return reg


def header(name, shape, extra=""):
    return (f"cnnc: 1\nname: {name}\ninputs:\n  - {{name: x, shape: {list(shape)}}}\n"
            f"weights: weights.safetensors\n{extra}")


def randomize(model):
    """Non-trivial norm statistics / affine parameters and PReLU slopes."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c))
                m.running_var.copy_(torch.empty(c).uniform_(0.5, 2.0))
                if m.affine:
                    m.weight.copy_(torch.empty(c).uniform_(0.5, 1.5))
                    m.bias.copy_(0.1 * torch.randn(c))
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)):
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5))
                    m.bias.copy_(0.1 * torch.randn_like(m.bias))
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.empty_like(m.weight).uniform_(-0.3, 0.6))


def cat_flat(ts):
    return torch.cat([torch.flatten(t, 1) for t in ts], 1)


# ===================================================== foundation op set

@case([1, 20, 20])
def lenet_small():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel_size: 5, padding: 2}
  - {op: relu}
  - {op: maxpool2d, kernel_size: 2}
  - {name: c2, op: conv2d, out_channels: 16, kernel_size: 5}
  - {op: relu}
  - {op: maxpool2d, kernel_size: 2}
  - {op: flatten}
  - {name: f1, op: linear, out_features: 32}
  - {op: relu}
  - {name: f2, op: linear, out_features: 16}
  - {op: relu}
  - {name: f3, op: linear, out_features: 10}
  - {op: softmax, dim: 1}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(1, 6, 5, padding=2)
            s.c2 = nn.Conv2d(6, 16, 5)
            s.f1 = nn.Linear(16 * 3 * 3, 32)
            s.f2 = nn.Linear(32, 16)
            s.f3 = nn.Linear(16, 10)

        def forward(s, x):
            x = F.max_pool2d(F.relu(s.c1(x)), 2)
            x = F.max_pool2d(F.relu(s.c2(x)), 2)
            x = torch.flatten(x, 1)
            x = F.relu(s.f2(F.relu(s.f1(x))))
            return F.softmax(s.f3(x), 1)
    return y, M()


@case([3, 13, 11])
def conv_variants():
    y = """layers:
  - {name: stride2, op: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, from: x}
  - {name: rect, op: conv2d, out_channels: 4, kernel_size: [3, 5], padding: [1, 2], from: x}
  - {name: asym, op: conv2d, out_channels: 4, kernel_size: 3, padding: [2, 0, 1, 1], from: x}
  - {name: asym_s2, op: conv2d, out_channels: 3, kernel_size: 3, stride: 2, padding: [0, 1, 1, 0], from: x}
  - {name: same3, op: conv2d, out_channels: 4, kernel_size: 3, padding: same, from: x}
  - {name: same4, op: conv2d, out_channels: 4, kernel_size: 4, padding: same, from: x}
  - {name: same_dil, op: conv2d, out_channels: 2, kernel_size: [3, 2], dilation: [1, 3], padding: same, from: x}
  - {name: dil2, op: conv2d, out_channels: 4, kernel_size: 3, dilation: 2, padding: 2, from: x}
  - {name: dil21, op: conv2d, out_channels: 3, kernel_size: 3, dilation: [2, 1], padding: [2, 1], from: x}
  - {name: grouped, op: conv2d, out_channels: 6, kernel_size: 3, stride: [2, 1], groups: 3, bias: false, from: x}
  - {name: depthwise, op: conv2d, out_channels: 3, kernel_size: 3, groups: 3, dilation: 2, padding: same, from: x}
  - {name: dw_mult, op: conv2d, out_channels: 6, kernel_size: [1, 3], groups: 3, padding: [0, 1], from: x}
  - {name: valid, op: conv2d, out_channels: 4, kernel_size: [2, 3], stride: [1, 2], padding: valid, from: x}
  - {name: pw_s3, op: conv2d, out_channels: 4, kernel_size: 1, stride: 3, from: x}
  - {name: big, op: conv2d, out_channels: 2, kernel_size: 7, padding: 3, bias: false, from: x}
  - {op: flatten, from: stride2}
  - {op: flatten, from: rect}
  - {op: flatten, from: asym}
  - {op: flatten, from: asym_s2}
  - {op: flatten, from: same3}
  - {op: flatten, from: same4}
  - {op: flatten, from: same_dil}
  - {op: flatten, from: dil2}
  - {op: flatten, from: dil21}
  - {op: flatten, from: grouped}
  - {op: flatten, from: depthwise}
  - {op: flatten, from: dw_mult}
  - {op: flatten, from: valid}
  - {op: flatten, from: pw_s3}
  - {op: flatten, from: big}
  - {name: out, op: concat, dim: 1, from: [flatten15, flatten16, flatten17, flatten18, flatten19, flatten20,
        flatten21, flatten22, flatten23, flatten24, flatten25, flatten26, flatten27, flatten28, flatten29]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stride2 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            s.rect = nn.Conv2d(3, 4, (3, 5), padding=(1, 2))
            s.asym = nn.Conv2d(3, 4, 3)
            s.asym_s2 = nn.Conv2d(3, 3, 3, stride=2)
            s.same3 = nn.Conv2d(3, 4, 3, padding="same")
            s.same4 = nn.Conv2d(3, 4, 4, padding="same")
            s.same_dil = nn.Conv2d(3, 2, (3, 2), dilation=(1, 3), padding="same")
            s.dil2 = nn.Conv2d(3, 4, 3, dilation=2, padding=2)
            s.dil21 = nn.Conv2d(3, 3, 3, dilation=(2, 1), padding=(2, 1))
            s.grouped = nn.Conv2d(3, 6, 3, stride=(2, 1), groups=3, bias=False)
            s.depthwise = nn.Conv2d(3, 3, 3, groups=3, dilation=2, padding="same")
            s.dw_mult = nn.Conv2d(3, 6, (1, 3), groups=3, padding=(0, 1))
            s.valid = nn.Conv2d(3, 4, (2, 3), stride=(1, 2), padding="valid")
            s.pw_s3 = nn.Conv2d(3, 4, 1, stride=3)
            s.big = nn.Conv2d(3, 2, 7, padding=3, bias=False)

        def forward(s, x):
            # F.pad takes (left, right, top, bottom)
            asym = s.asym(F.pad(x, (0, 1, 2, 1)))
            asym_s2 = s.asym_s2(F.pad(x, (1, 0, 0, 1)))
            return cat_flat([s.stride2(x), s.rect(x), asym, asym_s2, s.same3(x), s.same4(x), s.same_dil(x),
                             s.dil2(x), s.dil21(x), s.grouped(x), s.depthwise(x), s.dw_mult(x), s.valid(x),
                             s.pw_s3(x), s.big(x)])
    return y, M()


@case([3, 16, 16])
def depthwise_separable():
    y = """layers:
  - {name: conv0, op: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, bias: false}
  - {name: bn0, op: batchnorm2d}
  - {op: relu}
  - {name: dw1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, groups: 8, bias: false}
  - {name: bn1, op: batchnorm2d}
  - {op: relu}
  - {name: pw1, op: conv2d, out_channels: 16, kernel_size: 1, bias: false}
  - {name: bn2, op: batchnorm2d, eps: 0.001, momentum: 0.01}
  - {op: relu}
  - {name: dw2, op: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1, groups: 16}
  - {name: bn3, op: batchnorm2d}
  - {op: relu}
  - {name: pw2, op: conv2d, out_channels: 24, kernel_size: 1}
  - {op: relu}
  - {op: global_avgpool}
  - {op: flatten}
  - {op: dropout, p: 0.2}
  - {name: fc, op: linear, out_features: 10}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.conv0 = nn.Conv2d(3, 8, 3, 2, 1, bias=False)
            s.bn0 = nn.BatchNorm2d(8)
            s.dw1 = nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False)
            s.bn1 = nn.BatchNorm2d(8)
            s.pw1 = nn.Conv2d(8, 16, 1, bias=False)
            s.bn2 = nn.BatchNorm2d(16, eps=0.001, momentum=0.01)
            s.dw2 = nn.Conv2d(16, 16, 3, 2, 1, groups=16)
            s.bn3 = nn.BatchNorm2d(16)
            s.pw2 = nn.Conv2d(16, 24, 1)
            s.drop = nn.Dropout(0.2)
            s.fc = nn.Linear(24, 10)

        def forward(s, x):
            x = F.relu(s.bn0(s.conv0(x)))
            x = F.relu(s.bn1(s.dw1(x)))
            x = F.relu(s.bn2(s.pw1(x)))
            x = F.relu(s.bn3(s.dw2(x)))
            x = F.relu(s.pw2(x))
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return s.fc(s.drop(x))
    return y, M()


@case([4, 12, 12])
def residual():
    y = """layers:
  - {name: stem, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: stem_relu, op: relu}
  - {name: conv1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: bn1, op: batchnorm2d}
  - {op: relu}
  - {name: conv2, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: bn2, op: batchnorm2d}
  - {name: sum1, op: add, from: [bn2, stem_relu]}
  - {name: relu1, op: relu}
  - {name: pool1, op: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
  - {name: p1, op: conv2d, out_channels: 8, kernel_size: 1, from: pool1}
  - {name: p2, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, from: pool1}
  - {name: sum2, op: add, from: [p1, p2, pool1]}
  - {op: relu}
  - {op: avgpool2d, kernel_size: 3, stride: 1, padding: 1}
  - {op: avgpool2d, kernel_size: 2}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 5}
  - {op: log_softmax, dim: 1}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Conv2d(4, 8, 3, padding=1)
            s.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            s.bn1 = nn.BatchNorm2d(8)
            s.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            s.bn2 = nn.BatchNorm2d(8)
            s.p1 = nn.Conv2d(8, 8, 1)
            s.p2 = nn.Conv2d(8, 8, 3, padding=1)
            s.fc = nn.Linear(8 * 3 * 3, 5)

        def forward(s, x):
            x = F.relu(s.stem(x))
            h = s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))
            x = F.max_pool2d(F.relu(h + x), 3, 2, 1)
            x = F.relu(s.p1(x) + s.p2(x) + x)
            x = F.avg_pool2d(F.avg_pool2d(x, 3, 1, 1), 2)
            return F.log_softmax(s.fc(torch.flatten(x, 1)), 1)
    return y, M()


@case([6, 9, 9])
def inception_concat():
    y = """layers:
  - {name: b1, op: conv2d, out_channels: 4, kernel_size: 1, from: x}
  - {name: b1_relu, op: relu}
  - {name: b2a, op: conv2d, out_channels: 3, kernel_size: 1, from: x}
  - {op: relu}
  - {name: b2b, op: conv2d, out_channels: 5, kernel_size: 3, padding: 1}
  - {name: b2_relu, op: relu}
  - {name: b3a, op: conv2d, out_channels: 2, kernel_size: 1, from: x}
  - {op: relu}
  - {name: b3b, op: conv2d, out_channels: 3, kernel_size: 5, padding: same}
  - {name: b3_relu, op: relu}
  - {name: b4_pool, op: maxpool2d, kernel_size: 3, stride: 1, padding: 1, from: x}
  - {name: b4, op: conv2d, out_channels: 2, kernel_size: 1}
  - {name: b4_relu, op: relu}
  - {name: cat, op: concat, dim: 1, from: [b1_relu, b2_relu, b3_relu, b4_relu]}
  - {name: cat2, op: concat, from: [cat, x]}
  - {op: avgpool2d, kernel_size: 3, stride: 3}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 7}
  - {op: log_softmax, dim: 1}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.b1 = nn.Conv2d(6, 4, 1)
            s.b2a = nn.Conv2d(6, 3, 1)
            s.b2b = nn.Conv2d(3, 5, 3, padding=1)
            s.b3a = nn.Conv2d(6, 2, 1)
            s.b3b = nn.Conv2d(2, 3, 5, padding="same")
            s.b4 = nn.Conv2d(6, 2, 1)
            s.fc = nn.Linear(20 * 9, 7)

        def forward(s, x):
            b1 = F.relu(s.b1(x))
            b2 = F.relu(s.b2b(F.relu(s.b2a(x))))
            b3 = F.relu(s.b3b(F.relu(s.b3a(x))))
            b4 = F.relu(s.b4(F.max_pool2d(x, 3, 1, 1)))
            c = torch.cat([torch.cat([b1, b2, b3, b4], 1), x], 1)
            c = F.avg_pool2d(c, 3, 3)
            return F.log_softmax(s.fc(torch.flatten(c, 1)), 1)
    return y, M()


@case([2, 8, 7])
def activations():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: lr, op: leaky_relu}
  - {name: c2, op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: lr2, op: leaky_relu, negative_slope: 0.2}
  - {name: sg, op: sigmoid, from: c2}
  - {name: th, op: tanh, from: c2}
  - {name: rl, op: relu, from: c2}
  - {name: dp, op: dropout, p: 0.5, from: c2}
  - {name: all, op: concat, from: [lr, lr2, sg, th, rl, dp]}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 3}
outputs: [all]
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(2, 4, 3, padding=1)
            s.c2 = nn.Conv2d(4, 4, 3, padding=1)
            s.fc = nn.Linear(24 * 8 * 7, 3)   # dead in the graph (outputs: [all]) but weights given

        def forward(s, x):
            lr = F.leaky_relu(s.c1(x))
            c2 = s.c2(lr)
            return torch.cat([lr, F.leaky_relu(c2, 0.2), torch.sigmoid(c2), torch.tanh(c2), F.relu(c2),
                              F.dropout(c2, 0.5, training=False)], 1)
    return y, M()


@case([16], batch=3)
def mlp():
    y = """layers:
  - {name: fc1, op: linear, out_features: 32, bias: false}
  - {op: tanh}
  - {name: fc2, op: linear, out_features: 24}
  - {op: sigmoid}
  - {name: fc3, op: linear, out_features: 8}
  - {op: log_softmax}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc1 = nn.Linear(16, 32, bias=False)
            s.fc2 = nn.Linear(32, 24)
            s.fc3 = nn.Linear(24, 8)

        def forward(s, x):
            return F.log_softmax(s.fc3(torch.sigmoid(s.fc2(torch.tanh(s.fc1(x))))), 1)
    return y, M()


@case([3, 13, 11], batch=1)
def pools():
    y = """layers:
  - {name: mp1, op: maxpool2d, kernel_size: 3, stride: 2, from: x}
  - {name: mp2, op: maxpool2d, kernel_size: [3, 2], stride: [1, 2], padding: [1, 0], from: x}
  - {name: mp3, op: maxpool2d, kernel_size: 5, stride: 3, padding: 2, from: x}
  - {name: ap1, op: avgpool2d, kernel_size: 3, stride: 2, padding: 1, from: x}
  - {name: ap2, op: avgpool2d, kernel_size: [2, 3], stride: 1, from: x}
  - {name: ap3, op: avgpool2d, kernel_size: 4, from: x}
  - {name: gap, op: global_avgpool, from: x}
  - {name: f1, op: flatten, from: mp1}
  - {name: f2, op: flatten, from: mp2}
  - {name: f3, op: flatten, from: mp3}
  - {name: f4, op: flatten, from: ap1}
  - {name: f5, op: flatten, from: ap2}
  - {name: f6, op: flatten, from: ap3}
  - {name: f7, op: flatten, from: gap}
  - {name: out, op: concat, from: [f1, f2, f3, f4, f5, f6, f7]}
"""

    class M(nn.Module):
        def forward(s, x):
            return cat_flat([F.max_pool2d(x, 3, 2), F.max_pool2d(x, (3, 2), (1, 2), (1, 0)),
                             F.max_pool2d(x, 5, 3, 2), F.avg_pool2d(x, 3, 2, 1),
                             F.avg_pool2d(x, (2, 3), 1), F.avg_pool2d(x, 4), x.mean((2, 3), keepdim=True)])
    return y, M()


# ===================================================== the rest of SPEC section 1

GROUP[0] = "extended"

@case([8, 37])
def tdnn_conv1d():
    y = """layers:
  - {name: tdnn1, op: conv1d, out_channels: 12, kernel_size: 5, padding: causal}
  - {op: relu}
  - {name: bn1, op: batchnorm1d}
  - {name: tdnn2, op: conv1d, out_channels: 12, kernel_size: 3, dilation: 2, padding: causal}
  - {op: relu}
  - {name: bn2, op: batchnorm1d}
  - {name: tdnn3, op: conv1d, out_channels: 12, kernel_size: 3, dilation: 3}
  - {op: relu}
  - {name: tdnn4, op: conv1d, out_channels: 10, kernel_size: 4, padding: same}
  - {name: tdnn5, op: conv1d, out_channels: 10, kernel_size: 3, stride: 2, padding: 1, groups: 2, bias: false}
  - {name: bn3, op: batchnorm1d, affine: false, eps: 0.0001}
  - {name: tdnn6, op: conv1d, out_channels: 10, kernel_size: 3, dilation: 2, padding: same, groups: 10}
  - {op: maxpool1d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {op: avgpool1d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}
  - {op: maxpool1d, kernel_size: 2, stride: 3, padding: 1, ceil_mode: true}
  - {op: avgpool1d, kernel_size: 2, stride: 1, padding: 1}
  - {name: gap, op: global_avgpool}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 6}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.tdnn1 = nn.Conv1d(8, 12, 5)
            s.bn1 = nn.BatchNorm1d(12)
            s.tdnn2 = nn.Conv1d(12, 12, 3, dilation=2)
            s.bn2 = nn.BatchNorm1d(12)
            s.tdnn3 = nn.Conv1d(12, 12, 3, dilation=3)
            s.tdnn4 = nn.Conv1d(12, 10, 4, padding="same")
            s.tdnn5 = nn.Conv1d(10, 10, 3, stride=2, padding=1, groups=2, bias=False)
            s.bn3 = nn.BatchNorm1d(10, affine=False, eps=1e-4)
            s.tdnn6 = nn.Conv1d(10, 10, 3, dilation=2, padding="same", groups=10)
            s.fc = nn.Linear(10, 6)

        def forward(s, x):
            x = s.bn1(F.relu(s.tdnn1(F.pad(x, (4, 0)))))
            x = s.bn2(F.relu(s.tdnn2(F.pad(x, (4, 0)))))
            x = s.tdnn4(F.relu(s.tdnn3(x)))
            x = s.tdnn6(s.bn3(s.tdnn5(x)))
            x = F.max_pool1d(x, 3, 2, ceil_mode=True)
            x = F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
            x = F.max_pool1d(x, 2, 3, 1, ceil_mode=True)
            x = F.avg_pool1d(x, 2, 1, 1)
            x = x.mean(2, keepdim=True)
            return s.fc(torch.flatten(x, 1))
    return y, M()


@case([4, 7, 5])
def conv_transpose():
    y = """layers:
  - {name: ct1, op: conv_transpose2d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, from: x}
  - {name: ct2, op: conv_transpose2d, out_channels: 2, kernel_size: [2, 3], stride: [2, 1], from: x}
  - {name: ct3, op: conv_transpose2d, out_channels: 4, kernel_size: 3, dilation: 2, padding: 1, groups: 2, bias: false, from: x}
  - {name: ct4, op: conv_transpose2d, out_channels: 6, kernel_size: 4, stride: 3, padding: [1, 2], output_padding: [2, 0], groups: 2, from: x}
  - {name: ct5, op: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2, groups: 4, from: x}
  - {name: ct6, op: conv_transpose2d, out_channels: 3, kernel_size: 1, from: x}
  - {name: ct7, op: conv_transpose2d, out_channels: 2, kernel_size: [3, 2], stride: [1, 2], padding: [2, 0], dilation: [1, 2], output_padding: [0, 1], from: x}
  - {name: f1, op: flatten, from: ct1}
  - {name: f2, op: flatten, from: ct2}
  - {name: f3, op: flatten, from: ct3}
  - {name: f4, op: flatten, from: ct4}
  - {name: f5, op: flatten, from: ct5}
  - {name: f6, op: flatten, from: ct6}
  - {name: f7, op: flatten, from: ct7}
  - {name: out, op: concat, from: [f1, f2, f3, f4, f5, f6, f7]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.ct1 = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
            s.ct2 = nn.ConvTranspose2d(4, 2, (2, 3), stride=(2, 1))
            s.ct3 = nn.ConvTranspose2d(4, 4, 3, dilation=2, padding=1, groups=2, bias=False)
            s.ct4 = nn.ConvTranspose2d(4, 6, 4, stride=3, padding=(1, 2), output_padding=(2, 0), groups=2)
            s.ct5 = nn.ConvTranspose2d(4, 4, 3, stride=2, groups=4)
            s.ct6 = nn.ConvTranspose2d(4, 3, 1)
            s.ct7 = nn.ConvTranspose2d(4, 2, (3, 2), stride=(1, 2), padding=(2, 0), dilation=(1, 2),
                                       output_padding=(0, 1))

        def forward(s, x):
            return cat_flat([s.ct1(x), s.ct2(x), s.ct3(x), s.ct4(x), s.ct5(x), s.ct6(x), s.ct7(x)])
    return y, M()


@case([3, 13, 11])
def pool_modes():
    y = """layers:
  - {name: mp_ceil, op: maxpool2d, kernel_size: 2, stride: 2, ceil_mode: true, from: x}
  - {name: mp_ceil_drop, op: maxpool2d, kernel_size: 2, stride: 3, padding: 1, ceil_mode: true, from: x}
  - {name: ap_ceil_excl, op: avgpool2d, kernel_size: 2, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false, from: x}
  - {name: ap_ceil_incl, op: avgpool2d, kernel_size: 2, stride: 2, padding: 1, ceil_mode: true, from: x}
  - {name: ap_ceil_edge, op: avgpool2d, kernel_size: [3, 2], stride: 2, ceil_mode: true, from: x}
  - {name: ap_ceil_pad, op: avgpool2d, kernel_size: 3, stride: 2, padding: [1, 0], ceil_mode: true, from: x}
  - {name: ap_excl, op: avgpool2d, kernel_size: 3, stride: 1, padding: 1, count_include_pad: false, from: x}
  - {name: lp2, op: lppool2d, norm_type: 2, kernel_size: 2, from: x}
  - {name: lp1, op: lppool2d, norm_type: 1, kernel_size: [2, 3], stride: 2, from: x}
  - {name: sg, op: sigmoid, from: x}
  - {name: lp3, op: lppool2d, norm_type: 3, kernel_size: [3, 2], stride: [2, 1]}
  - {name: f1, op: flatten, from: mp_ceil}
  - {name: f2, op: flatten, from: mp_ceil_drop}
  - {name: f3, op: flatten, from: ap_ceil_excl}
  - {name: f4, op: flatten, from: ap_ceil_incl}
  - {name: f5, op: flatten, from: ap_ceil_edge}
  - {name: f6, op: flatten, from: ap_ceil_pad}
  - {name: f7, op: flatten, from: ap_excl}
  - {name: f8, op: flatten, from: lp2}
  - {name: f9, op: flatten, from: lp1}
  - {name: f10, op: flatten, from: lp3}
  - {name: out, op: concat, from: [f1, f2, f3, f4, f5, f6, f7, f8, f9, f10]}
"""

    class M(nn.Module):
        def forward(s, x):
            return cat_flat([
                F.max_pool2d(x, 2, 2, ceil_mode=True),
                F.max_pool2d(x, 2, 3, 1, ceil_mode=True),
                F.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False),
                F.avg_pool2d(x, 2, 2, 1, ceil_mode=True),
                F.avg_pool2d(x, (3, 2), 2, ceil_mode=True),
                F.avg_pool2d(x, 3, 2, (1, 0), ceil_mode=True),
                F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
                nn.LPPool2d(2, 2)(x),
                nn.LPPool2d(1, (2, 3), 2)(x),
                nn.LPPool2d(3, (3, 2), (2, 1))(torch.sigmoid(x)),
            ])
    return y, M()


@case([3, 7, 5])
def adaptive_pool():
    y = """layers:
  - {name: a1, op: adaptive_avgpool2d, output_size: [3, 2], from: x}
  - {name: a2, op: adaptive_avgpool2d, output_size: 4, from: x}
  - {name: a3, op: adaptive_avgpool2d, output_size: [1, 6], from: x}
  - {name: a4, op: adaptive_avgpool2d, output_size: [7, 5], from: x}
  - {name: a5, op: adaptive_avgpool2d, output_size: 1, from: x}
  - {name: conv, op: conv2d, out_channels: 4, kernel_size: 3, padding: 1, from: x}
  - {name: a6, op: adaptive_avgpool2d, output_size: [2, 3]}
  - {name: f1, op: flatten, from: a1}
  - {name: f2, op: flatten, from: a2}
  - {name: f3, op: flatten, from: a3}
  - {name: f4, op: flatten, from: a4}
  - {name: f5, op: flatten, from: a5}
  - {name: f6, op: flatten, from: a6}
  - {name: out, op: concat, from: [f1, f2, f3, f4, f5, f6]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(s, x):
            A = F.adaptive_avg_pool2d
            return cat_flat([A(x, (3, 2)), A(x, 4), A(x, (1, 6)), A(x, (7, 5)), A(x, 1), A(s.conv(x), (2, 3))])
    return y, M()


@case([4, 6, 5])
def norms():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: ln1, op: layernorm}
  - {name: c2, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: in1, op: instancenorm2d}
  - {op: relu}
  - {name: c3, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: in2, op: instancenorm2d, affine: true, eps: 0.001}
  - {name: gn1, op: groupnorm, num_groups: 2}
  - {op: tanh}
  - {name: c4, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: gn2, op: groupnorm, num_groups: 4, affine: false, eps: 0.0001}
  - {name: c5, op: conv2d, out_channels: 6, kernel_size: 3}
  - {name: ln2, op: layernorm, elementwise_affine: false, eps: 0.001}
  - {name: c6, op: conv2d, out_channels: 6, kernel_size: 1}
  - {name: bn, op: batchnorm2d, affine: false}
  - {name: ln3, op: layernorm, affine: true}
  - {name: gn3, op: groupnorm, num_groups: 6}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(4, 8, 3, padding=1)
            s.ln1 = nn.LayerNorm([8, 6, 5])
            s.c2 = nn.Conv2d(8, 8, 3, padding=1)
            s.in1 = nn.InstanceNorm2d(8)
            s.c3 = nn.Conv2d(8, 8, 3, padding=1)
            s.in2 = nn.InstanceNorm2d(8, affine=True, eps=1e-3)
            s.gn1 = nn.GroupNorm(2, 8)
            s.c4 = nn.Conv2d(8, 8, 3, padding=1)
            s.gn2 = nn.GroupNorm(4, 8, affine=False, eps=1e-4)
            s.c5 = nn.Conv2d(8, 6, 3)
            s.ln2 = nn.LayerNorm([6, 4, 3], elementwise_affine=False, eps=1e-3)
            s.c6 = nn.Conv2d(6, 6, 1)
            s.bn = nn.BatchNorm2d(6, affine=False)
            s.ln3 = nn.LayerNorm([6, 4, 3])
            s.gn3 = nn.GroupNorm(6, 6)

        def forward(s, x):
            x = s.ln1(s.c1(x))
            x = F.relu(s.in1(s.c2(x)))
            x = torch.tanh(s.gn1(s.in2(s.c3(x))))
            x = s.gn2(s.c4(x))
            x = s.ln2(s.c5(x))
            return s.gn3(s.ln3(s.bn(s.c6(x))))
    return y, M()


@case([12], batch=4)
def mlp_norm1d():
    y = """layers:
  - {name: fc1, op: linear, out_features: 16}
  - {name: bn1, op: batchnorm1d}
  - {op: gelu}
  - {name: fc2, op: linear, out_features: 16}
  - {name: ln, op: layernorm}
  - {name: act, op: prelu, num_parameters: 16}
  - {name: fc3, op: linear, out_features: 4}
  - {op: softmax}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc1 = nn.Linear(12, 16)
            s.bn1 = nn.BatchNorm1d(16)
            s.fc2 = nn.Linear(16, 16)
            s.ln = nn.LayerNorm(16)
            s.act = nn.PReLU(16)
            s.fc3 = nn.Linear(16, 4)

        def forward(s, x):
            x = F.gelu(s.bn1(s.fc1(x)))
            x = s.act(s.ln(s.fc2(x)))
            return F.softmax(s.fc3(x), 1)
    return y, M()


@case([6, 5, 4])
def activations2():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: p1, op: prelu, from: c1}
  - {name: p2, op: prelu, num_parameters: 8, from: c1}
  - {name: e1, op: elu, from: c1}
  - {name: e2, op: elu, alpha: 0.5, from: c1}
  - {name: s1, op: selu, from: c1}
  - {name: g1, op: gelu, from: c1}
  - {name: m2, op: maxout, pieces: 2, from: c1}
  - {name: m4, op: maxout, pieces: 4, from: c1}
  - {name: m8, op: maxout, pieces: 8, from: c1}
  - {name: sg, op: sigmoid, from: c1}
  - {name: swish, op: mul, from: [c1, sg]}
  - {name: mul3, op: mul, from: [e1, g1, s1]}
  - {name: out, op: concat, from: [p1, p2, e1, e2, s1, g1, m2, m4, m8, swish, mul3]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(6, 8, 3, padding=1)
            s.p1 = nn.PReLU()
            s.p2 = nn.PReLU(8)

        def forward(s, x):
            c = s.c1(x)

            def maxout(t, p):
                n, ch = t.shape[:2]
                return t.reshape(n, p, ch // p, *t.shape[2:]).max(1).values
            e1, g1, s1 = F.elu(c), F.gelu(c), F.selu(c)
            return torch.cat([s.p1(c), s.p2(c), e1, F.elu(c, 0.5), s1, g1, maxout(c, 2), maxout(c, 4),
                              maxout(c, 8), c * torch.sigmoid(c), e1 * g1 * s1], 1)
    return y, M()


@case([4, 6, 5])
def reshape_upsample():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  - {name: r1, op: reshape, shape: [6, 30]}
  - {name: c1d, op: conv1d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: r2, op: reshape, shape: [4, 6, -1]}
  - {name: up1, op: upsample, scale_factor: 2}
  - {name: c2, op: conv2d, out_channels: 4, kernel_size: 3}
  - {name: up2, op: upsample, scale_factor: [2, 3], mode: nearest}
  - {name: fl, op: flatten, start_dim: 2}
  - {name: mp, op: maxpool1d, kernel_size: 4}
  - {name: r3, op: reshape, shape: [-1]}
  - {name: fc, op: linear, out_features: 10}
  - {name: r4, op: reshape, shape: [2, 5]}
  - {name: sm, op: softmax, dim: 1}
  - {name: r5, op: reshape, shape: [1, 2, 5]}
  - {name: ls, op: log_softmax, dim: 1, from: up1}
  - {name: f1, op: flatten, from: r5}
  - {name: f2, op: flatten, from: ls}
  - {name: out, op: concat, from: [f1, f2]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(4, 6, 3, padding=1)
            s.c1d = nn.Conv1d(6, 4, 3, padding=1)
            s.c2 = nn.Conv2d(4, 4, 3)
            s.fc = nn.Linear(480, 10)

        def forward(s, x):
            n = x.shape[0]
            x = s.c1d(s.c1(x).reshape(n, 6, 30)).reshape(n, 4, 6, -1)
            up1 = F.interpolate(x, scale_factor=2, mode="nearest")
            t = F.interpolate(s.c2(up1), scale_factor=(2, 3), mode="nearest")
            t = F.max_pool1d(torch.flatten(t, 2), 4).reshape(n, -1)
            t = F.softmax(s.fc(t).reshape(n, 2, 5), 1).reshape(n, 1, 2, 5)
            return cat_flat([t, F.log_softmax(up1, 1)])
    return y, M()


# ===================================================== blocks

GROUP[0] = "blocks"

class TvBasic(nn.Module):
    """torchvision-style BasicBlock (same state_dict names)."""

    def __init__(s, cin, cout, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        s.bn1 = nn.BatchNorm2d(cout)
        s.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        s.bn2 = nn.BatchNorm2d(cout)
        s.downsample = None
        if stride != 1 or cin != cout:
            s.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(s, x):
        out = F.relu(s.bn1(s.conv1(x)))
        out = s.bn2(s.conv2(out))
        return F.relu(out + (x if s.downsample is None else s.downsample(x)))


@case([3, 16, 16], nbt=True)
def resnet_blocks():
    y = """blocks:
  basic:
    params: {ch: 8}
    layers:
      - {name: conv1, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
      - {name: bn1, op: batchnorm2d}
      - {name: relu1, op: relu}
      - {name: conv2, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
      - {name: bn2, op: batchnorm2d}
      - {name: add, op: add, from: [bn2, in]}
      - {name: relu2, op: relu}
  basic_down:
    params: {ch: 16, stride: 2}
    inputs: [in]
    layers:
      - {name: conv1, op: conv2d, out_channels: $ch, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - {name: bn1, op: batchnorm2d}
      - {name: relu1, op: relu}
      - {name: conv2, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
      - {name: bn2, op: batchnorm2d}
      - {name: downsample.0, op: conv2d, out_channels: $ch, kernel_size: 1, stride: $stride, bias: false, from: in}
      - {name: downsample.1, op: batchnorm2d}
      - {name: add, op: add, from: [bn2, downsample.1]}
      - {name: relu2, op: relu}
      - {name: unused_tail, op: sigmoid, from: conv1}
    output: relu2
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: bn1, op: batchnorm2d}
  - {name: relu, op: relu}
  - {name: layer1, block: basic, repeat: 2, ch: 8}
  - {name: layer2.0, block: basic_down, ch: 16, stride: 2}
  - {name: layer2.1, block: basic, ch: 16}
  - {name: layer3, block: basic_down, repeat: 1, ch: 24}
  - {name: layer4.0, block: basic_down, ch: 24, stride: 1, from: layer3}
  - {name: avgpool, op: adaptive_avgpool2d, output_size: 1}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 10}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            s.bn1 = nn.BatchNorm2d(8)
            s.layer1 = nn.Sequential(TvBasic(8, 8, 1), TvBasic(8, 8, 1))
            s.layer2 = nn.Sequential(TvBasic(8, 16, 2), TvBasic(16, 16, 1))
            s.layer3 = nn.Sequential(TvBasic(16, 24, 2))
            # stride 1 but a (useless) 1x1 projection: basic_down always has one
            s.layer4 = nn.Sequential(TvBasic(24, 24, 1))
            s.layer4[0].downsample = nn.Sequential(nn.Conv2d(24, 24, 1, bias=False), nn.BatchNorm2d(24))
            s.fc = nn.Linear(24, 10)

        def forward(s, x):
            x = F.relu(s.bn1(s.conv1(x)))
            x = s.layer4(s.layer3(s.layer2(s.layer1(x))))
            return s.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
    return y, M()


class BasicConv(nn.Module):
    def __init__(s, cin, cout, **kw):
        super().__init__()
        s.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        s.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(s, x):
        return F.relu(s.bn(s.conv(x)))


class TvInception(nn.Module):
    """torchvision GoogLeNet Inception module (same state_dict names); k = branch-3 kernel."""

    def __init__(s, cin, c1, c3r, c3, c5r, c5, pp, k=3):
        super().__init__()
        s.branch1 = BasicConv(cin, c1, kernel_size=1)
        s.branch2 = nn.Sequential(BasicConv(cin, c3r, kernel_size=1), BasicConv(c3r, c3, kernel_size=3, padding=1))
        s.branch3 = nn.Sequential(BasicConv(cin, c5r, kernel_size=1),
                                  BasicConv(c5r, c5, kernel_size=k, padding=k // 2))
        s.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv(cin, pp, kernel_size=1))

    def forward(s, x):
        return torch.cat([s.branch1(x), s.branch2(x), s.branch3(x), s.branch4(x)], 1)


INCEPTION_BLOCK = """  inception:
    params: {c1: 4, c3r: 4, c3: 8, c5r: 2, c5: 4, pp: 4, k: 3}
    layers:
      - {name: branch1.conv, op: conv2d, out_channels: $c1, kernel_size: 1, bias: false}
      - {name: branch1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b1, op: relu}
      - {name: branch2.0.conv, op: conv2d, out_channels: $c3r, kernel_size: 1, bias: false, from: in}
      - {name: branch2.0.bn, op: batchnorm2d, eps: 0.001}
      - {op: relu}
      - {name: branch2.1.conv, op: conv2d, out_channels: $c3, kernel_size: 3, padding: 1, bias: false}
      - {name: branch2.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b2, op: relu}
      - {name: branch3.0.conv, op: conv2d, out_channels: $c5r, kernel_size: 1, bias: false, from: in}
      - {name: branch3.0.bn, op: batchnorm2d, eps: 0.001}
      - {op: relu}
      - {name: branch3.1.conv, op: conv2d, out_channels: $c5, kernel_size: $k, padding: $k/2, bias: false}
      - {name: branch3.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b3, op: relu}
      - {name: branch4.0, op: maxpool2d, kernel_size: 3, stride: 1, padding: 1, ceil_mode: true, from: in}
      - {name: branch4.1.conv, op: conv2d, out_channels: $pp, kernel_size: 1, bias: false}
      - {name: branch4.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b4, op: relu}
      - {name: cat, op: concat, dim: 1, from: [b1, b2, b3, b4]}
"""


@case([5, 11, 11])
def inception_blocks():
    y = "blocks:\n" + INCEPTION_BLOCK + """  fuse:
    params: {ch: 6}
    inputs: [a, b]
    layers:
      - {name: pa, op: conv2d, out_channels: $ch, kernel_size: 1, from: a}
      - {name: pb, op: conv2d, out_channels: $ch, kernel_size: 1, from: b}
      - {name: sum, op: add, from: [pa, pb]}
      - {op: tanh}
layers:
  - {name: stem, op: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: pool, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {name: inc3a, block: inception}
  - {name: inc3b, block: inception, c1: 6, c3r: 3, c3: 5, c5r: 3, c5: 5, pp: 2, k: 5}
  - {name: mix, block: fuse, ch: 7, from: [inc3a, inc3b]}
  - {op: global_avgpool}
  - {op: flatten}
  - {name: fc, op: linear, out_features: 10}
"""

    class Fuse(nn.Module):
        def __init__(s, ca, cb, ch):
            super().__init__()
            s.pa = nn.Conv2d(ca, ch, 1)
            s.pb = nn.Conv2d(cb, ch, 1)

        def forward(s, a, b):
            return torch.tanh(s.pa(a) + s.pb(b))

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Conv2d(5, 8, 3, 2, 1)
            s.inc3a = TvInception(8, 4, 4, 8, 2, 4, 4)
            s.inc3b = TvInception(20, 6, 3, 5, 3, 5, 2, k=5)
            s.mix = Fuse(20, 18, 7)
            s.fc = nn.Linear(7, 10)

        def forward(s, x):
            x = F.max_pool2d(s.stem(x), 3, 2, ceil_mode=True)   # 6x6 -> 3x3 (ceil)
            a = s.inc3a(x)
            b = s.inc3b(a)
            return s.fc(torch.flatten(s.mix(a, b).mean((2, 3)), 1))
    return y, M()


class InvRes(nn.Module):
    """torchvision MobileNetV2 InvertedResidual (same state_dict names)."""

    def __init__(s, cin, cout, stride, t):
        super().__init__()
        hid = cin * t
        s.use_res = stride == 1 and cin == cout
        layers = []
        if t != 1:
            layers.append(nn.Sequential(nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6()))
        layers += [nn.Sequential(nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
                                 nn.ReLU6()),
                   nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        s.conv = nn.Sequential(*layers)

    def forward(s, x):
        return x + s.conv(x) if s.use_res else s.conv(x)


@case([3, 12, 10])
def expr_blocks():
    y = """blocks:
  ir:
    params: {cin: 4, cout: 8, t: 6, stride: 1}
    layers:
      - {name: conv.0.0, op: conv2d, out_channels: $cin*$t, kernel_size: 1, bias: false}
      - {name: conv.0.1, op: batchnorm2d}
      - {op: clip, min: 0, max: 6}
      - {name: conv.1.0, op: conv2d, out_channels: $cin*$t, kernel_size: 3, stride: $stride, padding: 1, groups: $t*$cin, bias: false}
      - {name: conv.1.1, op: batchnorm2d}
      - {op: clip, min: 0, max: 6}
      - {name: conv.2, op: conv2d, out_channels: $cout, kernel_size: 1, bias: false}
      - {name: conv.3, op: batchnorm2d}
  ir_res:
    params: {c: 8, t: 6}
    layers:
      - {name: conv.0.0, op: conv2d, out_channels: $c*$t, kernel_size: 1, bias: false}
      - {name: conv.0.1, op: batchnorm2d}
      - {op: clip, min: 0, max: 6}
      - {name: conv.1.0, op: conv2d, out_channels: $c*$t, kernel_size: 3, padding: 1, groups: $c*$t, bias: false}
      - {name: conv.1.1, op: batchnorm2d}
      - {op: clip, min: 0, max: 6}
      - {name: conv.2, op: conv2d, out_channels: $c, kernel_size: 1, bias: false}
      - {name: conv.3, op: batchnorm2d}
      - {name: res, op: add, from: [in, conv.3]}
  arith:
    params: {a: 6, k: 5}
    layers:
      - {name: c1, op: conv2d, out_channels: $a+$a/2*2, kernel_size: [$k, $k-2], padding: [$k/2, $k/2-1]}
      - {name: c2, op: conv2d, out_channels: $a*3-$a/4-10/3, kernel_size: 1}
      - {name: c3, op: conv2d, out_channels: $a-2-1, kernel_size: $k-$k/2*2, stride: $a/$a+1, padding: $a-$a}
layers:
  - {name: features.0.0, op: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, bias: false}
  - {name: features.0.1, op: batchnorm2d}
  - {op: clip, min: 0, max: 6.0}
  - {name: features.1, block: ir, cin: 8, cout: 4, t: 1}
  - {name: features.2, block: ir, cin: 4, cout: 6, stride: 2}
  - {name: features.3, block: ir_res, c: 6, t: 4}
  - {name: more, block: ir_res, repeat: 2, c: 6, t: 2}
  - {name: ar, block: arith}
  - {name: ar2, block: arith, a: 8, k: 3}
  - {op: global_avgpool}
  - {op: flatten}
  - {name: classifier.0, op: dropout, p: 0.2}
  - {name: classifier.1, op: linear, out_features: 5}
"""

    class Arith(nn.Module):
        def __init__(s, cin, a, k):
            super().__init__()
            s.c1 = nn.Conv2d(cin, a + a // 2 * 2, (k, k - 2), padding=(k // 2, k // 2 - 1))
            s.c2 = nn.Conv2d(a + a // 2 * 2, a * 3 - a // 4 - 10 // 3, 1)
            s.c3 = nn.Conv2d(a * 3 - a // 4 - 10 // 3, a - 2 - 1, k - k // 2 * 2, stride=2)

        def forward(s, x):
            return s.c3(s.c2(s.c1(x)))

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            # ir with t=1 has conv.0.0 (1x1, 8->8) too in this YAML: build it the same way
            s.features = nn.Sequential(
                nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6()),
                InvResT(8, 4, 1, 1), InvResT(4, 6, 2, 6), InvRes(6, 6, 1, 4))
            s.more = nn.Sequential(InvRes(6, 6, 1, 2), InvRes(6, 6, 1, 2))
            s.ar = Arith(6, 6, 5)
            s.ar2 = Arith(3, 8, 3)
            s.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(5, 5))

        def forward(s, x):
            x = s.ar2(s.ar(s.more(s.features(x))))
            return s.classifier(torch.flatten(x.mean((2, 3), keepdim=True), 1))
    return y, M()


class InvResT(nn.Module):
    """The YAML `ir` block: always has the expansion conv (even with t = 1), never a residual."""

    def __init__(s, cin, cout, stride, t):
        super().__init__()
        hid = cin * t
        s.conv = nn.Sequential(
            nn.Sequential(nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6()),
            nn.Sequential(nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
                          nn.ReLU6()),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(s, x):
        return s.conv(x)


# ===================================================== ops.def rows beyond SPEC section 1 (MobileNetV3 style)

GROUP[0] = "extra"


@case([3, 6, 5])
def hard_activations():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  - {name: hs, op: hardsigmoid, from: c1}
  - {name: hw, op: hardswish, from: c1}
  - {name: r6, op: clip, min: 0, max: 6, from: c1}
  - {name: cl, op: clip, min: -0.5, max: 0.25, from: c1}
  - {name: out, op: concat, from: [hs, hw, r6, cl]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(3, 6, 3, padding=1)
            with torch.no_grad():
                s.c1.weight.mul_(8.0)    # spread the values over the knees at -3, 0, 3, 6

        def forward(s, x):
            c = s.c1(x)
            return torch.cat([F.hardsigmoid(c), F.hardswish(c), F.relu6(c), torch.clamp(c, -0.5, 0.25)], 1)
    return y, M()


# ===================================================== driver

def state_tensors(model, nbt):
    out = []
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            if nbt:
                out.append((k, v.numpy().astype("<i8")))
            continue
        out.append((k, v.numpy().astype("<f4")))
    return out


def build(c, idx):
    torch.manual_seed(1000 + idx)
    text, model = c["fn"]()
    randomize(model)
    model.eval()
    g = torch.Generator().manual_seed(2000 + idx)
    x = torch.randn(c["batch"], *c["shape"], generator=g, dtype=torch.float32)
    return text, model, x



# ===================================================== passes
GROUP[0] = "passes"


@case([3, 17, 15])
def separable():
    """Spatially separable kernels (rank 1 per input channel, a per-channel
    depthwise outer product, and rank 2), which pass_sep rewrites into
    1 x k then k x 1 convolutions; plus a generic kernel it must leave alone."""
    y = """layers:
  - {name: sep5, op: conv2d, out_channels: 8, kernel_size: 5, padding: 2}
  - {op: relu}
  - {name: dw7, op: conv2d, out_channels: 8, kernel_size: 7, padding: 3, stride: 2, groups: 8}
  - {name: r2, op: conv2d, out_channels: 6, kernel_size: [5, 3], padding: [2, 1], dilation: [1, 2], bias: false, from: x}
  - {name: gen, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1, from: x}
  - {name: out, op: concat, from: [dw7flat, r2flat, genflat]}
"""
    y = """layers:
  - {name: sep5, op: conv2d, out_channels: 8, kernel_size: 5, padding: 2}
  - {op: relu}
  - {name: dw7, op: conv2d, out_channels: 8, kernel_size: 7, padding: 3, stride: 2, groups: 8}
  - {name: dw7flat, op: flatten}
  - {name: r2, op: conv2d, out_channels: 6, kernel_size: 5, padding: [2, 2], bias: false, from: x}
  - {name: r2flat, op: flatten}
  - {name: gen, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1, from: x}
  - {name: genflat, op: flatten}
  - {name: out, op: concat, from: [dw7flat, r2flat, genflat]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.sep5 = nn.Conv2d(3, 8, 5, padding=2)
            s.dw7 = nn.Conv2d(8, 8, 7, stride=2, padding=3, groups=8)
            s.r2 = nn.Conv2d(3, 6, 5, padding=2, bias=False)
            s.gen = nn.Conv2d(3, 6, 3, padding=1)
            with torch.no_grad():
                a = torch.randn(8, 3, 5, 1)
                b = torch.randn(1, 3, 1, 5)
                s.sep5.weight.copy_(a * b)               # W[k,c,i,j] = a[k,c,i] b[c,j]
                s.dw7.weight.copy_(torch.randn(8, 1, 7, 1) * torch.randn(8, 1, 1, 7))
                w = torch.zeros(6, 3, 5, 5)
                for r in range(2):
                    w += torch.randn(6, 3, 5, 1) * torch.randn(1, 3, 1, 5)
                s.r2.weight.copy_(w)

        def forward(s, x):
            d = s.dw7(F.relu(s.sep5(x)))
            return torch.cat([torch.flatten(d, 1), torch.flatten(s.r2(x), 1), torch.flatten(s.gen(x), 1)], 1)
    return y, M()


@case([3, 48, 60])
def pw_dw_bands():
    """1x1 convs computed inside the depthwise conv that reads them, band by
    band of its output rows (pass_algo.c, rt_pw_dw_conv2d): stride 1 over
    two bands (three with RT_PWDW_BYTES = 512 KiB) with a fused residual
    and clip, stride 2 over two bands with 90 channels (not a multiple of 8),
    and a 5x5 depthwise (the plain plane loop)."""
    y = """layers:
  - {name: r, op: conv2d, out_channels: 96, kernel_size: 1, bias: false}
  - {name: pw1, op: conv2d, out_channels: 96, kernel_size: 1, from: x}
  - {op: clip, min: 0, max: 6}
  - {name: dw1, op: conv2d, out_channels: 96, kernel_size: 3, padding: 1, groups: 96}
  - {name: s, op: add, from: [dw1, r]}
  - {op: clip, min: 0, max: 6}
  - {name: pw2, op: conv2d, out_channels: 90, kernel_size: 1}
  - {op: relu}
  - {name: dw2, op: conv2d, out_channels: 90, kernel_size: 3, stride: 2, padding: 1, groups: 90}
  - {op: relu}
  - {name: pw3, op: conv2d, out_channels: 4, kernel_size: 1, bias: false}
  - {name: dw3, op: conv2d, out_channels: 4, kernel_size: 5, padding: 2, groups: 4}
  - {op: flatten}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.r = nn.Conv2d(3, 96, 1, bias=False)
            s.pw1 = nn.Conv2d(3, 96, 1)
            s.dw1 = nn.Conv2d(96, 96, 3, padding=1, groups=96)
            s.pw2 = nn.Conv2d(96, 90, 1)
            s.dw2 = nn.Conv2d(90, 90, 3, stride=2, padding=1, groups=90)
            s.pw3 = nn.Conv2d(90, 4, 1, bias=False)
            s.dw3 = nn.Conv2d(4, 4, 5, padding=2, groups=4)

        def forward(s, x):
            h = torch.clamp(s.dw1(torch.clamp(s.pw1(x), 0, 6)) + s.r(x), 0, 6)
            h = F.relu(s.dw2(F.relu(s.pw2(h))))
            return torch.flatten(s.dw3(s.pw3(h)), 1)
    return y, M()


@case([3, 150, 132], batch=1)
def conv_pool_stems():
    """Convs computed inside the max pool that reads them, band by band of
    the pool's rows (pass_algo.c, rt_conv_maxpool2d): a 7x7/2 stem of 60
    channels (7 blocks of 8 and a partial one) under a 3x3/2 pool with
    padding, in three bands, and a 5x5/2 stem under a 3x3/2 ceil_mode pool;
    a second conv + pool whose conv is too deep to fuse."""
    y = """layers:
  - {name: stem, op: conv2d, out_channels: 60, kernel_size: 7, stride: 2, padding: 3}
  - {op: relu}
  - {name: mp1, op: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
  - {name: c2, op: conv2d, out_channels: 12, kernel_size: 5, padding: 2}
  - {op: relu}
  - {name: mp2, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {name: f1, op: flatten}
  - {name: stem5, op: conv2d, out_channels: 16, kernel_size: 5, stride: 2, padding: 1, from: x}
  - {op: clip, min: 0, max: 6}
  - {name: mp3, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {name: f2, op: flatten}
  - {name: out, op: concat, dim: 1, from: [f1, f2]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Conv2d(3, 60, 7, stride=2, padding=3)
            s.c2 = nn.Conv2d(60, 12, 5, padding=2)
            s.stem5 = nn.Conv2d(3, 16, 5, stride=2, padding=1)

        def forward(s, x):
            a = F.max_pool2d(F.relu(s.stem(x)), 3, 2, 1)
            a = F.max_pool2d(F.relu(s.c2(a)), 3, 2, ceil_mode=True)
            b = F.max_pool2d(torch.clamp(s.stem5(x), 0, 6), 3, 2, ceil_mode=True)
            return torch.cat([torch.flatten(a, 1), torch.flatten(b, 1)], 1)
    return y, M()


@case([9, 9, 9])
def bn_forward():
    """Batchnorms after a ReLU fold forward into the layer that reads them
    (pass_fold.c) when it pads nothing: a grouped conv, a 1x1 without bias,
    a linear on [N, C]; not into a padded conv (its padding would read BN(0)),
    nor when a second layer reads the batchnorm."""
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {op: relu}
  - {name: bn1, op: batchnorm2d}
  - {name: c2, op: conv2d, out_channels: 6, kernel_size: 3, groups: 2}
  - {op: relu}
  - {name: bn2, op: batchnorm2d, eps: 0.01}
  - {name: c3, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  - {op: relu}
  - {name: bn3, op: batchnorm2d, affine: false, eps: 0.001}
  - {name: c4, op: conv2d, out_channels: 4, kernel_size: 1, bias: false}
  - {name: c5, op: conv2d, out_channels: 4, kernel_size: 1, from: bn3}
  - {name: s, op: add, from: [c4, c5]}
  - {op: global_avgpool}
  - {op: flatten}
  - {op: relu}
  - {name: bn4, op: batchnorm1d}
  - {name: fc, op: linear, out_features: 5}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(9, 8, 3, padding=1)
            s.bn1 = nn.BatchNorm2d(8)
            s.c2 = nn.Conv2d(8, 6, 3, groups=2)
            s.bn2 = nn.BatchNorm2d(6, eps=0.01)
            s.c3 = nn.Conv2d(6, 6, 3, padding=1)
            s.bn3 = nn.BatchNorm2d(6, affine=False, eps=0.001)
            s.c4 = nn.Conv2d(6, 4, 1, bias=False)
            s.c5 = nn.Conv2d(6, 4, 1)
            s.bn4 = nn.BatchNorm1d(4)
            s.fc = nn.Linear(4, 5)

        def forward(s, x):
            h = s.bn1(F.relu(s.c1(x)))
            h = s.bn2(F.relu(s.c2(h)))
            h = s.bn3(F.relu(s.c3(h)))
            h = s.c4(h) + s.c5(h)
            h = s.bn4(F.relu(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)))
            return s.fc(h)
    return y, M()


def gen_case(c, idx, root, check_only=False):
    import copy
    name = c["name"]
    text, model, x = build(c, idx)
    with torch.no_grad():
        y32 = model(x).double()
        y = copy.deepcopy(model).double()(x.double())
    d = os.path.join(root, name)
    yml = header(name, c["shape"]) + text
    if not check_only:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.yaml"), "w") as f:
            f.write(yml)
        meta = {"format": "pt"} if idx % 2 == 0 else None   # half the files carry __metadata__
        yaml_ref.write_safetensors(os.path.join(d, "weights.safetensors"), state_tensors(model, c["nbt"]),
                                   meta)
        np.save(os.path.join(d, "x.npy"), x.numpy().astype("<f4"))
        np.save(os.path.join(d, "y.npy"), y.numpy().astype("<f8"))
    # second opinion: the independent YAML interpreter on the files as written
    yr = yaml_ref.run_model(os.path.join(d, "model.yaml"), [np.load(os.path.join(d, "x.npy")).astype(np.float64)])[0]
    ye = np.load(os.path.join(d, "y.npy"))
    scale = max(1.0, float(np.abs(ye).max()))
    dref = float(np.abs(yr - ye).max()) if yr.shape == ye.shape else float("inf")
    d32 = float(np.abs(y32.numpy() - ye).max())
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    dgen = float(np.abs(y.numpy() - ye).max()) if tuple(y.shape) == ye.shape else float("inf")
    ok = dref <= 1e-12 * scale and d32 <= 1e-5 * scale and dgen <= 1e-12 * scale
    print(f"{name:22s} x={list(x.shape)} y={list(ye.shape)} max|y|={np.abs(ye).max():.3g} "
          f"yaml_ref={dref:.2g} fp32={d32 / scale:.2g} bytes={size} {'ok' if ok else 'FAIL'}")
    return ok, size


def write_index(root, check_only):
    """cases.txt: one line per case, `NAME GROUP op op ...`; and a coverage report of yaml_ref.OPS."""
    seen, lines = set(), []
    for c in CASES:
        doc = yaml_ref._load_yaml(os.path.join(root, c["name"], "model.yaml"))
        _, layers, _ = yaml_ref.expand_model(doc)
        ops = sorted(set(L.op for L in layers))
        seen.update(ops)
        lines.append(f"{c['name']} {c['group']} {' '.join(ops)}\n")
    if not check_only:
        with open(os.path.join(root, "cases.txt"), "w") as f:
            f.write("# generated by tests/gen_golden.py: NAME GROUP OPS...\n" + "".join(lines))
    missing = sorted(set(yaml_ref.OPS) - seen)
    print(f"ops covered: {len(seen)}; not covered: {' '.join(missing) or '-'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    ap.add_argument("--check-only", action="store_true", help="do not write; re-check existing files")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using padding='same'")
    known = [c["name"] for c in CASES]
    for n in a.names:
        if n not in known:
            sys.exit(f"unknown case {n}; have {known}")
    bad, total = 0, 0
    for i, c in enumerate(CASES):
        if a.names and c["name"] not in a.names:
            continue
        ok, size = gen_case(c, i, a.out, a.check_only)
        bad += not ok
        total += size
    print(f"{len(a.names) or len(CASES)} cases, {total} bytes, {bad} failed")
    if not a.names:
        write_index(a.out, a.check_only)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
