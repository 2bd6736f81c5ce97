#!/usr/bin/python3
"""yaml_ref.py - an independent PyTorch (float64) interpreter of the cnnc YAML format.

A second opinion on SPEC section 1: it reads a model.yaml, expands `blocks:` /
`repeat:`, loads the parameters by their state_dict names from a safetensors
file and evaluates the network with torch.nn.functional in float64.  It is
deliberately strict: unknown keys, unknown ops, missing / extra / mis-shaped
tensors are errors, so a golden file that passes here uses only the format.

YAML is read with PyYAML's BaseLoader (every scalar is a string, like libyaml
events), and scalars are typed here: integers, floats, true/false, strings.
Duplicate mapping keys are rejected.

Usage:
  yaml_ref.py MODEL.yaml --input x.npy [--weights W.safetensors] [--expect y.npy]
              [--tol 1e-12] [--output y.npy]
Also importable: load_safetensors, write_safetensors, run_model, expand_model.
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

# ------------------------------------------------------------ safetensors I/O

_ST_DT = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2"),
          "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}
_ST_NAME = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16",
            np.dtype("<i8"): "I64", np.dtype("<i4"): "I32"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, ndarray) written in that order, contiguous, no holes.

    The header is padded with spaces so the data starts 8-byte aligned, as the
    reference implementation does."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors:
        a = np.array(a, order="C", copy=True)  # keeps 0-d shapes (ascontiguousarray would not)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        a = a.astype(dt, copy=False)
        if np.dtype(dt) not in _ST_NAME:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        b = a.tobytes()
        header[name] = {"dtype": _ST_NAME[np.dtype(dt)], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    """Return {name: ndarray} (original dtype); checks offsets cover the data exactly."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode())
    data = raw[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _ST_DT[info["dtype"]]
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        if e - b != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError(f"{path}: {name}: size does not match shape")
        spans.append((b, e))
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape).copy()
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError(f"{path}: hole or overlap at byte {b}")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return out


# ------------------------------------------------------------------ YAML

class FormatError(Exception):
    pass


