#!/usr/bin/python3
"""gen_examples.py - the example networks: YAML descriptions, PyTorch twins, fp64 goldens.

Every example is a YAML file in examples/ plus a PyTorch module whose
state_dict names are the YAML's parameter names (torchvision's own modules for
alexnet, vgg11, googlenet -> inception, resnet18 and mobilenet_v2), so a
torchvision state_dict loads by name.

  gen_examples.py yaml                    (re)write examples/*.yaml
  gen_examples.py golden OUTDIR [NAME..]  for each example write OUTDIR/NAME/{model.yaml, weights.safetensors,
                                          x.npy, y.npy}: seeded weights with non-trivial BN statistics,
                                          randn input, y from the module in float64.  [--verify] re-evaluates
                                          the YAML with tests/yaml_ref.py and requires agreement to 1e-12.
  gen_examples.py train                   train LeNet-5 on sklearn's 8x8 digits (upscaled to 28x28) and
                                          write lenet5.safetensors, digits_samples.npy, digits_labels.npy
                                          and lenet5_golden/{x.npy,y.npy}
Weights of the big models are never committed: a test generates them when torch is present.
Run with /usr/bin/python3 (torch 1.13, torchvision 0.14).
"""
import argparse
import copy
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def Y(s):
    """Dedent helper for YAML text blocks."""
    import textwrap
    return textwrap.dedent(s).lstrip("\n")


def L(s):
    """One flow mapping per line -> `  - {...}` items of a top-level `layers:` list."""
    return "".join(f"  - {ln.strip()}\n" for ln in s.strip().split("\n"))


def head(name, shape, comment, weights=None):
    s = f"# {comment}\ncnnc: 1\nname: {name}\ninputs:\n  - {{name: x, shape: {list(shape)}}}\n"
    if weights:
        s += f"weights: {weights}\n"
    return s


# ------------------------------------------------------------------ YAML texts

def lenet5_yaml():
    return head("lenet5", [1, 28, 28], "LeNet-5 for 1x28x28 digits; weights trained on sklearn's digits "
                "(gen_examples.py train)", "lenet5.safetensors") + Y("""
    layers:
      - {name: c1, op: conv2d, out_channels: 6, kernel_size: 5, padding: 2}
      - {op: relu}
      - {op: maxpool2d, kernel_size: 2}
      - {name: c2, op: conv2d, out_channels: 16, kernel_size: 5}
      - {op: relu}
      - {op: maxpool2d, kernel_size: 2}
      - {op: flatten}
      - {name: f1, op: linear, out_features: 120}
      - {op: relu}
      - {name: f2, op: linear, out_features: 84}
      - {op: relu}
      - {name: f3, op: linear, out_features: 10}
    outputs: [f3]
    """)


def alexnet_yaml():
    return head("alexnet", [3, 224, 224], "AlexNet, torchvision.models.alexnet() state_dict names") + Y("""
    layers:
      - {name: features.0, op: conv2d, out_channels: 64, kernel_size: 11, stride: 4, padding: 2}
      - {name: features.1, op: relu}
      - {name: features.2, op: maxpool2d, kernel_size: 3, stride: 2}
      - {name: features.3, op: conv2d, out_channels: 192, kernel_size: 5, padding: 2}
      - {name: features.4, op: relu}
      - {name: features.5, op: maxpool2d, kernel_size: 3, stride: 2}
      - {name: features.6, op: conv2d, out_channels: 384, kernel_size: 3, padding: 1}
      - {name: features.7, op: relu}
      - {name: features.8, op: conv2d, out_channels: 256, kernel_size: 3, padding: 1}
      - {name: features.9, op: relu}
      - {name: features.10, op: conv2d, out_channels: 256, kernel_size: 3, padding: 1}
      - {name: features.11, op: relu}
      - {name: features.12, op: maxpool2d, kernel_size: 3, stride: 2}
      - {name: avgpool, op: adaptive_avgpool2d, output_size: [6, 6]}
      - {name: flatten, op: flatten}
      - {name: classifier.0, op: dropout, p: 0.5}
      - {name: classifier.1, op: linear, out_features: 4096}
      - {name: classifier.2, op: relu}
      - {name: classifier.3, op: dropout, p: 0.5}
      - {name: classifier.4, op: linear, out_features: 4096}
      - {name: classifier.5, op: relu}
      - {name: classifier.6, op: linear, out_features: 1000}
    """)


