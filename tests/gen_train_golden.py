#!/usr/bin/python3
"""gen_train_golden.py - PyTorch float64 goldens for the training runtime.

Writes tests/train_golden/ (read by tests/unit_optim.c):

  optim_init.npy          (4, P) row 0 the initial parameter, rows 1..3 the
                          gradient given at steps 1..3
  optim_CASE.npy          (3, P) the parameter after steps 1, 2, 3 of CASE
  optim_CASE_hp.npy       (8,)  [kind, lr, h1, h2, h3, h4, h5, 0]:
                            kind 0 SGD:     h = momentum, dampening, weight_decay, nesterov
                            kind 1 Adam:    h = beta1, beta2, eps, weight_decay
                            kind 2 AdamW:   h = beta1, beta2, eps, weight_decay
                            kind 3 RMSprop: h = alpha, eps, weight_decay, momentum
  loss_K_x.npy / _t.npy   input and target of loss K (ce, nll: int64 class
                          targets; mse, l1: float targets)
  loss_K_value.npy (1,)   the mean-reduced loss;  loss_K_grad.npy  d(loss)/d(x)
  clip_g.npy (10,)        two gradient tensors (6 + 4 values) concatenated;
  clip_out.npy (10,)      after torch.nn.utils.clip_grad_norm_(max_norm);
  clip_hp.npy (2,)        [max_norm, total_norm returned by torch]
  act_x.npy (A,) act_dy.npy (A,)      points (incl. every kink) and cotangent
  act_params.npy (K, 3)   [cnnc RT_ACT_* code, a, b] per activation
  act_grads.npy (K, A)    d/dx of sum(dy * act(x)) by torch autograd
  pool_x.npy              (2, 2, 7, 7) input with many ties (values k/4)
  pool_CASE_hp.npy (9,)   [kind(0 max,1 avg,2 lp), kh, kw, sh, sw, pad, ceil_mode,
                          count_include_pad, norm_type]
  pool_CASE_dy.npy / _dx.npy          cotangent and torch's input gradient
  bn_x.npy (3, 2, 5)      batch norm (training) input as (n, C, HW)
  bn_params.npy (4, 2)    weight, bias, running_mean, running_var (before)
  bn_hp.npy (2,)          [momentum, eps]
  bn_dy.npy, bn_y.npy, bn_dx.npy; bn_out.npy (4, 2): running_mean,
                          running_var after, grad weight, grad bias

Every input is rounded to float32 first, so the C test (float32 kernels)
differs from these float64 results only by its own arithmetic; it compares
at 1e-5 relative to the tensor's largest value.  The RNG is seeded: reruns
give byte-identical files.  Usage: gen_train_golden.py [OUT_DIR]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "train_golden")

torch.manual_seed(7)
np.random.seed(7)
manifest = {}


def f32(a):
    """float32-rounded values, kept as float64"""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def save(name, arr, what):
    arr = np.ascontiguousarray(arr)
    np.save(os.path.join(OUT, name + ".npy"), arr)
    manifest[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "what": what}


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def optim_goldens():
    P = 12
    p0 = f32(np.random.uniform(-2, 2, P))
    p0[3] = 0.0
    grads = f32(np.random.uniform(-1, 1, (3, P)) * np.array([1, 1, 1, 1, 0.01, 0.01, 3, 3, 1, 1, 1, 1]))
    grads[0, 5] = 0.0          # a zero gradient on the first step (Adam/RMSprop: v = 0)
    save("optim_init", np.vstack([p0, grads]), "row 0 initial parameter, rows 1..3 gradients of steps 1..3")
    cases = [
        # name, kind, lr, h1..h5, constructor
        ("sgd_plain", 0, 0.1, (0.0, 0.0, 0.0, 0.0),
         lambda p: torch.optim.SGD([p], lr=0.1)),
        ("sgd_momentum", 0, 0.1, (0.9, 0.1, 0.01, 0.0),
         lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
        ("sgd_nesterov", 0, 0.1, (0.9, 0.0, 0.01, 1.0),
         lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("adam", 1, 0.01, (0.9, 0.999, 1e-8, 0.0),
         lambda p: torch.optim.Adam([p], lr=0.01)),
        ("adam_l2", 1, 0.01, (0.9, 0.999, 1e-8, 0.1),
         lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1)),
        ("adam_betas", 1, 0.05, (0.8, 0.9, 1e-6, 0.0),
         lambda p: torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.9), eps=1e-6)),
        ("adamw", 2, 0.01, (0.9, 0.999, 1e-8, 0.1),
         lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1)),
        ("rmsprop", 3, 0.01, (0.99, 1e-8, 0.0, 0.0),
         lambda p: torch.optim.RMSprop([p], lr=0.01)),
        ("rmsprop_momentum", 3, 0.01, (0.9, 1e-8, 0.01, 0.9),
         lambda p: torch.optim.RMSprop([p], lr=0.01, alpha=0.9, weight_decay=0.01, momentum=0.9)),
    ]
    for name, kind, lr, h, make in cases:
        p = t64(p0, grad=True)
        opt = make(p)
        out = []
        for s in range(3):
            p.grad = t64(grads[s])
            opt.step()
            out.append(p.detach().numpy().copy())
        save("optim_" + name, np.array(out), "parameter after steps 1, 2, 3")
        save("optim_" + name + "_hp", np.array([kind, lr, *h, 0.0, 0.0][:8], dtype=np.float64),
             "[kind, lr, h1..h4, 0, 0] (see the script header)")


def loss_goldens():
    n, C = 4, 5
    x = f32(np.random.uniform(-3, 3, (n, C)))
    tgt = np.array([2, 0, 4, 4], dtype=np.int64)
    logp = f32(F.log_softmax(t64(np.random.uniform(-2, 2, (n, C))), dim=1).numpy())
    y = f32(np.random.uniform(-1, 1, (3, 4)))
    ty = f32(np.random.uniform(-1, 1, (3, 4)))
    ty[1, 2] = y[1, 2]          # l1 at equality: gradient 0 (torch's sgn)
    for name, inp, t, fn in [
            ("ce", x, tgt, lambda a, b: F.cross_entropy(a, torch.tensor(b))),
            ("nll", logp, tgt, lambda a, b: F.nll_loss(a, torch.tensor(b))),
            ("mse", y, ty, lambda a, b: F.mse_loss(a, t64(b))),
            ("l1", y, ty, lambda a, b: F.l1_loss(a, t64(b)))]:
        a = t64(inp, grad=True)
        loss = fn(a, t)
        loss.backward()
        save("loss_%s_x" % name, inp, "input")
        save("loss_%s_t" % name, t, "target")
        save("loss_%s_value" % name, np.array([loss.item()]), "mean-reduced loss")
        save("loss_%s_grad" % name, a.grad.numpy(), "d(loss)/d(input)")


def clip_goldens():
    g = f32(np.random.uniform(-2, 2, 10))
    g1, g2 = t64(g[:6], grad=True), t64(g[6:], grad=True)
    g1.grad, g2.grad = t64(g[:6]), t64(g[6:])
    max_norm = 1.5
    total = torch.nn.utils.clip_grad_norm_([g1, g2], max_norm)
    save("clip_g", g, "gradients of two tensors (6 + 4 values)")
    save("clip_out", np.concatenate([g1.grad.numpy(), g2.grad.numpy()]), "after clip_grad_norm_")
    save("clip_hp", np.array([max_norm, total.item()]), "[max_norm, total norm]")


def act_goldens():
    kinks = [0.0, -3.0, 3.0, -0.5, 0.75, -2.0, 2.0, 6.0]
    x = f32(np.concatenate([kinks, np.random.uniform(-5, 5, 8)]))
    dy = f32(np.random.uniform(-1, 1, x.size))
    # cnnc enum RT_ACT_*: 1 relu 2 leaky 3 clip 4 sigmoid 5 tanh 6 hardswish 7 elu 8 selu 9 gelu 10 hardsigmoid
    acts = [
        (1, 0.0, 0.0, lambda v: F.relu(v)),
        (2, 0.1, 0.0, lambda v: F.leaky_relu(v, 0.1)),
        (3, -0.5, 0.75, lambda v: torch.clamp(v, -0.5, 0.75)),
        (3, 0.0, 6.0, lambda v: torch.clamp(v, 0.0, 6.0)),
        (4, 0.0, 0.0, torch.sigmoid),
        (5, 0.0, 0.0, torch.tanh),
        (6, 0.0, 0.0, F.hardswish),
        (7, 1.3, 0.0, lambda v: F.elu(v, 1.3)),
        (8, 0.0, 0.0, F.selu),
        (9, 0.0, 0.0, F.gelu),
        (10, 1.0 / 6.0, 0.5, F.hardsigmoid),
    ]
    params, grads = [], []
    for code, a, b, fn in acts:
        v = t64(x, grad=True)
        (fn(v) * t64(dy)).sum().backward()
        params.append([code, float(np.float32(a)), b])
        grads.append(v.grad.numpy())
    save("act_x", x, "points, the kinks first")
    save("act_dy", dy, "cotangent")
    save("act_params", np.array(params), "[RT_ACT_* code, a, b] per row")
    save("act_grads", np.array(grads), "torch autograd input gradient per activation")


def pool_goldens():
    x = np.random.randint(0, 4, (2, 2, 7, 7)) / 4.0   # many ties
    save("pool_x", x, "input (values k/4: ties)")
    xp = f32(np.random.uniform(0.1, 1.0, (2, 2, 7, 7)))
    cases = [
        ("max_s2p1_ceil", (0, 3, 3, 2, 2, 1, 1, 1, 2), x,
         lambda v: F.max_pool2d(v, 3, 2, 1, ceil_mode=True)),
        ("max_k2s1", (0, 2, 2, 1, 1, 0, 0, 1, 2), x,
         lambda v: F.max_pool2d(v, 2, 1)),
        ("avg_inc_ceil", (1, 3, 3, 2, 2, 1, 1, 1, 2), x,
         lambda v: F.avg_pool2d(v, 3, 2, 1, ceil_mode=True, count_include_pad=True)),
        ("avg_exc_ceil", (1, 3, 3, 2, 2, 1, 1, 0, 2), x,
         lambda v: F.avg_pool2d(v, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
        ("avg_k2_ceil", (1, 2, 2, 2, 2, 0, 1, 1, 2), x,
         lambda v: F.avg_pool2d(v, 2, 2, 0, ceil_mode=True)),
        ("lp2_ceil", (2, 2, 2, 2, 2, 0, 1, 1, 2), xp,
         lambda v: F.lp_pool2d(v, 2, 2, stride=2, ceil_mode=True)),
        ("lp3_k3s2", (2, 3, 3, 2, 2, 0, 0, 1, 3), xp,
         lambda v: F.lp_pool2d(v, 3, 3, stride=2)),
    ]
    for name, hp, inp, fn in cases:
        v = t64(inp, grad=True)
        y = fn(v)
        dy = f32(np.random.uniform(-1, 1, tuple(y.shape)))
        (y * t64(dy)).sum().backward()
        save("pool_%s_hp" % name, np.array(hp, dtype=np.float64),
             "[kind, kh, kw, sh, sw, pad, ceil_mode, count_include_pad, norm]")
        if inp is xp:
            save("pool_%s_x" % name, inp, "input")
        save("pool_%s_dy" % name, dy, "cotangent")
        save("pool_%s_dx" % name, v.grad.numpy(), "input gradient")


def bn_goldens():
    n, C, HW = 3, 2, 5
    x = f32(np.random.uniform(-2, 3, (n, C, HW)))
    w = f32(np.random.uniform(0.5, 1.5, C))
    b = f32(np.random.uniform(-1, 1, C))
    rm = f32([0.5, -1.0])
    rv = f32([1.0, 2.0])
    mom, eps = 0.3, 1e-5
    dy = f32(np.random.uniform(-1, 1, (n, C, HW)))
    xt, wt, bt = t64(x, True), t64(w, True), t64(b, True)
    rmt, rvt = t64(rm), t64(rv)
    y = F.batch_norm(xt, rmt, rvt, wt, bt, training=True, momentum=mom, eps=eps)
    (y * t64(dy)).sum().backward()
    save("bn_x", x, "input (n, C, HW)")
    save("bn_params", np.vstack([w, b, rm, rv]), "weight, bias, running_mean, running_var before")
    save("bn_hp", np.array([mom, eps]), "[momentum, eps]")
    save("bn_dy", dy, "cotangent")
    save("bn_y", y.detach().numpy(), "output")
    save("bn_dx", xt.grad.numpy(), "input gradient")
    save("bn_out", np.vstack([rmt.numpy(), rvt.numpy(), wt.grad.numpy(), bt.grad.numpy()]),
         "running_mean, running_var after; grad weight, grad bias")


def main():
    os.makedirs(OUT, exist_ok=True)
    optim_goldens()
    loss_goldens()
    clip_goldens()
    act_goldens()
    pool_goldens()
    bn_goldens()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "tests/gen_train_golden.py", "torch": torch.__version__,
                   "files": manifest}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