def _load_yaml(path):
    import yaml

    class Loader(yaml.BaseLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = {}
        for k, _ in node.value:
            key = loader.construct_scalar(k) if isinstance(k, yaml.ScalarNode) else None
            if key is None:
                raise FormatError(f"{path}:{k.start_mark.line + 1}: non-scalar key")
            if key in seen:
                raise FormatError(f"{path}:{k.start_mark.line + 1}:{k.start_mark.column + 1}: "
                                  f"duplicate key '{key}'")
            seen[key] = 1
        return yaml.BaseLoader.construct_mapping(loader, node, deep=True)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    with open(path) as f:
        text = f.read()
    if re.search(r"(^|[\s\[{,])[&*][A-Za-z0-9_]", text):
        raise FormatError(f"{path}: anchors/aliases are not used by cnnc files")
    return Loader(text).get_single_data()


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def scalar(v):
    """Type a BaseLoader scalar the way the C frontend does."""
    if isinstance(v, list):
        return [scalar(e) for e in v]
    if isinstance(v, dict):
        return {k: scalar(e) for k, e in v.items()}
    if _INT.match(v):
        return int(v)
    if _FLOAT.match(v):
        return float(v)
    if v in ("true", "True"):
        return True
    if v in ("false", "False"):
        return False
    return v


def eval_expr(s, env, where):
    """Integer expression over block parameters: $p, ints, + - * / (integer), parentheses."""
    toks = re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*|\d+|[-+*/()]|\S", s)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        t = peek()
        pos[0] += 1
        return t

    def atom():
        t = take()
        if t is None:
            raise FormatError(f"{where}: bad expression '{s}'")
        if t == "(":
            v = add()
            if take() != ")":
                raise FormatError(f"{where}: missing ')' in '{s}'")
            return v
        if t == "-":
            return -atom()
        if t.startswith("$"):
            if t[1:] not in env:
                raise FormatError(f"{where}: unknown block parameter {t} in '{s}'")
            return env[t[1:]]
        if t.isdigit():
            return int(t)
        raise FormatError(f"{where}: bad token '{t}' in '{s}'")

    def mul():
        v = atom()
        while peek() in ("*", "/"):
            op = take()
            r = atom()
            if op == "*":
                v = v * r
            else:
                if r == 0:
                    raise FormatError(f"{where}: division by zero in '{s}'")
                q = abs(v) // abs(r)  # C semantics: truncate toward zero
                v = q if (v >= 0) == (r >= 0) else -q
        return v

    def add():
        v = mul()
        while peek() in ("+", "-"):
            op = take()
            r = mul()
            v = v + r if op == "+" else v - r
        return v

    v = add()
    if peek() is not None:
        raise FormatError(f"{where}: trailing '{peek()}' in '{s}'")
    return v


def subst(v, env, where):
    if isinstance(v, list):
        return [subst(e, env, where) for e in v]
    if isinstance(v, str) and v.startswith("$"):
        return eval_expr(v, env, where)
    return v


# op -> allowed keys (besides name/op/from), with PyTorch defaults
_CONV = {"out_channels": None, "kernel_size": None, "stride": 1, "padding": 0, "dilation": 1,
         "groups": 1, "bias": True}
_POOL = {"kernel_size": None, "stride": None, "padding": 0, "ceil_mode": False}
OPS = {
    "conv1d": _CONV, "conv2d": _CONV,
    "conv_transpose2d": dict(_CONV, output_padding=0),
    "linear": {"out_features": None, "bias": True},
    "maxpool1d": _POOL, "maxpool2d": _POOL,
    "avgpool1d": dict(_POOL, count_include_pad=True), "avgpool2d": dict(_POOL, count_include_pad=True),
    "lppool2d": {"norm_type": 2, "kernel_size": None, "stride": None},
    "adaptive_avgpool2d": {"output_size": None},
    "global_avgpool": {},
    "batchnorm1d": {"eps": 1e-5, "momentum": 0.1, "affine": True},
    "batchnorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True},
    "layernorm": {"eps": 1e-5, "elementwise_affine": True, "affine": None},
    "instancenorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": False},
    "groupnorm": {"num_groups": None, "eps": 1e-5, "affine": True},
    "relu": {}, "leaky_relu": {"negative_slope": 0.01}, "prelu": {"num_parameters": 1},
    "elu": {"alpha": 1.0}, "selu": {}, "sigmoid": {}, "tanh": {}, "gelu": {},
    "clip": {"min": None, "max": None}, "hardsigmoid": {}, "hardswish": {},
    "dropout": {"p": 0.5},
    "maxout": {"pieces": None},
    "softmax": {"dim": 1}, "log_softmax": {"dim": 1},
    "add": {}, "mul": {}, "concat": {"dim": 1},
    "flatten": {"start_dim": 1}, "reshape": {"shape": None},
    "upsample": {"scale_factor": None, "mode": "nearest"},
}
_MULTI = {"add", "mul", "concat"}
_TOP_KEYS = {"cnnc", "name", "inputs", "weights", "init", "layers", "outputs", "train", "blocks"}


class Layer:
    def __init__(self, name, op, attrs, inputs, where):
        self.name, self.op, self.attrs, self.inputs, self.where = name, op, attrs, inputs, where