def vgg11_yaml():
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    s = head("vgg11", [3, 224, 224], "VGG-11 (configuration A, no BN), torchvision.models.vgg11() names")
    s += "layers:\n"
    i = 0
    for v in cfg:
        if v == "M":
            s += f"  - {{name: features.{i}, op: maxpool2d, kernel_size: 2, stride: 2}}\n"
            i += 1
        else:
            s += f"  - {{name: features.{i}, op: conv2d, out_channels: {v}, kernel_size: 3, padding: 1}}\n"
            s += f"  - {{name: features.{i + 1}, op: relu}}\n"
            i += 2
    s += L("""
      {name: avgpool, op: adaptive_avgpool2d, output_size: [7, 7]}
      {name: flatten, op: flatten}
      {name: classifier.0, op: linear, out_features: 4096}
      {name: classifier.1, op: relu}
      {name: classifier.2, op: dropout, p: 0.5}
      {name: classifier.3, op: linear, out_features: 4096}
      {name: classifier.4, op: relu}
      {name: classifier.5, op: dropout, p: 0.5}
      {name: classifier.6, op: linear, out_features: 1000}
    """)
    return s


RESNET_BLOCKS = Y("""
blocks:
  basic:                         # torchvision BasicBlock, identity shortcut
    params: {ch: 64, stride: 1}
    layers:
      - {name: conv1, op: conv2d, out_channels: $ch, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - {name: bn1, op: batchnorm2d}
      - {name: relu1, op: relu}
      - {name: conv2, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
      - {name: bn2, op: batchnorm2d}
      - {name: add, op: add, from: [bn2, in]}
      - {name: relu2, op: relu}
  basic_down:                    # BasicBlock with the 1x1 projection shortcut `downsample`
    params: {ch: 128, stride: 2}
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
""")


def resnet18_yaml():
    return head("resnet18", [3, 224, 224], "ResNet-18; torchvision.models.resnet18().state_dict() loads by name") \
        + RESNET_BLOCKS + Y("""
    layers:
      - {name: conv1, op: conv2d, out_channels: 64, kernel_size: 7, stride: 2, padding: 3, bias: false}
      - {name: bn1, op: batchnorm2d}
      - {name: relu, op: relu}
      - {name: maxpool, op: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
      - {name: layer1, block: basic, repeat: 2, ch: 64}
      - {name: layer2.0, block: basic_down, ch: 128, stride: 2}
      - {name: layer2.1, block: basic, ch: 128}
      - {name: layer3.0, block: basic_down, ch: 256, stride: 2}
      - {name: layer3.1, block: basic, ch: 256}
      - {name: layer4.0, block: basic_down, ch: 512, stride: 2}
      - {name: layer4.1, block: basic, ch: 512}
      - {name: avgpool, op: adaptive_avgpool2d, output_size: [1, 1]}
      - {name: flatten, op: flatten}
      - {name: fc, op: linear, out_features: 1000}
    """)


