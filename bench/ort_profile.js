#!/usr/bin/env node
// ort_profile.js - per-node times of ONNX Runtime (CPU, 1 thread; ORT_THREADS=N for N) for one model,
// to compare with bench/profile.sh layer by layer.
// usage: node bench/ort_profile.js MODEL_DIR [RUNS]
// Per node: the median and the 10th percentile (the fast runs, less hit by a
// noisy host).
// Needs onnxruntime-node under $ORT_DIR (default /tmp/cnnc-peers/ort, made by
// /work/shared/bench/setup.sh).  Prints "median_us op_type node_name" per node
// (median over RUNS runs, default 200) and the sum.
'use strict';
const fs = require('fs');
const path = require('path');
const ORT_DIR = process.env.ORT_DIR || '/tmp/cnnc-peers/ort';
const ort = require(path.join(ORT_DIR, 'node_modules', 'onnxruntime-node'));

(async () => {
  const dir = process.argv[2], runs = +(process.argv[3] || 200);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const b = fs.readFileSync(path.join(dir, meta.input.file));
  const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const prefix = path.join(require('os').tmpdir(), 'ort_profile_' + process.pid);
  const s = await ort.InferenceSession.create(path.join(dir, meta.model), {
    executionProviders: ['cpu'], intraOpNumThreads: +(process.env.ORT_THREADS || 1), interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: prefix });
  const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', x, meta.input.shape) };
  for (let i = 0; i < runs; i++) await s.run(feeds);
  s.endProfiling();
  await s.release();
  const file = fs.readdirSync(path.dirname(prefix)).filter(f => f.startsWith(path.basename(prefix)))
    .map(f => path.join(path.dirname(prefix), f))[0];
  const ev = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.unlinkSync(file);
  const per = new Map();
  for (const e of ev) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!per.has(name)) per.set(name, { op: (e.args && e.args.op_name) || '?', t: [] });
    per.get(name).t.push(e.dur);
  }
  let total = 0, total10 = 0;
  for (const [name, v] of per) {
    const t = v.t.slice(-runs).sort((p, q) => p - q), med = t[t.length >> 1], p10 = t[Math.floor(t.length / 10)];
    total += med;
    total10 += p10;
    console.log(`${med.toFixed(1).padStart(9)} us ${p10.toFixed(1).padStart(9)} us p10  ${v.op.padEnd(22)} ${name}`);
  }
  console.log(`${total.toFixed(1).padStart(9)} us ${total10.toFixed(1).padStart(9)} us p10  sum of node medians`);
})();
