# train_tests.cmake - end-to-end training tests (include()d from tests.cmake / CMakeLists.txt).
#
# Every tests/train_model_golden/NAME/ (written by tests/gen_train_model_golden.py with
# PyTorch float64) becomes a test train_NAME: `cnnc run --train` for 1 and 3 steps,
# losses, step-1 gradients and the parameters + BN buffers after 3 steps against
# the goldens (tests/train_check.py, numpy only).  Three representative cases also get
# a finite-difference test of cnnc's gradients against cnnc's own losses, and one
# test checks dropout in training by statistics.
set(TRAIN_CHECK ${CMAKE_SOURCE_DIR}/tests/train_check.py)
file(GLOB TRAIN_GOLDEN_DIRS LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/train_model_golden/*)
foreach(dir ${TRAIN_GOLDEN_DIRS})
  if(IS_DIRECTORY ${dir} AND EXISTS ${dir}/model.yaml)
    get_filename_component(name ${dir} NAME)
    add_test(NAME train_${name} COMMAND /usr/bin/python3 ${TRAIN_CHECK} --cnnc $<TARGET_FILE:cnnc> ${dir})
    set_tests_properties(train_${name} PROPERTIES TIMEOUT 300)
  endif()
endforeach()

# Finite differences: each probe is one `cnnc run --train` (a C compile), so a few cases
# only: a smooth MLP (softmax, log_softmax, nll), transposed convolutions with instance norm
# and clipping, and every 2-D pooling (kinks of max pooling and lp pooling).
foreach(name softmax_nll conv_transpose pools2d)
  add_test(NAME train_fd_${name}
           COMMAND /usr/bin/python3 ${TRAIN_CHECK} --cnnc $<TARGET_FILE:cnnc> --fd -j 2 --eps 0.002
                   ${CMAKE_SOURCE_DIR}/tests/train_model_golden/${name})
  set_tests_properties(train_fd_${name} PROPERTIES TIMEOUT 900)
endforeach()

add_test(NAME train_dropout COMMAND /usr/bin/python3 ${TRAIN_CHECK} --cnnc $<TARGET_FILE:cnnc> --dropout)
set_tests_properties(train_dropout PROPERTIES TIMEOUT 300)