def mobilenet_v2_yaml():
    s = head("mobilenet_v2", [3, 224, 224], "MobileNetV2 (width 1.0); torchvision.models.mobilenet_v2() names; "
             "ReLU6 is clip [0, 6]")
    s += Y("""
    blocks:
      ir_t1:                         # expand ratio 1: depthwise 3x3, then linear 1x1
        params: {cin: 32, cout: 16}
        layers:
          - {name: conv.0.0, op: conv2d, out_channels: $cin, kernel_size: 3, padding: 1, groups: $cin, bias: false}
          - {name: conv.0.1, op: batchnorm2d}
          - {name: conv.0.2, op: clip, min: 0, max: 6}
          - {name: conv.1, op: conv2d, out_channels: $cout, kernel_size: 1, bias: false}
          - {name: conv.2, op: batchnorm2d}
      ir:                            # expand 1x1, depthwise 3x3 (stride), project 1x1; no shortcut
        params: {cin: 16, cout: 24, stride: 1, t: 6}
        layers:
          - {name: conv.0.0, op: conv2d, out_channels: $cin*$t, kernel_size: 1, bias: false}
          - {name: conv.0.1, op: batchnorm2d}
          - {name: conv.0.2, op: clip, min: 0, max: 6}
          - {name: conv.1.0, op: conv2d, out_channels: $cin*$t, kernel_size: 3, stride: $stride, padding: 1, groups: $cin*$t, bias: false}
          - {name: conv.1.1, op: batchnorm2d}
          - {name: conv.1.2, op: clip, min: 0, max: 6}
          - {name: conv.2, op: conv2d, out_channels: $cout, kernel_size: 1, bias: false}
          - {name: conv.3, op: batchnorm2d}
      ir_res:                        # same with stride 1, cin == cout and the identity shortcut
        params: {c: 24, t: 6}
        layers:
          - {name: conv.0.0, op: conv2d, out_channels: $c*$t, kernel_size: 1, bias: false}
          - {name: conv.0.1, op: batchnorm2d}
          - {name: conv.0.2, op: clip, min: 0, max: 6}
          - {name: conv.1.0, op: conv2d, out_channels: $c*$t, kernel_size: 3, padding: 1, groups: $c*$t, bias: false}
          - {name: conv.1.1, op: batchnorm2d}
          - {name: conv.1.2, op: clip, min: 0, max: 6}
          - {name: conv.2, op: conv2d, out_channels: $c, kernel_size: 1, bias: false}
          - {name: conv.3, op: batchnorm2d}
          - {name: add, op: add, from: [in, conv.3]}
    layers:
      - {name: features.0.0, op: conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1, bias: false}
      - {name: features.0.1, op: batchnorm2d}
      - {name: features.0.2, op: clip, min: 0, max: 6}
      - {name: features.1, block: ir_t1, cin: 32, cout: 16}
    """)
    settings = [(6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    cin, i = 16, 2
    for t, c, n, st in settings:
        for j in range(n):
            stride = st if j == 0 else 1
            if stride == 1 and cin == c:
                s += f"  - {{name: features.{i}, block: ir_res, c: {c}}}\n"
            else:
                s += f"  - {{name: features.{i}, block: ir, cin: {cin}, cout: {c}, stride: {stride}}}\n"
            cin, i = c, i + 1
    s += L("""
      {name: features.18.0, op: conv2d, out_channels: 1280, kernel_size: 1, bias: false}
      {name: features.18.1, op: batchnorm2d}
      {name: features.18.2, op: clip, min: 0, max: 6}
      {name: pool, op: adaptive_avgpool2d, output_size: 1}
      {name: flatten, op: flatten}
      {name: classifier.0, op: dropout, p: 0.2}
      {name: classifier.1, op: linear, out_features: 1000}
    """)
    return s


INCEPTION_BLOCK = Y("""
blocks:
  inception:                     # torchvision GoogLeNet Inception (its branch 3 uses a 3x3 kernel)
    params: {c1: 64, c3r: 96, c3: 128, c5r: 16, c5: 32, pp: 32}
    layers:
      - {name: branch1.conv, op: conv2d, out_channels: $c1, kernel_size: 1, bias: false}
      - {name: branch1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b1, op: relu}
      - {name: branch2.0.conv, op: conv2d, out_channels: $c3r, kernel_size: 1, bias: false, from: in}
      - {name: branch2.0.bn, op: batchnorm2d, eps: 0.001}
      - {name: branch2.0.relu, op: relu}
      - {name: branch2.1.conv, op: conv2d, out_channels: $c3, kernel_size: 3, padding: 1, bias: false}
      - {name: branch2.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b2, op: relu}
      - {name: branch3.0.conv, op: conv2d, out_channels: $c5r, kernel_size: 1, bias: false, from: in}
      - {name: branch3.0.bn, op: batchnorm2d, eps: 0.001}
      - {name: branch3.0.relu, op: relu}
      - {name: branch3.1.conv, op: conv2d, out_channels: $c5, kernel_size: 3, padding: 1, bias: false}
      - {name: branch3.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b3, op: relu}
      - {name: branch4.0, op: maxpool2d, kernel_size: 3, stride: 1, padding: 1, ceil_mode: true, from: in}
      - {name: branch4.1.conv, op: conv2d, out_channels: $pp, kernel_size: 1, bias: false}
      - {name: branch4.1.bn, op: batchnorm2d, eps: 0.001}
      - {name: b4, op: relu}
      - {name: cat, op: concat, from: [b1, b2, b3, b4]}
  basic_conv:                    # torchvision BasicConv2d: conv (no bias), BN (eps 1e-3), ReLU
    params: {ch: 64, k: 1, s: 1}
    layers:
      - {name: conv, op: conv2d, out_channels: $ch, kernel_size: $k, stride: $s, padding: $k/2, bias: false}
      - {name: bn, op: batchnorm2d, eps: 0.001}
      - {name: relu, op: relu}
""")


def inception_yaml():
    s = head("inception", [3, 224, 224], "GoogLeNet (Inception v1) as torchvision.models.googlenet(aux_logits=False, "
             "transform_input=False): same state_dict names")
    s += INCEPTION_BLOCK + "layers:\n"
    s += "  - {name: conv1, block: basic_conv, ch: 64, k: 7, s: 2}\n"
    s += "  - {name: maxpool1, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}\n"
    s += "  - {name: conv2, block: basic_conv, ch: 64, k: 1}\n"
    s += "  - {name: conv3, block: basic_conv, ch: 192, k: 3}\n"
    s += "  - {name: maxpool2, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}\n"
    inc = [("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), ("pool3", None),
           ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)),
           ("4c", (128, 128, 256, 24, 64, 64)), ("4d", (112, 144, 288, 32, 64, 64)),
           ("4e", (256, 160, 320, 32, 128, 128)), ("pool4", None),
           ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128))]
    for n, p in inc:
        if n == "pool3":
            s += "  - {name: maxpool3, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}\n"
        elif n == "pool4":
            s += "  - {name: maxpool4, op: maxpool2d, kernel_size: 2, stride: 2, ceil_mode: true}\n"
        else:
            kv = ", ".join(f"{k}: {v}" for k, v in zip(("c1", "c3r", "c3", "c5r", "c5", "pp"), p))
            s += f"  - {{name: inception{n}, block: inception, {kv}}}\n"
    s += "  - {name: avgpool, op: adaptive_avgpool2d, output_size: [1, 1]}\n"
    s += "  - {name: flatten, op: flatten}\n"
    s += "  - {name: dropout, op: dropout, p: 0.2}\n"
    s += "  - {name: fc, op: linear, out_features: 1000}\n"
    return s


