#!/bin/bash
# gen_bytes.sh OUTDIR - bad inputs that cannot live in git as text
# (BAD-INPUTS A2 and A11): NUL bytes, invalid UTF-8, UTF-16, a huge scalar,
# a node-count bomb and an oversized file.  Each file's expectations are in
# its header or, when the header itself cannot be read as text, in FILE.expect.
set -eu
out=${1:-.}

# A2: a NUL byte in the middle of a line.
{
  echo "# A2: a NUL byte is a reader error, reported with its byte offset."
  echo "# EXPECT: %s:5:16: error: control characters are not allowed (#x0 at byte offset"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'layers: [{op: r\0elu}]\n'
} >"$out/nul_byte.yaml"

# A2: a byte that is not UTF-8 (0xFF).
{
  echo "# A2: invalid UTF-8 is a reader error, reported with its byte offset."
  echo "# EXPECT: %s:5:9: error: invalid leading UTF-8 octet (#xFF at byte offset"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'name: ab\377cd\n'
  echo "layers: [{op: relu}]"
} >"$out/bad_utf8.yaml"

# A2: a model in UTF-16 (with BOM); the header is unreadable as text here.
printf '\377\376' >"$out/utf16.yaml"
printf 'cnnc: 1\ninputs: [{name: x, shape: [4]}]\nlayers: [{op: relu}]\n' | sed 's/./&\x00/g; s/$/\x00/' |
  head -c 200 >>"$out/utf16.yaml"
echo "# EXPECT: %s:1:1: error: the model file is UTF-16; it must be UTF-8" >"$out/utf16.yaml.expect"

# A11: a scalar of 5000 bytes (the cap is 4096).
{
  echo "# A11: a huge scalar is refused at its start."
  echo "# EXPECT: %s:5:7: error: scalar of 5000 bytes is longer than the limit of 4096"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'name: '
  head -c 5000 /dev/zero | tr '\0' 'n'
  echo
  echo "layers: [{op: relu}]"
} >"$out/huge_scalar.yaml"

# A11/G1: 100001 list items (the cap is 100000 nodes).
{
  echo "# A11: too many YAML nodes."
  echo "# EXPECT: error: the model has more than 100000 YAML nodes"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'junk: ['
  head -c 100001 /dev/zero | tr '\0' '0' | sed 's/0/0,/g'
  echo "0]"
  echo "layers: [{op: relu}]"
} >"$out/node_bomb.yaml"

# A11: a file over the 16 MiB cap is refused before it is parsed.
{
  echo "# A11: oversized file."
  echo "# EXPECT: %s:1:1: error: file is too large"
  echo "cnnc: 1"
  head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' ' '
  echo
} >"$out/huge_file.yaml"

# A2: a byte-order mark in the middle of a token is spelt out in the message.
{
  echo "# A2: a BOM inside an op name; the message must show it."
  echo "# EXPECT: %s:5:15: error: unknown op 're<U+FEFF>lu'"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'layers: [{op: re\357\273\277lu}]\n'
} >"$out/bom_inside.yaml"
