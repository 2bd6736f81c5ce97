# tests.cmake - ctest registration (included from CMakeLists.txt).
file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} cnnc_lib cnnc_rt)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endforeach()

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
  endif()
endforeach()
