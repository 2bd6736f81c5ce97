# tests.cmake - ctest registration (included from CMakeLists.txt).
file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} cnnc_lib cnnc_rt)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  # the compiler never frees its arena-style memory: leaks are by design
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endforeach()

# unit_fastconv pastes the runtime sources in: built again for this CPU
# (AVX-512 kernels, as generated code compiled with -march=native runs them)
# and with OpenMP, so its 1-vs-2-thread bit checks run too.
if(CNNC_NATIVE)
  find_package(OpenMP COMPONENTS C)
  add_executable(unit_fastconv_native ${CMAKE_SOURCE_DIR}/tests/unit_fastconv.c)
  target_compile_options(unit_fastconv_native PRIVATE -O2 -march=native)
  # tiny parallel thresholds: the 1-vs-2-thread checks run every parallel loop
  target_compile_definitions(unit_fastconv_native PRIVATE RT_PAR_MIN_WORK=64 RT_PAR_MIN_ELEMS=64)
  target_link_libraries(unit_fastconv_native cnnc_lib cnnc_rt)
  if(OpenMP_C_FOUND)
    target_link_libraries(unit_fastconv_native OpenMP::OpenMP_C)
  endif()
  add_test(NAME unit_fastconv_native COMMAND unit_fastconv_native WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(unit_fastconv_native PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  # and the AVX2+FMA kernels (what generated code runs on CPUs without
  # AVX-512), so an AVX-512 machine tests them too; skipped where the CPU
  # cannot run AVX2
  include(CheckCSourceRuns)
  set(CMAKE_REQUIRED_FLAGS "-mavx2 -mfma")
  check_c_source_runs("#include <immintrin.h>
int main(void) { volatile float f = 2.0f; __m256 v = _mm256_fmadd_ps(_mm256_set1_ps(f), _mm256_set1_ps(f), _mm256_set1_ps(f));
  return !__builtin_cpu_supports(\"avx2\") || !__builtin_cpu_supports(\"fma\") || _mm256_cvtss_f32(v) != 6.0f; }" CNNC_HAVE_AVX2)
  unset(CMAKE_REQUIRED_FLAGS)
  if(CNNC_HAVE_AVX2)
    add_executable(unit_fastconv_avx2 ${CMAKE_SOURCE_DIR}/tests/unit_fastconv.c)
    target_compile_options(unit_fastconv_avx2 PRIVATE -O2 -mavx2 -mfma)
    target_compile_definitions(unit_fastconv_avx2 PRIVATE RT_PAR_MIN_WORK=64 RT_PAR_MIN_ELEMS=64)
    target_link_libraries(unit_fastconv_avx2 cnnc_lib cnnc_rt)
    if(OpenMP_C_FOUND)
      target_link_libraries(unit_fastconv_avx2 OpenMP::OpenMP_C)
    endif()
    add_test(NAME unit_fastconv_avx2 COMMAND unit_fastconv_avx2 WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(unit_fastconv_avx2 PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
endif()

# Diagnostics: each tests/diag/*.yaml is a bad model with `# EXPECT:` lines.
add_test(NAME diag COMMAND bash ${CMAKE_SOURCE_DIR}/tests/run_diag.sh ${CMAKE_SOURCE_DIR}/tests/diag $<TARGET_FILE:cnnc>)

# IR golden tests of the passes: tests/passes/*.yaml hold the model, the
# flags and the expected dump after one pass.
add_test(NAME passes COMMAND bash ${CMAKE_SOURCE_DIR}/tests/run_passes.sh $<TARGET_FILE:cnnc> ${CMAKE_SOURCE_DIR}/tests/passes)

# End-to-end golden tests: every tests/golden/NAME/ holds model.yaml,
# weights.safetensors, x.npy and y.npy (written by tests/gen_golden.py).
file(GLOB GOLDEN_DIRS LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/golden/*)
foreach(dir ${GOLDEN_DIRS})
  if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/model.yaml)
    get_filename_component(name ${dir} NAME)
    add_test(NAME golden_${name}
             COMMAND cnnc check ${dir}/model.yaml --input ${dir}/x.npy --expect ${dir}/y.npy)
    # The unoptimized graph (no folding, fusion or in-place) must agree too:
    # together these are the folded-vs-unfolded numeric check of the passes.
    add_test(NAME golden_O0_${name}
             COMMAND cnnc check -O0 ${dir}/model.yaml --input ${dir}/x.npy --expect ${dir}/y.npy)
    # the generated code traps if a max pool's row-vector form was left out
    # of the RT_POOL_RV_USE cnnc wrote
    set_tests_properties(golden_${name} golden_O0_${name} PROPERTIES ENVIRONMENT CNNC_EXTRA_CFLAGS=-DRT_POOL_RV_CHECK)
  endif()
endforeach()

# Example networks against PyTorch float64: the weights of the big models are
# never committed; a fixture generates them (needs /usr/bin/python3 with torch,
# which .ci/run installs).  vgg11 and alexnet are large (0.5 GB of weights).
set(EXAMPLE_GOLDEN ${CMAKE_BINARY_DIR}/example_golden)
add_test(NAME examples_generate
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/examples/gen_examples.py golden ${EXAMPLE_GOLDEN}
                 lenet5 inception resnet18 mobilenet_v2 unet tdnn alexnet)
set_tests_properties(examples_generate PROPERTIES FIXTURES_SETUP example_golden TIMEOUT 900)
foreach(ex lenet5 inception resnet18 mobilenet_v2 unet tdnn alexnet)
  add_test(NAME example_${ex}
           COMMAND cnnc check ${EXAMPLE_GOLDEN}/${ex}/model.yaml --input ${EXAMPLE_GOLDEN}/${ex}/x.npy
                   --expect ${EXAMPLE_GOLDEN}/${ex}/y.npy)
  set_tests_properties(example_${ex} PROPERTIES FIXTURES_REQUIRED example_golden TIMEOUT 600
                       ENVIRONMENT CNNC_EXTRA_CFLAGS=-DRT_POOL_RV_CHECK)
endforeach()
# The bundled trained LeNet-5 and its committed golden.
add_test(NAME example_lenet5_bundled
         COMMAND cnnc check ${CMAKE_SOURCE_DIR}/examples/lenet5.yaml --input ${CMAKE_SOURCE_DIR}/examples/lenet5_golden/x.npy
                 --expect ${CMAKE_SOURCE_DIR}/examples/lenet5_golden/y.npy)

# Determinism: the same bits for 1 and 2 OpenMP threads.
foreach(ex resnet_blocks inception_blocks conv_transpose depthwise_separable conv_variants pools pw_dw_bands
           conv_pool_stems)
  add_test(NAME threads_${ex} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/threads_det.sh $<TARGET_FILE:cnnc>
           ${CMAKE_SOURCE_DIR}/tests/golden/${ex}/model.yaml ${CMAKE_SOURCE_DIR}/tests/golden/${ex}/x.npy)
endforeach()
# GEMM convs split by rows of pixels (1x1 at any column offset, with the dot-kernel tail; im2col by panels)
add_test(NAME threads_pixels COMMAND bash ${CMAKE_SOURCE_DIR}/tests/threads_det.sh $<TARGET_FILE:cnnc>
         ${CMAKE_SOURCE_DIR}/tests/threads/pixels.yaml ${CMAKE_SOURCE_DIR}/tests/threads/pixels_x.npy
         --algo pw1=gemm1x1 --algo pw2=gemm1x1 --algo c3=im2col --algo w4=winograd2 --algo w5=winograd)

# The generated C compiles warning-free (gcc + clang, -std=c99 -Wall -Wextra -Werror) and has no mutable globals;
# MobileNetV2 and ResNet-18 bring the depthwise, fused 1x1+depthwise, implicit-GEMM and pool kernels in (gcc's
# -Waggressive-loop-optimizations once fired on the flat max pool under -march=native, and on the 16-plane one,
# which conv_pool_stems brings in, at -O3).
add_test(NAME generated_c_werror
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/werror.sh $<TARGET_FILE:cnnc> ${CMAKE_SOURCE_DIR}/examples/lenet5.yaml
                 ${CMAKE_SOURCE_DIR}/examples/tdnn.yaml ${CMAKE_SOURCE_DIR}/tests/golden/activations2/model.yaml
                 ${CMAKE_SOURCE_DIR}/tests/passes/autodiff.yaml ${CMAKE_SOURCE_DIR}/examples/mobilenet_v2.yaml
                 ${CMAKE_SOURCE_DIR}/examples/resnet18.yaml ${CMAKE_SOURCE_DIR}/tests/golden/conv_pool_stems/model.yaml)

# bench/ab.sh (same-process A/B): identical builds agree bit for bit, 1 vs 2 threads included.
add_test(NAME bench_ab COMMAND bash ${CMAKE_SOURCE_DIR}/tests/bench_ab.sh $<TARGET_FILE:cnnc>
         ${CMAKE_SOURCE_DIR}/examples/lenet5.yaml)

# Memory planning: arena <= 1.05 x lower bound on every example (and golden net).
file(GLOB EXAMPLE_YAMLS ${CMAKE_SOURCE_DIR}/examples/*.yaml)
file(GLOB GOLDEN_YAMLS ${CMAKE_SOURCE_DIR}/tests/golden/*/model.yaml)
add_test(NAME arena_examples COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/arena_check.py $<TARGET_FILE:cnnc>
         ${EXAMPLE_YAMLS} ${GOLDEN_YAMLS})

# ONNX end to end: torchvision models and small nets exported at test time
# (tests/make_onnx_models.py, needs torch + onnx), checked against float64.
add_test(NAME onnx_models COMMAND bash ${CMAKE_SOURCE_DIR}/tests/onnx_models.sh $<TARGET_FILE:cnnc>)
set_tests_properties(onnx_models PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1500)
# The whole torchvision classification zoo must import (cnnc info).
add_test(NAME onnx_zoo_import COMMAND bash ${CMAKE_SOURCE_DIR}/tests/onnx_models.sh $<TARGET_FILE:cnnc> --zoo --info)
set_tests_properties(onnx_zoo_import PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1500)
include(${CMAKE_SOURCE_DIR}/tests/train_tests.cmake)

# The training demo (generated train_step on the 8x8 digits) reaches >= 95% test accuracy.
add_test(NAME train_digits_demo COMMAND bash ${CMAKE_SOURCE_DIR}/tests/digits_demo.sh ${CMAKE_BINARY_DIR})
set_tests_properties(train_digits_demo PROPERTIES TIMEOUT 300)