def unet_yaml():
    return head("unet", [3, 64, 64], "small U-Net: 3 max-pool downsamplings, transposed-conv upsampling, "
                "concatenated skips") + Y("""
    blocks:
      double_conv:
        params: {ch: 16}
        layers:
          - {name: conv1, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
          - {name: bn1, op: batchnorm2d}
          - {name: relu1, op: relu}
          - {name: conv2, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
          - {name: bn2, op: batchnorm2d}
          - {name: relu2, op: relu}
    layers:
      - {name: enc1, block: double_conv, ch: 16}
      - {name: pool1, op: maxpool2d, kernel_size: 2}
      - {name: enc2, block: double_conv, ch: 32}
      - {name: pool2, op: maxpool2d, kernel_size: 2}
      - {name: enc3, block: double_conv, ch: 64}
      - {name: pool3, op: maxpool2d, kernel_size: 2}
      - {name: bottleneck, block: double_conv, ch: 128}
      - {name: up3, op: conv_transpose2d, out_channels: 64, kernel_size: 2, stride: 2}
      - {name: cat3, op: concat, from: [up3, enc3]}
      - {name: dec3, block: double_conv, ch: 64}
      - {name: up2, op: conv_transpose2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}
      - {name: cat2, op: concat, from: [up2, enc2]}
      - {name: dec2, block: double_conv, ch: 32}
      - {name: up1, op: conv_transpose2d, out_channels: 16, kernel_size: 2, stride: 2}
      - {name: cat1, op: concat, from: [up1, enc1]}
      - {name: dec1, block: double_conv, ch: 16}
      - {name: head, op: conv2d, out_channels: 2, kernel_size: 1}
    """)


