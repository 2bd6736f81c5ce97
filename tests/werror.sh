#!/bin/bash
# werror.sh CNNC MODEL... - the generated C compiles warning-free as C99 under
# gcc and clang with -Wall -Wextra -Werror, with and without OpenMP, with
# embedded weights and with a weights blob (which is also -pedantic clean; the
# embedded weights are one string literal longer than C99's 4095 minimum).
set -eu
cnnc=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for model in "$@"; do
  name=$(basename "$(dirname "$model")")_$(basename "$model" .yaml)
  "$cnnc" "$model" --name m -o "$tmp/m.c"
  "$cnnc" "$model" --name m --weights-out "$tmp/mw.bin" -o "$tmp/mw.c"
  # A spread of compilers x flags (each compile carries the whole runtime,
  # so not the full cross product).
  gcc -std=c99 -Wall -Wextra -Werror -O2 -c "$tmp/m.c" -o "$tmp/m.o"
  clang -std=c99 -Wall -Wextra -Werror -O1 -march=native -c "$tmp/m.c" -o "$tmp/m2.o"
  gcc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -march=native -fopenmp -c "$tmp/mw.c" -o "$tmp/mw.o"
  clang -std=c99 -Wall -Wextra -Werror -pedantic -O0 -fopenmp -c "$tmp/mw.c" -o "$tmp/mw2.o"
  gcc -std=c99 -Wall -Wextra -Werror -O3 -march=native -c "$tmp/mw.c" -o "$tmp/mw3.o"
  # no mutable globals: the object has no writable data or bss symbols
  if nm "$tmp/m.o" | grep -E ' [BbDd] ' > "$tmp/globals"; then
    echo "$name: mutable globals in the generated object:"; cat "$tmp/globals"; exit 1
  fi
  echo "ok $name"
done