def expand_model(doc, path="<yaml>"):
    """Return (inputs [(name, shape)], layers [Layer], outputs [name]) with blocks expanded."""
    doc = doc if isinstance(doc, dict) else {}
    for k in doc:
        if k not in _TOP_KEYS:
            raise FormatError(f"{path}: unknown top-level key '{k}'")
    if scalar(doc.get("cnnc")) != 1:
        raise FormatError(f"{path}: cnnc: 1 required")
    inputs = [(i["name"], scalar(i["shape"])) for i in doc["inputs"]]
    blocks = doc.get("blocks", {})
    out, names = [], set(n for n, _ in inputs)

    def emit(layer):
        if layer.name in names:
            raise FormatError(f"{layer.where}: duplicate layer name '{layer.name}'")
        names.add(layer.name)
        out.append(layer)

    def expand(layers, scope, prefix, env, default_in, where):
        """scope: local name -> global name.  Returns the global name of the last layer."""
        prev = default_in
        for idx, raw in enumerate(layers):
            w = f"{where}: layers[{idx}]"
            if not isinstance(raw, dict):
                raise FormatError(f"{w}: a layer is a mapping")
            src = raw.get("from")
            if src is None:
                ins = [prev]
            else:
                src = src if isinstance(src, list) else [src]
                ins = []
                for s in src:
                    if s not in scope:
                        raise FormatError(f"{w}: from: unknown name '{s}'")
                    ins.append(scope[s])
            if "block" in raw:
                bname = raw["block"]
                if bname not in blocks:
                    raise FormatError(f"{w}: unknown block '{bname}'")
                b = blocks[bname]
                for k in b:
                    if k not in ("params", "inputs", "layers", "output"):
                        raise FormatError(f"{w}: block {bname}: unknown key '{k}'")
                local = raw.get("name")
                if local is None:
                    raise FormatError(f"{w}: a block use needs a name")
                benv = {k: scalar(v) for k, v in (b.get("params") or {}).items()}
                for k, v in raw.items():
                    if k in ("name", "block", "repeat", "from"):
                        continue
                    if k not in benv:
                        raise FormatError(f"{w}: block {bname} has no parameter '{k}'")
                    benv[k] = subst(scalar(v), env, w)
                for k, v in benv.items():
                    if not isinstance(v, int):
                        raise FormatError(f"{w}: block parameter {k} must be an integer")
                bins = b.get("inputs") or ["in"]
                if len(ins) != len(bins):
                    raise FormatError(f"{w}: block {bname} takes {len(bins)} inputs, got {len(ins)}")
                rep = raw.get("repeat")
                n = scalar(rep) if rep is not None else 1
                if rep is not None and len(bins) != 1 and n > 1:
                    raise FormatError(f"{w}: repeat of a multi-input block")
                cur = ins
                for i in range(n):
                    ip = f"{prefix}{local}." + (f"{i}." if rep is not None else "")
                    bscope = dict(zip(bins, cur))
                    last = expand(b["layers"], bscope, ip, benv, cur[0], f"{w} (block {bname})")
                    o = b.get("output")
                    res = bscope[o] if o is not None else last
                    cur = [res]
                scope[local] = cur[0]
                prev = cur[0]
                continue
            op = raw.get("op")
            if op not in OPS:
                raise FormatError(f"{w}: unknown op '{op}'")
            local = raw.get("name", f"{op}{idx}")
            attrs = dict(OPS[op])
            for k, v in raw.items():
                if k in ("name", "op", "from"):
                    continue
                if k not in OPS[op]:
                    raise FormatError(f"{w}: op {op}: unknown key '{k}'")
                attrs[k] = subst(scalar(v), env, w)
            if op in _MULTI and len(ins) < 2:
                raise FormatError(f"{w}: {op} needs a from: list of >= 2 inputs")
            if op not in _MULTI and len(ins) != 1:
                raise FormatError(f"{w}: {op} takes one input")
            g = prefix + local
            emit(Layer(g, op, attrs, ins, f"{w} ({g})"))
            scope[local] = g
            prev = g
        return prev

    top = {n: n for n, _ in inputs}
    last = expand(doc["layers"], top, "", {}, inputs[0][0], path)
    outs = doc.get("outputs")
    if outs is None:
        outs = [last]
    else:
        outs = [top[o] if o in top else o for o in (outs if isinstance(outs, list) else [outs])]
    return inputs, out, outs


# ------------------------------------------------------------ evaluation

def _pair(v, n=2):
    return list(v) if isinstance(v, list) else [v] * n