def tdnn_yaml():
    return head("tdnn", [40, 200], "x-vector-style TDNN: 40 filterbank features x 200 frames, dilated "
                "Conv1d frame layers (ReLU then BN), mean over time, embedding") + Y("""
    blocks:
      frame:
        params: {ch: 256, k: 3, d: 1}
        layers:
          - {name: conv, op: conv1d, out_channels: $ch, kernel_size: $k, dilation: $d}
          - {name: relu, op: relu}
          - {name: bn, op: batchnorm1d}
    layers:
      - {name: frame1, block: frame, k: 5}
      - {name: frame2, block: frame, k: 3, d: 2}
      - {name: frame3, block: frame, k: 3, d: 3}
      - {name: frame4, block: frame, k: 1}
      - {name: frame5, block: frame, ch: 768, k: 1}
      - {name: pool, op: global_avgpool}
      - {name: flatten, op: flatten}
      - {name: embed, op: linear, out_features: 256}
      - {name: embed_relu, op: relu}
      - {name: embed_bn, op: batchnorm1d}
      - {name: out, op: linear, out_features: 10}
    """)


# ------------------------------------------------------------------ PyTorch twins

def torch_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    class LeNet5(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(1, 6, 5, padding=2)
            s.c2 = nn.Conv2d(6, 16, 5)
            s.f1 = nn.Linear(400, 120)
            s.f2 = nn.Linear(120, 84)
            s.f3 = nn.Linear(84, 10)

        def forward(s, x):
            x = F.max_pool2d(F.relu(s.c1(x)), 2)
            x = F.max_pool2d(F.relu(s.c2(x)), 2)
            x = torch.flatten(x, 1)
            return s.f3(F.relu(s.f2(F.relu(s.f1(x)))))

    class DoubleConv(nn.Module):
        def __init__(s, cin, ch):
            super().__init__()
            s.conv1 = nn.Conv2d(cin, ch, 3, padding=1, bias=False)
            s.bn1 = nn.BatchNorm2d(ch)
            s.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
            s.bn2 = nn.BatchNorm2d(ch)

        def forward(s, x):
            return F.relu(s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x))))))

    class UNet(nn.Module):
        def __init__(s):
            super().__init__()
            s.enc1, s.enc2, s.enc3 = DoubleConv(3, 16), DoubleConv(16, 32), DoubleConv(32, 64)
            s.bottleneck = DoubleConv(64, 128)
            s.up3 = nn.ConvTranspose2d(128, 64, 2, stride=2)
            s.dec3 = DoubleConv(128, 64)
            s.up2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
            s.dec2 = DoubleConv(64, 32)
            s.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            s.dec1 = DoubleConv(32, 16)
            s.head = nn.Conv2d(16, 2, 1)

        def forward(s, x):
            e1 = s.enc1(x)
            e2 = s.enc2(F.max_pool2d(e1, 2))
            e3 = s.enc3(F.max_pool2d(e2, 2))
            b = s.bottleneck(F.max_pool2d(e3, 2))
            d3 = s.dec3(torch.cat([s.up3(b), e3], 1))
            d2 = s.dec2(torch.cat([s.up2(d3), e2], 1))
            d1 = s.dec1(torch.cat([s.up1(d2), e1], 1))
            return s.head(d1)

    class Frame(nn.Module):
        def __init__(s, cin, ch, k, d):
            super().__init__()
            s.conv = nn.Conv1d(cin, ch, k, dilation=d)
            s.bn = nn.BatchNorm1d(ch)

        def forward(s, x):
            return s.bn(F.relu(s.conv(x)))

    class TDNN(nn.Module):
        def __init__(s):
            super().__init__()
            s.frame1 = Frame(40, 256, 5, 1)
            s.frame2 = Frame(256, 256, 3, 2)
            s.frame3 = Frame(256, 256, 3, 3)
            s.frame4 = Frame(256, 256, 1, 1)
            s.frame5 = Frame(256, 768, 1, 1)
            s.embed = nn.Linear(768, 256)
            s.embed_bn = nn.BatchNorm1d(256)
            s.out = nn.Linear(256, 10)

        def forward(s, x):
            x = s.frame5(s.frame4(s.frame3(s.frame2(s.frame1(x)))))
            x = torch.flatten(x.mean(2, keepdim=True), 1)
            return s.out(s.embed_bn(F.relu(s.embed(x))))

    tv = torchvision.models
    return {
        # name: (yaml fn, constructor, per-sample input shape, batch)
        "lenet5": (lenet5_yaml, LeNet5, [1, 28, 28], 2),
        "alexnet": (alexnet_yaml, lambda: tv.alexnet(), [3, 224, 224], 1),
        "vgg11": (vgg11_yaml, lambda: tv.vgg11(), [3, 224, 224], 1),
        "inception": (inception_yaml, lambda: tv.googlenet(aux_logits=False, transform_input=False,
                                                           init_weights=False), [3, 224, 224], 1),
        "resnet18": (resnet18_yaml, lambda: tv.resnet18(), [3, 224, 224], 1),
        "mobilenet_v2": (mobilenet_v2_yaml, lambda: tv.mobilenet_v2(), [3, 224, 224], 1),
        "unet": (unet_yaml, UNet, [3, 64, 64], 2),
        "tdnn": (tdnn_yaml, TDNN, [40, 200], 2),
    }


