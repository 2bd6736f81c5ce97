#!/usr/bin/python3
"""gen_train_model_golden.py - PyTorch float64 references for end-to-end training.

For every case NAME this writes tests/train_model_golden/NAME/:
  model.yaml            the network with a `train:` section (SPEC sections 1 and 4),
                        `weights: weights.safetensors`
  weights.safetensors   the initial state_dict (F32, state_dict names)
  x.npy                 float32 input batch [N, per-sample shape]
  t.npy                 the target: int64 (one case int32) class indices [N] for
                        cross_entropy / nll, float32 shaped like the output for mse / l1
  loss.npy              float64 [3]: the loss of train steps 1, 2, 3 (one batch, reused)
  grads.safetensors     F64: d(loss)/d(param) at step 1 (the initial parameters) for every
                        trainable parameter - the raw gradient, before clip_grad_norm
  params3.safetensors   F64: every parameter and buffer (BN running statistics) after 3
                        optimizer steps (num_batches_tracked excluded)

The truth is a hand-written torch.nn.Module per case with the same layer names,
run in float64 on the float32-rounded initial weights and inputs: model.train(),
then per step zero_grad, forward, loss (mean reduction), backward, optional
clip_grad_norm_, optimizer.step(), scheduler.step().  Frozen layers get
requires_grad = False and stay out of the optimizer (their modules still run in
training mode, so a frozen batch norm still updates its running statistics).
The optimizer, schedule, clipping and freeze settings are written once (a dict
per case) and turned into both the YAML text and the torch objects.

Second opinions, checked on every run (the script exits 1 if one fails):
  - tests/yaml_ref.py (an independent interpreter of the YAML format) evaluates the
    written model.yaml in eval mode on the initial weights; the module in eval mode
    must agree to 1e-12 (catches a YAML text that does not describe the module);
  - the same 3 training steps in float32 torch must agree with the float64 goldens
    to well within the test tolerance 1e-4 * max(1, max|ref|), so float32
    arithmetic (cnnc's) can pass.

Cases are kept clear of exactly-zero-in-theory gradients under Adam/RMSprop (e.g.
a conv bias right before a batch norm has a zero gradient; in float32 it is
rounding noise that Adam would normalise into a full lr-sized step), and of ties
in max pooling.

Everything is seeded: reruns give byte-identical files.
Usage: gen_train_model_golden.py [--out DIR] [--check-only] [NAME ...]
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import yaml_ref  # noqa: E402

STEPS = 3
TOL = 1e-4
CASES = []


def case(shape, batch, loss, opt, sched=None, clip=None, freeze=None, target_dtype="int64", yaml_ref_ok=True,
         ops=""):
    """Register a case; the function returns (yaml layers text, module)."""
    def reg(fn):
        CASES.append(dict(name=fn.__name__, shape=shape, batch=batch, loss=loss, opt=opt, sched=sched,
                          clip=clip, freeze=freeze or [], target_dtype=target_dtype, fn=fn,
                          yaml_ref_ok=yaml_ref_ok, ops=ops))
        return fn
    return reg


# ----------------------------------------------------------------- helpers

def yval(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yval(u) for u in v) + "]"
    return repr(v) if isinstance(v, float) else str(v)


def ymap(d):
    return "{" + ", ".join(f"{k}: {yval(v)}" for k, v in d.items()) + "}"


def train_yaml(c):
    s = f"train:\n  loss: {c['loss']}\n  optimizer: {ymap(c['opt'])}\n"
    if c["freeze"]:
        s += f"  freeze: {yval(c['freeze'])}\n"
    if c["sched"]:
        s += f"  schedule: {ymap(c['sched'])}\n"
    if c["clip"]:
        s += f"  clip_grad_norm: {yval(c['clip'])}\n"
    return s


def make_optimizer(o, params):
    o = dict(o)
    ty, lr = o.pop("type"), o.pop("lr")
    if ty == "sgd":
        return torch.optim.SGD(params, lr=lr, **o)
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    if ty == "adam":
        return torch.optim.Adam(params, lr=lr, **o)
    if ty == "adamw":
        return torch.optim.AdamW(params, lr=lr, **o)
    if ty == "rmsprop":
        o.setdefault("eps", 1e-8)
        return torch.optim.RMSprop(params, lr=lr, **o)
    raise ValueError(ty)


def make_scheduler(s, opt):
    if not s:
        return None
    s = dict(s)
    ty = s.pop("type")
    if ty == "step":
        return torch.optim.lr_scheduler.StepLR(opt, s["step_size"], gamma=s.get("gamma", 0.1))
    if ty == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, s["T_max"], eta_min=s.get("eta_min", 0.0))
    raise ValueError(ty)


def loss_fn(name, y, t):
    if name == "cross_entropy":
        return F.cross_entropy(y, t)
    if name == "nll":
        return F.nll_loss(y, t)
    if name == "mse":
        return F.mse_loss(y, t)
    if name == "l1":
        return F.l1_loss(y, t)
    raise ValueError(name)


def frozen(pname, freeze):
    layer = pname.rsplit(".", 1)[0]
    return any(layer == f or layer.startswith(f + ".") for f in freeze)


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


def maxout(t, p):
    n, ch = t.shape[:2]
    return t.reshape(n, p, ch // p, *t.shape[2:]).max(1).values


def cat_flat(ts):
    return torch.cat([torch.flatten(t, 1) for t in ts], 1)


def feat_size(m, shape):
    with torch.no_grad():
        return m.feat(torch.zeros(1, *shape)).shape[1]


def header(name, shape):
    return (f"cnnc: 1\nname: {name}\ninputs:\n  - {{name: x, shape: {list(shape)}}}\n"
            f"weights: weights.safetensors\n")


# =================================================================== cases

@case([3, 9, 9], batch=3, loss="cross_entropy",
      opt=dict(type="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
      ops="conv2d stride/padding/dilation/groups/depthwise/same/asymmetric/1x1, tanh, elu, sigmoid, linear")
def conv2d_variants():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel_size: 3, stride: 2, padding: 1}
  - {name: a1, op: tanh}
  - {name: c2, op: conv2d, out_channels: 6, kernel_size: 3, dilation: 2, padding: 2, groups: 2}
  - {name: a2, op: elu}
  - {name: dw, op: conv2d, out_channels: 6, kernel_size: 3, groups: 6, padding: same}
  - {name: a3, op: sigmoid}
  - {name: c4, op: conv2d, out_channels: 4, kernel_size: [3, 2], stride: [1, 2], padding: [1, 0, 0, 1]}
  - {name: pw, op: conv2d, out_channels: 5, kernel_size: 1}
  - {name: fl, op: flatten}
  - {name: fc, op: linear, out_features: 5}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(3, 6, 3, stride=2, padding=1)
            s.c2 = nn.Conv2d(6, 6, 3, dilation=2, padding=2, groups=2)
            s.dw = nn.Conv2d(6, 6, 3, groups=6, padding="same")
            s.c4 = nn.Conv2d(6, 4, (3, 2), stride=(1, 2))
            s.pw = nn.Conv2d(4, 5, 1)
            s.fc = nn.Linear(5 * 4 * 3, 5)

        def forward(s, x):
            x = F.elu(s.c2(torch.tanh(s.c1(x))))
            x = torch.sigmoid(s.dw(x))
            x = s.c4(F.pad(x, (0, 1, 1, 0)))       # [top, left, bottom, right] = [1, 0, 0, 1]
            return s.fc(torch.flatten(s.pw(x), 1))
    return y, M()


@case([4, 20], batch=3, loss="l1", opt=dict(type="adamw", lr=0.01, weight_decay=0.1),
      ops="conv1d causal/dilation/stride/groups, leaky_relu, gelu, batchnorm1d (N,C,L), maxpool1d ceil, "
          "avgpool1d ceil, global_avgpool 1-D, linear; l1; adamw")
def conv1d_pool1d():
    y = """layers:
  - {name: c1, op: conv1d, out_channels: 6, kernel_size: 3, dilation: 2, padding: causal}
  - {name: a1, op: leaky_relu, negative_slope: 0.2}
  - {name: c2, op: conv1d, out_channels: 6, kernel_size: 3, stride: 2, padding: 1, groups: 3, bias: false}
  - {name: bn, op: batchnorm1d, momentum: 0.3}
  - {name: a2, op: gelu}
  - {name: mp, op: maxpool1d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
  - {name: ap, op: avgpool1d, kernel_size: 2, ceil_mode: true, count_include_pad: false, from: a2}
  - {name: gp, op: global_avgpool, from: a2}
  - {name: f1, op: flatten, from: mp}
  - {name: f2, op: flatten, from: ap}
  - {name: f3, op: flatten, from: gp}
  - {name: cat, op: concat, from: [f1, f2, f3]}
  - {name: fc, op: linear, out_features: 4}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv1d(4, 6, 3, dilation=2)
            s.c2 = nn.Conv1d(6, 6, 3, stride=2, padding=1, groups=3, bias=False)
            s.bn = nn.BatchNorm1d(6, momentum=0.3)
            s.fc = nn.Linear(feat_size(s, [4, 20]), 4)

        def feat(s, x):
            x = F.leaky_relu(s.c1(F.pad(x, (4, 0))), 0.2)
            x = F.gelu(s.bn(s.c2(x)))                             # length 10
            mp = F.max_pool1d(x, 3, 2, 1, ceil_mode=True)          # 6
            ap = F.avg_pool1d(x, 2, ceil_mode=True, count_include_pad=False)   # 5
            gp = x.mean(2, keepdim=True)
            return cat_flat([mp, ap, gp])

        def forward(s, x):
            return s.fc(s.feat(x))
    return y, M()


@case([4, 4, 4], batch=2, loss="mse",
      opt=dict(type="adam", lr=0.01, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.05), clip=0.05,
      ops="conv_transpose2d stride/padding/output_padding/groups/dilation, instancenorm2d affine, relu; "
          "mse; adam (L2, betas, eps); clip_grad_norm")
def conv_transpose():
    y = """layers:
  - {name: ct1, op: conv_transpose2d, out_channels: 6, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 2, bias: false}
  - {name: in1, op: instancenorm2d, affine: true}
  - {name: a1, op: relu}
  - {name: ct2, op: conv_transpose2d, out_channels: 3, kernel_size: 2, dilation: 2}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.ct1 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False)
            s.in1 = nn.InstanceNorm2d(6, affine=True)
            s.ct2 = nn.ConvTranspose2d(6, 3, 2, dilation=2)

        def forward(s, x):
            return s.ct2(F.relu(s.in1(s.ct1(x))))
    return y, M()


@case([3, 12, 11], batch=2, loss="cross_entropy",
      opt=dict(type="rmsprop", lr=0.002, alpha=0.9, momentum=0.5, weight_decay=0.01),
      ops="maxpool2d pad/ceil, avgpool2d ceil/count_include_pad=false, avgpool2d pad, lppool2d p=2 and p=3, "
          "adaptive_avgpool2d (uneven bins), global_avgpool; rmsprop with momentum", yaml_ref_ok=False)
def pools2d():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: mp, op: maxpool2d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, from: c1}
  - {name: ap, op: avgpool2d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false, from: c1}
  - {name: ap2, op: avgpool2d, kernel_size: 2, padding: 1, from: c1}
  - {name: lp, op: lppool2d, norm_type: 2, kernel_size: 2, from: c1}
  - {name: sg, op: sigmoid, from: c1}
  - {name: lp3, op: lppool2d, norm_type: 3, kernel_size: 3, stride: 2, ceil_mode: true, from: sg}
  - {name: aa, op: adaptive_avgpool2d, output_size: [3, 4], from: c1}
  - {name: gp, op: global_avgpool, from: c1}
  - {name: f1, op: flatten, from: mp}
  - {name: f2, op: flatten, from: ap}
  - {name: f3, op: flatten, from: ap2}
  - {name: f4, op: flatten, from: lp}
  - {name: f5, op: flatten, from: lp3}
  - {name: f6, op: flatten, from: aa}
  - {name: f7, op: flatten, from: gp}
  - {name: cat, op: concat, from: [f1, f2, f3, f4, f5, f6, f7]}
  - {name: fc, op: linear, out_features: 5}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(3, 4, 3, padding=1)
            s.fc = nn.Linear(feat_size(s, [3, 12, 11]), 5)

        def feat(s, x):
            c = s.c1(x)                                                         # 12x11
            mp = F.max_pool2d(c, 3, 2, 1, ceil_mode=True)                       # 7x6, partial last row
            ap = F.avg_pool2d(c, 3, 2, 1, ceil_mode=True, count_include_pad=False)   # 7x6
            ap2 = F.avg_pool2d(c, 2, padding=1)                                 # 7x6
            lp = F.lp_pool2d(c, 2, 2)                                           # 6x5
            lp3 = F.lp_pool2d(torch.sigmoid(c), 3, 3, 2, ceil_mode=True)        # 6x5, partial last row
            aa = F.adaptive_avg_pool2d(c, (3, 4))                               # uneven bins along W
            gp = c.mean((2, 3), keepdim=True)
            return cat_flat([mp, ap, ap2, lp, lp3, aa, gp])

        def forward(s, x):
            return s.fc(s.feat(x))
    return y, M()


@case([4, 6, 6], batch=4, loss="cross_entropy",
      opt=dict(type="sgd", lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.001),
      sched=dict(type="step", step_size=2, gamma=0.5),
      ops="batchnorm2d (eps, momentum), groupnorm, instancenorm2d affine, layernorm, batchnorm1d (N,C), "
          "relu, elu, tanh, gelu; sgd momentum+dampening; step schedule")
def norms():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {name: bn, op: batchnorm2d, eps: 0.001, momentum: 0.2}
  - {name: a1, op: relu}
  - {name: c2, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: gn, op: groupnorm, num_groups: 4}
  - {name: a2, op: elu}
  - {name: c3, op: conv2d, out_channels: 4, kernel_size: 1}
  - {name: inorm, op: instancenorm2d, affine: true}
  - {name: a3, op: tanh}
  - {name: ln, op: layernorm}
  - {name: fl, op: flatten}
  - {name: fc1, op: linear, out_features: 16}
  - {name: bn1d, op: batchnorm1d}
  - {name: a4, op: gelu}
  - {name: fc2, op: linear, out_features: 3}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(4, 8, 3, padding=1, bias=False)
            s.bn = nn.BatchNorm2d(8, eps=1e-3, momentum=0.2)
            s.c2 = nn.Conv2d(8, 8, 3, padding=1)
            s.gn = nn.GroupNorm(4, 8)
            s.c3 = nn.Conv2d(8, 4, 1)
            s.inorm = nn.InstanceNorm2d(4, affine=True)
            s.ln = nn.LayerNorm([4, 6, 6])
            s.fc1 = nn.Linear(144, 16)
            s.bn1d = nn.BatchNorm1d(16)
            s.fc2 = nn.Linear(16, 3)

        def forward(s, x):
            x = F.relu(s.bn(s.c1(x)))
            x = F.elu(s.gn(s.c2(x)))
            x = torch.tanh(s.inorm(s.c3(x)))
            x = torch.flatten(s.ln(x), 1)
            return s.fc2(F.gelu(s.bn1d(s.fc1(x))))
    return y, M()


@case([3, 5, 5], batch=3, loss="cross_entropy", opt=dict(type="adam", lr=0.01), target_dtype="int32",
      ops="relu, leaky_relu, prelu (1 and per-channel), elu alpha, selu, sigmoid, tanh, gelu, maxout, "
          "dropout p=0, hardsigmoid, hardswish, clip; adam; int32 targets")
def activations():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: r, op: relu, from: c1}
  - {name: lr, op: leaky_relu, negative_slope: 0.1, from: c1}
  - {name: p1, op: prelu, from: c1}
  - {name: p8, op: prelu, num_parameters: 8, from: c1}
  - {name: e, op: elu, alpha: 0.7, from: c1}
  - {name: se, op: selu, from: c1}
  - {name: sg, op: sigmoid, from: c1}
  - {name: th, op: tanh, from: c1}
  - {name: ge, op: gelu, from: c1}
  - {name: mo, op: maxout, pieces: 2, from: c1}
  - {name: dr, op: dropout, p: 0.0, from: c1}
  - {name: hs, op: hardsigmoid, from: c1}
  - {name: hw, op: hardswish, from: c1}
  - {name: cl, op: clip, min: -0.3, max: 0.4, from: c1}
  - {name: cat, op: concat, from: [r, lr, p1, p8, e, se, sg, th, ge, mo, dr, hs, hw, cl]}
  - {name: c2, op: conv2d, out_channels: 2, kernel_size: 1}
  - {name: fl, op: flatten}
  - {name: fc, op: linear, out_features: 4}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(3, 8, 3, padding=1)
            s.p1 = nn.PReLU()
            s.p8 = nn.PReLU(8)
            s.c2 = nn.Conv2d(8 * 13 + 4, 2, 1)
            s.fc = nn.Linear(50, 4)
            with torch.no_grad():
                s.c1.weight.mul_(4.0)    # spread the values over the knees of the hard activations

        def forward(s, x):
            c = s.c1(x)
            t = torch.cat([F.relu(c), F.leaky_relu(c, 0.1), s.p1(c), s.p8(c), F.elu(c, 0.7), F.selu(c),
                           torch.sigmoid(c), torch.tanh(c), F.gelu(c), maxout(c, 2), F.dropout(c, 0.0),
                           F.hardsigmoid(c), F.hardswish(c), torch.clamp(c, -0.3, 0.4)], 1)
            return s.fc(torch.flatten(s.c2(t), 1))
    return y, M()


@case([10], batch=4, loss="nll", opt=dict(type="sgd", lr=0.5),
      sched=dict(type="cosine", T_max=2, eta_min=0.05),
      ops="linear, softmax, log_softmax, nll; plain sgd; cosine schedule (lr 0.5, 0.275, 0.05)")
def softmax_nll():
    y = """layers:
  - {name: fc1, op: linear, out_features: 12}
  - {name: sm, op: softmax}
  - {name: fc2, op: linear, out_features: 5}
  - {name: ls, op: log_softmax}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc1 = nn.Linear(10, 12)
            s.fc2 = nn.Linear(12, 5)
            with torch.no_grad():
                s.fc1.weight.mul_(3.0)

        def forward(s, x):
            return F.log_softmax(s.fc2(F.softmax(s.fc1(x), 1)), 1)
    return y, M()


@case([2, 4, 4], batch=2, loss="mse", opt=dict(type="sgd", lr=0.1, momentum=0.8), clip=0.5,
      ops="add (2 and 3 inputs, a repeated input), mul, concat, upsample (2 and [1, 2]), reshape, "
          "flatten, conv1d after reshape; mse; sgd momentum; clip_grad_norm")
def multi_input():
    y = """layers:
  - {name: a, op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: b, op: conv2d, out_channels: 4, kernel_size: 1, from: x}
  - {name: s, op: add, from: [a, b]}
  - {name: sg, op: sigmoid, from: b}
  - {name: m, op: mul, from: [a, sg]}
  - {name: s3, op: add, from: [s, m, s]}
  - {name: cat, op: concat, from: [s3, m]}
  - {name: up, op: upsample, scale_factor: 2}
  - {name: c, op: conv2d, out_channels: 2, kernel_size: 3, stride: 2, padding: 1}
  - {name: up2, op: upsample, scale_factor: [1, 2]}
  - {name: r, op: reshape, shape: [4, 16]}
  - {name: c1d, op: conv1d, out_channels: 3, kernel_size: 3}
  - {name: fl, op: flatten}
  - {name: fc, op: linear, out_features: 6}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.a = nn.Conv2d(2, 4, 3, padding=1)
            s.b = nn.Conv2d(2, 4, 1)
            s.c = nn.Conv2d(8, 2, 3, stride=2, padding=1)
            s.c1d = nn.Conv1d(4, 3, 3)
            s.fc = nn.Linear(42, 6)

        def forward(s, x):
            a, b = s.a(x), s.b(x)
            sm = a + b
            m = a * torch.sigmoid(b)
            s3 = sm + m + sm
            t = F.interpolate(torch.cat([s3, m], 1), scale_factor=2, mode="nearest")
            t = F.interpolate(s.c(t), scale_factor=(1, 2), mode="nearest")     # [2, 4, 8]
            t = s.c1d(t.reshape(t.shape[0], 4, 16))
            return s.fc(torch.flatten(t, 1))
    return y, M()


class Unit(nn.Module):
    def __init__(s, cin, ch):
        super().__init__()
        s.conv = nn.Conv2d(cin, ch, 3, padding=1, bias=False)
        s.bn = nn.BatchNorm2d(ch)

    def forward(s, x):
        return F.relu(s.bn(s.conv(x)))


@case([3, 8, 8], batch=2, loss="cross_entropy", opt=dict(type="adam", lr=0.01),
      freeze=["stem", "mid"], sched=dict(type="step", step_size=1, gamma=0.3),
      ops="blocks + repeat; freeze a block prefix (stem.*) and a middle layer (gradient flows through "
          "it); frozen BN still updates running stats; adam; step schedule")
def freeze_blocks():
    y = """blocks:
  unit:
    params: {ch: 4}
    layers:
      - {name: conv, op: conv2d, out_channels: $ch, kernel_size: 3, padding: 1, bias: false}
      - {name: bn, op: batchnorm2d}
      - {name: act, op: relu}
layers:
  - {name: stem, block: unit, repeat: 2, ch: 4}
  - {name: pre, op: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  - {name: mid, op: conv2d, out_channels: 6, kernel_size: 3, stride: 2}
  - {name: body, block: unit, ch: 6}
  - {name: gp, op: global_avgpool}
  - {name: fl, op: flatten}
  - {name: fc, op: linear, out_features: 3}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Sequential(Unit(3, 4), Unit(4, 4))
            s.pre = nn.Conv2d(4, 6, 3, padding=1)
            s.mid = nn.Conv2d(6, 6, 3, stride=2)
            s.body = Unit(6, 6)
            s.fc = nn.Linear(6, 3)

        def forward(s, x):
            x = s.body(s.mid(s.pre(s.stem(x))))
            return s.fc(torch.flatten(x.mean((2, 3), keepdim=True), 1))
    return y, M()


@case([3, 5, 6], batch=3, loss="mse", opt=dict(type="rmsprop", lr=0.001),
      ops="pad (constant value, reflect, edge), transpose, mean (dims, keepdim); plain rmsprop",
      yaml_ref_ok=False)
def layout_extras():
    y = """layers:
  - {name: c1, op: conv2d, out_channels: 4, kernel_size: 3}
  - {name: p1, op: pad, pads: [1, 2, 0, 1], value: 0.5}
  - {name: p2, op: pad, pads: [1, 1, 0, 2], mode: reflect, from: c1}
  - {name: p3, op: pad, pads: [0, 3, 1, 0], mode: edge, from: c1}
  - {name: cat, op: concat, from: [p1, p2, p3]}
  - {name: tr, op: transpose, perm: [0, 1, 3, 2]}
  - {name: c2, op: conv2d, out_channels: 2, kernel_size: [3, 2]}
  - {name: mn, op: mean, dims: [3]}
  - {name: m2, op: mean, dims: [-1], keepdim: true, from: c2}
  - {name: f1, op: flatten, from: mn}
  - {name: f2, op: flatten, from: m2}
  - {name: out, op: concat, from: [f1, f2]}
"""

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.c1 = nn.Conv2d(3, 4, 3)
            s.c2 = nn.Conv2d(12, 2, (3, 2))

        def forward(s, x):
            c = s.c1(x)                                                        # [4, 3, 4]
            p1 = F.pad(c, (2, 1, 1, 0), value=0.5)                             # [4, 4, 7]
            p2 = F.pad(c, (1, 2, 1, 0), mode="reflect")                        # [4, 4, 7]
            p3 = F.pad(c, (3, 0, 0, 1), mode="replicate")                      # [4, 4, 7]
            t = torch.cat([p1, p2, p3], 1).transpose(2, 3)                     # [12, 7, 4]
            c2 = s.c2(t)
            return torch.cat([torch.flatten(c2.mean(3), 1), torch.flatten(c2.mean(-1, keepdim=True), 1)], 1)
    return y, M()


# ================================================================== driver

def st_arrays(model, dtype):
    return [(k, v.detach().numpy().astype(dtype)) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def train(model, x, t, c):
    """3 training steps; returns losses, step-1 grads {name: array}, final state {name: array}."""
    named = list(model.named_parameters())
    for n, p in named:
        p.requires_grad_(not frozen(n, c["freeze"]))
    params = [p for n, p in named if p.requires_grad]
    opt = make_optimizer(c["opt"], params)
    sch = make_scheduler(c["sched"], opt)
    model.train()
    losses, grads1 = [], None
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(c["loss"], model(x), t)
        loss.backward()
        if s == 0:
            grads1 = [(n, p.grad.detach().numpy().copy()) for n, p in named if p.requires_grad]
            missing = [n for n, p in named if p.requires_grad and p.grad is None]
            assert not missing, missing
        if c["clip"]:
            torch.nn.utils.clip_grad_norm_(params, c["clip"])
        opt.step()
        if sch:
            sch.step()
        losses.append(loss.item())
    return np.array(losses), grads1, st_arrays(model, np.float64)


def gen_case(c, idx, root, check_only):
    name = c["name"]
    torch.manual_seed(3000 + idx)
    text, model = c["fn"]()
    randomize(model)
    # float32-rounded initial state, then the float64 twin
    w32 = st_arrays(model, np.float32)
    g = torch.Generator().manual_seed(4000 + idx)
    x = torch.randn(c["batch"], *c["shape"], generator=g, dtype=torch.float32)
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        for k, v in m64.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                v.copy_(torch.from_numpy(dict(w32)[k].astype(np.float64)))
    with torch.no_grad():
        y0 = m64.eval()(x.double())
    if c["loss"] in ("cross_entropy", "nll"):
        t = torch.randint(0, y0.shape[1], (c["batch"],), generator=g)
        t_np = t.numpy().astype("<i4" if c["target_dtype"] == "int32" else "<i8")
        t64 = t32 = t
    else:
        t_np = torch.randn(y0.shape, generator=g, dtype=torch.float32).numpy()
        t32 = torch.from_numpy(t_np)
        t64 = t32.double()
    m32 = copy.deepcopy(m64).float()
    losses, grads, params3 = train(m64, x.double(), t64, c)
    l32, g32, p32 = train(m32, x, t32, c)

    d = os.path.join(root, name)
    yml = header(name, c["shape"]) + text + train_yaml(c)
    if not check_only:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.yaml"), "w") as f:
            f.write(yml)
        yaml_ref.write_safetensors(os.path.join(d, "weights.safetensors"), w32)
        np.save(os.path.join(d, "x.npy"), x.numpy().astype("<f4"))
        np.save(os.path.join(d, "t.npy"), t_np)
        np.save(os.path.join(d, "loss.npy"), losses.astype("<f8"))
        yaml_ref.write_safetensors(os.path.join(d, "grads.safetensors"), grads)
        yaml_ref.write_safetensors(os.path.join(d, "params3.safetensors"), params3)

    # second opinion 1: the YAML text (eval mode) against the module (eval mode)
    ok, notes = True, []
    if c["yaml_ref_ok"]:
        yr = yaml_ref.run_model(os.path.join(d, "model.yaml"), [x.numpy().astype(np.float64)])[0]
        dref = float(np.abs(yr - y0.numpy()).max()) if yr.shape == tuple(y0.shape) else float("inf")
        ok &= dref <= 1e-12 * max(1.0, float(np.abs(y0.numpy()).max()))
        notes.append(f"yaml_ref={dref:.1e}")
    # second opinion 2: float32 torch is within the test tolerance of the float64 goldens
    worst = 0.0
    for ref, got in [([("loss", losses)], [("loss", l32)]), (grads, g32), (params3, p32)]:
        got = dict(got)
        for k, r in ref:
            err = float(np.abs(got[k].astype(np.float64) - r).max()) / max(1.0, float(np.abs(r).max()))
            worst = max(worst, err)
    ok &= worst <= 0.1 * TOL
    notes.append(f"fp32 torch rel={worst:.1e}")
    # trainable parameters really move, frozen ones do not
    p0, p3 = dict(w32), dict(params3)
    gnames = {k for k, _ in grads}
    for k in p0:
        moved = not np.array_equal(p0[k].astype(np.float64), p3[k])
        is_buf = k.endswith("running_mean") or k.endswith("running_var")
        if (k in gnames or is_buf) != moved:
            ok = False
            notes.append(f"{k}: moved={moved}")
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) if os.path.isdir(d) else 0
    print(f"{name:16s} x={list(x.shape)} y={list(y0.shape)} losses={' '.join(f'{v:.4f}' for v in losses)} "
          f"{' '.join(notes)} bytes={size} {'ok' if ok else 'FAIL'}")
    return ok, size, yml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "train_model_golden"))
    ap.add_argument("--check-only", action="store_true", help="recompute and compare, write nothing")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    bad, total = [], 0
    index = []
    for idx, c in enumerate(CASES):
        if a.names and c["name"] not in a.names:
            continue
        ok, size, _ = gen_case(c, idx, a.out, a.check_only)
        total += size
        if not ok:
            bad.append(c["name"])
        index.append({"name": c["name"], "loss": c["loss"], "optimizer": c["opt"], "schedule": c["sched"],
                      "clip_grad_norm": c["clip"], "freeze": c["freeze"], "covers": c["ops"]})
    if not a.check_only and not a.names:
        with open(os.path.join(a.out, "cases.json"), "w") as f:
            json.dump({"generator": "tests/gen_train_model_golden.py", "torch": torch.__version__,
                       "steps": STEPS, "cases": index}, f, indent=1)
            f.write("\n")
    print(f"{len(index)} cases, {total} bytes" + (f"; FAILED: {' '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