def run_model(path, xs, weights=None, check_weights=True):
    """Evaluate model `path` on inputs xs (list of float64 arrays); returns list of outputs."""
    import torch
    import torch.nn.functional as F

    doc = _load_yaml(path)
    inputs, layers, outs = expand_model(doc, path)
    if weights is None:
        if "weights" not in doc:
            raise FormatError(f"{path}: no weights given")
        weights = os.path.join(os.path.dirname(path), doc["weights"])
    W = load_safetensors(weights) if isinstance(weights, str) else dict(weights)
    used = set()

    def param(layer, suffix, shape):
        k = f"{layer.name}.{suffix}"
        if k not in W:
            raise FormatError(f"{layer.where}: missing tensor {k}")
        a = W[k]
        if tuple(a.shape) != tuple(shape):
            raise FormatError(f"{layer.where}: {k} has shape {list(a.shape)}, expected {list(shape)}")
        used.add(k)
        return torch.from_numpy(a.astype(np.float64))

    env = {}
    for (n, shape), x in zip(inputs, xs):
        if list(x.shape[1:]) != list(shape):
            raise FormatError(f"{path}: input {n}: shape {list(x.shape)} vs per-sample {shape}")
        env[n] = torch.from_numpy(np.asarray(x, dtype=np.float64))

    for L in layers:
        a = L.attrs
        xs_in = [env[i] for i in L.inputs]
        x = xs_in[0]
        op = L.op
        if op in ("conv1d", "conv2d", "conv_transpose2d"):
            nd = 1 if op == "conv1d" else 2
            k = _pair(a["kernel_size"], nd)
            s, d = _pair(a["stride"], nd), _pair(a["dilation"], nd)
            g, cin, cout = a["groups"], x.shape[1], a["out_channels"]
            if op == "conv_transpose2d":
                w = param(L, "weight", [cin, cout // g] + k)
                b = param(L, "bias", [cout]) if a["bias"] else None
                p = _pair(a["padding"], 2)
                if len(p) != 2:
                    raise FormatError(f"{L.where}: conv_transpose2d padding must be int or [pH, pW]")
                y = F.conv_transpose2d(x, w, b, s, p, _pair(a["output_padding"]), g, d)
            else:
                w = param(L, "weight", [cout, cin // g] + k)
                b = param(L, "bias", [cout]) if a["bias"] else None
                p = a["padding"]
                if p == "valid":
                    p = 0
                if p == "same":
                    pads = []
                    for kk, dd in zip(k, d):
                        t = dd * (kk - 1)
                        pads.append((t // 2, t - t // 2))
                elif p == "causal":
                    if nd != 1:
                        raise FormatError(f"{L.where}: causal padding is 1-D only")
                    pads = [(d[0] * (k[0] - 1), 0)]
                elif isinstance(p, list) and len(p) == 4 and nd == 2:
                    pads = [(p[0], p[2]), (p[1], p[3])]  # [top, left, bottom, right]
                else:
                    pp = _pair(p, nd)
                    if len(pp) != nd:
                        raise FormatError(f"{L.where}: bad padding {p}")
                    pads = [(q, q) for q in pp]
                flat = []
                for lo, hi in reversed(pads):
                    flat += [lo, hi]
                x = F.pad(x, flat)
                y = (F.conv1d if nd == 1 else F.conv2d)(x, w, b, s, 0, d, g)
        elif op == "linear":
            w = param(L, "weight", [a["out_features"], x.shape[-1]])
            b = param(L, "bias", [a["out_features"]]) if a["bias"] else None
            y = F.linear(x, w, b)
        elif op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            st = a["stride"] if a["stride"] is not None else a["kernel_size"]
            fn = {"maxpool1d": F.max_pool1d, "maxpool2d": F.max_pool2d,
                  "avgpool1d": F.avg_pool1d, "avgpool2d": F.avg_pool2d}[op]
            kw = dict(ceil_mode=a["ceil_mode"])
            if op.startswith("avg"):
                kw["count_include_pad"] = a["count_include_pad"]
            y = fn(x, a["kernel_size"], st, a["padding"], **kw)
        elif op == "lppool2d":
            y = F.lp_pool2d(x, a["norm_type"], a["kernel_size"], a["stride"])
        elif op == "adaptive_avgpool2d":
            y = F.adaptive_avg_pool2d(x, a["output_size"])
        elif op == "global_avgpool":
            y = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        elif op in ("batchnorm1d", "batchnorm2d"):
            c = x.shape[1]
            w = param(L, "weight", [c]) if a["affine"] else None
            b = param(L, "bias", [c]) if a["affine"] else None
            y = F.batch_norm(x, param(L, "running_mean", [c]), param(L, "running_var", [c]), w, b,
                             False, 0.0, a["eps"])
            used.add(f"{L.name}.num_batches_tracked")
        elif op == "layernorm":
            aff = a["affine"] if a["affine"] is not None else a["elementwise_affine"]
            ns = list(x.shape[1:])
            w = param(L, "weight", ns) if aff else None
            b = param(L, "bias", ns) if aff else None
            y = F.layer_norm(x, ns, w, b, a["eps"])
        elif op == "instancenorm2d":
            c = x.shape[1]
            w = param(L, "weight", [c]) if a["affine"] else None
            b = param(L, "bias", [c]) if a["affine"] else None
            y = F.instance_norm(x, None, None, w, b, True, 0.0, a["eps"])
        elif op == "groupnorm":
            c = x.shape[1]
            w = param(L, "weight", [c]) if a["affine"] else None
            b = param(L, "bias", [c]) if a["affine"] else None
            y = F.group_norm(x, a["num_groups"], w, b, a["eps"])
        elif op == "relu":
            y = F.relu(x)
        elif op == "leaky_relu":
            y = F.leaky_relu(x, a["negative_slope"])
        elif op == "prelu":
            y = F.prelu(x, param(L, "weight", [a["num_parameters"]]))
        elif op == "elu":
            y = F.elu(x, a["alpha"])
        elif op == "selu":
            y = F.selu(x)
        elif op == "sigmoid":
            y = torch.sigmoid(x)
        elif op == "tanh":
            y = torch.tanh(x)
        elif op == "gelu":
            y = F.gelu(x)
        elif op == "clip":
            y = torch.clamp(x, a["min"], a["max"])
        elif op == "hardsigmoid":
            y = F.hardsigmoid(x)
        elif op == "hardswish":
            y = F.hardswish(x)
        elif op == "dropout":
            y = x
        elif op == "maxout":
            p, c = a["pieces"], x.shape[1]
            if c % p:
                raise FormatError(f"{L.where}: {c} channels not divisible by pieces {p}")
            y = x.reshape(x.shape[0], p, c // p, *x.shape[2:]).max(dim=1).values
        elif op == "softmax":
            y = F.softmax(x, a["dim"])
        elif op == "log_softmax":
            y = F.log_softmax(x, a["dim"])
        elif op == "add":
            y = xs_in[0]
            for t in xs_in[1:]:
                y = y + t
        elif op == "mul":
            y = xs_in[0]
            for t in xs_in[1:]:
                y = y * t
        elif op == "concat":
            y = torch.cat(xs_in, a["dim"])
        elif op == "flatten":
            y = torch.flatten(x, a["start_dim"])
        elif op == "reshape":
            y = x.reshape(x.shape[0], *a["shape"])
        elif op == "upsample":
            if a["mode"] != "nearest":
                raise FormatError(f"{L.where}: upsample mode {a['mode']}")
            sf = a["scale_factor"]
            y = F.interpolate(x, scale_factor=tuple(sf) if isinstance(sf, list) else sf, mode="nearest")
        else:
            raise FormatError(f"{L.where}: op {op} not implemented")
        if op in _MULTI and op != "concat":
            if any(t.shape != xs_in[0].shape for t in xs_in):
                raise FormatError(f"{L.where}: {op} of different shapes")
        env[L.name] = y

    if check_weights:
        extra = [k for k in W if k not in used and not k.endswith(".num_batches_tracked")]
        if extra:
            raise FormatError(f"{path}: tensors not used by any layer: {extra[:8]}")
    return [env[o].numpy() for o in outs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--input", action="append", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--expect")
    ap.add_argument("--output")
    ap.add_argument("--tol", type=float, default=1e-12, help="max|d| <= tol*max(1,max|y|)")
    a = ap.parse_args()
    xs = [np.load(p).astype(np.float64) for p in a.input]
    try:
        y = run_model(a.model, xs, a.weights)[0]
    except FormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.output:
        np.save(a.output, y)
    if a.expect:
        e = np.load(a.expect)
        if e.shape != y.shape:
            print(f"shape mismatch: got {list(y.shape)} expected {list(e.shape)}")
            return 1
        d = float(np.max(np.abs(y - e))) if y.size else 0.0
        lim = a.tol * max(1.0, float(np.max(np.abs(e))) if e.size else 0.0)
        print(f"{a.model}: max|d| = {d:.3g} (limit {lim:.3g}) {'ok' if d <= lim else 'MISMATCH'}")
        return 0 if d <= lim else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