NAMES = ["lenet5", "alexnet", "vgg11", "inception", "resnet18", "mobilenet_v2", "unet", "tdnn"]
YAML_FNS = {"lenet5": lenet5_yaml, "alexnet": alexnet_yaml, "vgg11": vgg11_yaml, "inception": inception_yaml,
            "resnet18": resnet18_yaml, "mobilenet_v2": mobilenet_v2_yaml, "unet": unet_yaml, "tdnn": tdnn_yaml}


def cmd_yaml(a):
    for n in NAMES:
        p = os.path.join(HERE, n + ".yaml")
        with open(p, "w") as f:
            f.write(YAML_FNS[n]())
        print("wrote", p)
    return 0


def seeded(name, idx):
    """The module with seeded weights, rescaled so activations keep unit scale, and random BN stats."""
    import torch
    import torch.nn as nn
    ctor = torch_models()[name][1]
    torch.manual_seed(100 + idx)
    m = ctor()
    with torch.no_grad():
        for mod in m.modules():
            # He-normal conv/linear weights keep activations O(1) through deep stacks
            # (torch's default init shrinks them ~0.6x per layer, which would make the
            # golden outputs tiny and the check vacuous).
            if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.ConvTranspose2d):
                fan_in = mod.weight.shape[0] // mod.groups * mod.weight[0, 0].numel()
                fan_in = max(1, fan_in * mod.stride[0] * mod.stride[1] // (mod.kernel_size[0] * mod.kernel_size[1]))
                mod.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                c = mod.num_features
                mod.running_mean.copy_(0.1 * torch.randn(c))
                mod.running_var.copy_(torch.empty(c).uniform_(0.5, 2.0))
                mod.weight.copy_(torch.empty(c).uniform_(0.5, 1.5))
                mod.bias.copy_(0.1 * torch.randn(c))
    return m.eval()


def state_tensors(model, keep_nbt=True):
    out = []
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            if keep_nbt:
                out.append((k, v.numpy().astype("<i8")))
        else:
            out.append((k, v.numpy().astype("<f4")))
    return out


def cmd_golden(a):
    import torch
    import yaml_ref
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    specs = torch_models()
    names = a.names or NAMES
    bad = 0
    for n in names:
        if n not in specs:
            sys.exit(f"unknown example {n}; have {NAMES}")
    for n in names:
        t0 = time.time()
        yfn, _, shape, batch = specs[n]
        idx = NAMES.index(n)
        model = seeded(n, idx)
        g = torch.Generator().manual_seed(200 + idx)
        x = torch.randn(batch, *shape, generator=g, dtype=torch.float32)
        state = state_tensors(model)          # float32 copies, before the in-place .double()
        with torch.no_grad():
            y32 = model(x).double() if a.verify else None
            y = model.double()(x.double())
        d = os.path.join(a.outdir, n)
        os.makedirs(d, exist_ok=True)
        text = yfn()
        if "\nweights:" in text:
            text = "\n".join(ln for ln in text.split("\n") if not ln.startswith("weights:"))
        text = text.replace("\ninputs:", "\nweights: weights.safetensors\ninputs:", 1)
        with open(os.path.join(d, "model.yaml"), "w") as f:
            f.write(text)
        yaml_ref.write_safetensors(os.path.join(d, "weights.safetensors"), state, {"format": "pt"})
        del state
        np.save(os.path.join(d, "x.npy"), x.numpy().astype("<f4"))
        np.save(os.path.join(d, "y.npy"), y.numpy().astype("<f8"))
        msg = f"{n:13s} x={list(x.shape)} y={list(y.shape)} max|y|={y.abs().max():.4g} " \
              f"std(y)={y.std():.4g}"
        if a.verify:
            del model
            yr = yaml_ref.run_model(os.path.join(d, "model.yaml"), [x.double().numpy()])[0]
            dd = float(np.abs(yr - y.numpy()).max())
            ok = dd <= 1e-12 * max(1.0, float(y.abs().max()))
            d32 = float((y32 - y).abs().max()) / max(1.0, float(y.abs().max()))
            bad += not ok
            msg += f" yaml_ref={dd:.2g} fp32={d32:.2g} {'ok' if ok else 'FAIL'}"
        print(f"{msg} ({time.time() - t0:.1f}s)", flush=True)
    return 1 if bad else 0


def cmd_train(a):
    """LeNet-5 on sklearn's 8x8 digits, bilinearly upscaled to 28x28 (pixel values / 16)."""
    import torch
    import torch.nn.functional as F
    import yaml_ref
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    torch.set_num_threads(1)
    dg = load_digits()
    imgs = torch.tensor(dg.images, dtype=torch.float32).unsqueeze(1) / 16.0
    imgs = F.interpolate(imgs, size=(28, 28), mode="bilinear", align_corners=False)
    labels = torch.tensor(dg.target, dtype=torch.int64)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(42))
    ntest = 360
    te, tr = perm[:ntest], perm[ntest:]
    model = torch_models()["lenet5"][1]()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.4)
    for ep in range(a.epochs):
        model.train()
        order = tr[torch.randperm(len(tr))]
        for i in range(0, len(order), 32):
            b = order[i:i + 32]
            loss = F.cross_entropy(model(imgs[b]), labels[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(imgs[te]).argmax(1) == labels[te]).float().mean().item()
        print(f"epoch {ep + 1}: loss {loss.item():.4f} test accuracy {acc * 100:.2f}% ({ntest} images)")
    if acc < 0.95:
        print("accuracy below 95%", file=sys.stderr)
        return 1
    # one test image of each digit 0..9, in order
    pick = [int(te[(labels[te] == c).nonzero()[0, 0]]) for c in range(10)]
    xs = imgs[pick].contiguous()
    ys = labels[pick]
    yaml_ref.write_safetensors(os.path.join(HERE, "lenet5.safetensors"), state_tensors(model), {"format": "pt"})
    np.save(os.path.join(HERE, "digits_samples.npy"), xs.numpy().astype("<f4"))
    np.save(os.path.join(HERE, "digits_labels.npy"), ys.numpy().astype("<i8"))
    gd = os.path.join(HERE, "lenet5_golden")
    os.makedirs(gd, exist_ok=True)
    with torch.no_grad():
        y = copy.deepcopy(model).double()(xs.double())
    np.save(os.path.join(gd, "x.npy"), xs.numpy().astype("<f4"))
    np.save(os.path.join(gd, "y.npy"), y.numpy().astype("<f8"))
    print(f"samples predicted {y.argmax(1).tolist()} labels {ys.tolist()}")
    with open(os.path.join(HERE, "lenet5.yaml"), "w") as f:
        f.write(lenet5_yaml())
    yr = yaml_ref.run_model(os.path.join(HERE, "lenet5.yaml"), [xs.double().numpy()])[0]
    dd = float(np.abs(yr - y.numpy()).max())
    print(f"yaml_ref on lenet5.yaml: max|d| = {dd:.3g}")
    return 0 if dd <= 1e-12 * max(1.0, float(y.abs().max())) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("yaml")
    g = sub.add_parser("golden")
    g.add_argument("outdir")
    g.add_argument("names", nargs="*")
    g.add_argument("--verify", action="store_true")
    t = sub.add_parser("train")
    t.add_argument("--epochs", type=int, default=20)
    a, rest = ap.parse_known_args()
    if rest and a.cmd == "golden" and not any(r.startswith("-") for r in rest):
        a.names += rest          # names after --verify
    elif rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    return {"yaml": cmd_yaml, "golden": cmd_golden, "train": cmd_train}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
