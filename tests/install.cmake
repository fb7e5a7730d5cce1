# The install_consumer test: installs the build tree into a scratch prefix, then configures,
# builds and runs tests/consumer/ out of tree against it with find_package(ferry).
#
# This file has two roles:
#  - include()d from tests/CMakeLists.txt, it registers the ctest `install_consumer`;
#  - run by that test as `cmake -D... -P install.cmake`, it does the work.
# The scratch directory lives under the build tree and is removed afterwards
# (set FERRY_KEEP_INSTALL_TEST=1 in the environment to keep it after a failure).

if(NOT CMAKE_SCRIPT_MODE_FILE)
  if(NOT TARGET ferry)
    message(STATUS "ferry: no 'ferry' library target; install_consumer test not registered")
    return()
  endif()
  add_test(NAME install_consumer
    COMMAND "${CMAKE_COMMAND}"
      "-DFERRY_BUILD_DIR=${PROJECT_BINARY_DIR}"
      "-DFERRY_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "-DFERRY_WORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install_consumer"
      "-DFERRY_CONFIG=$<CONFIG>"
      "-DFERRY_VERSION=${PROJECT_VERSION}"
      "-DFERRY_GENERATOR=${CMAKE_GENERATOR}"
      "-DFERRY_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
      "-DFERRY_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DFERRY_CXX_FLAGS=${CMAKE_CXX_FLAGS}"
      "-DFERRY_EXE_LINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
      -P "${CMAKE_CURRENT_LIST_FILE}")
  set_tests_properties(install_consumer PROPERTIES LABELS unit TIMEOUT 600)
  return()
endif()

# ---- script mode -------------------------------------------------------------------------

cmake_minimum_required(VERSION 3.25)

foreach(var FERRY_BUILD_DIR FERRY_SOURCE_DIR FERRY_WORK_DIR FERRY_GENERATOR FERRY_CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${FERRY_WORK_DIR}/prefix")
set(consumer_build "${FERRY_WORK_DIR}/consumer-build")

function(cleanup)
  file(REMOVE_RECURSE "${FERRY_WORK_DIR}")
endfunction()

# fail(what output): prints the step's output, cleans up (unless asked not to) and fails.
function(fail what output)
  message("${output}")
  if("$ENV{FERRY_KEEP_INSTALL_TEST}" STREQUAL "")
    cleanup()
  else()
    message("install_consumer: kept ${FERRY_WORK_DIR}")
  endif()
  message(FATAL_ERROR "install_consumer: ${what}")
endfunction()

# step(name COMMAND ...): runs a command, failing the test with its output if it fails.
function(step name)
  execute_process(COMMAND ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 500)
  if(NOT rc EQUAL 0)
    fail("${name} failed (${rc})" "${out}")
  endif()
  message(STATUS "install_consumer: ${name}: ok")
endfunction()

cleanup()
file(MAKE_DIRECTORY "${prefix}" "${consumer_build}")

# 1. Install the build tree into the scratch prefix (DESTDIR would redirect it: drop it).
set(config_args)
if(NOT "${FERRY_CONFIG}" STREQUAL "")
  set(config_args --config "${FERRY_CONFIG}")
endif()
step("cmake --install"
     "${CMAKE_COMMAND}" -E env --unset=DESTDIR
     "${CMAKE_COMMAND}" --install "${FERRY_BUILD_DIR}" --prefix "${prefix}" ${config_args})

file(GLOB_RECURSE config_file "${prefix}/*/ferryConfig.cmake")
if(NOT EXISTS "${prefix}/include/ferry/ferry.h" OR NOT config_file)
  file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
  string(REPLACE ";" "\n" installed "${installed}")
  fail("the install lacks include/ferry/ferry.h or ferryConfig.cmake" "${installed}")
endif()
execute_process(COMMAND test -x "${prefix}/bin/ferry-mpirun" RESULT_VARIABLE not_executable)
if(not_executable)
  fail("the install lacks an executable bin/ferry-mpirun" "")
endif()
execute_process(COMMAND test -x "${prefix}/share/ferry/slurm/ferry.sbatch"
                RESULT_VARIABLE not_executable)
if(not_executable)
  fail("the install lacks an executable share/ferry/slurm/ferry.sbatch" "")
endif()

# 2. Configure and build the consumer out of tree, with the same compiler and flags (a
#    sanitizer build's library needs its runtime in the executable too).
set(configure_args
    -S "${FERRY_SOURCE_DIR}/tests/consumer" -B "${consumer_build}"
    -G "${FERRY_GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
    "-DCMAKE_CXX_COMPILER=${FERRY_CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${FERRY_CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${FERRY_EXE_LINKER_FLAGS}"
    "-DFERRY_EXPECTED_VERSION=${FERRY_VERSION}")
if(NOT "${FERRY_CONFIG}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${FERRY_CONFIG}")
endif()
if(NOT "${FERRY_MAKE_PROGRAM}" STREQUAL "")
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${FERRY_MAKE_PROGRAM}")
endif()
step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})

# The package must come from the scratch prefix, not from a copy installed elsewhere.
file(STRINGS "${consumer_build}/CMakeCache.txt" ferry_dir REGEX "^ferry_DIR:")
string(REGEX REPLACE "^ferry_DIR:[A-Z]+=" "" ferry_dir "${ferry_dir}")
file(REAL_PATH "${prefix}" real_prefix)
if(EXISTS "${ferry_dir}")
  file(REAL_PATH "${ferry_dir}" ferry_dir)
endif()
string(FIND "${ferry_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  fail("find_package(ferry) used '${ferry_dir}', not the scratch prefix ${real_prefix}" "")
endif()

step("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" ${config_args})

# 3. Run it: exit status 0 and the line "consumer ok".
file(GLOB_RECURSE consumer LIST_DIRECTORIES false
     "${consumer_build}/ferry_consumer" "${consumer_build}/ferry_consumer.exe")
if(NOT consumer)
  fail("no ferry_consumer executable under ${consumer_build}" "")
endif()
list(GET consumer 0 consumer)
execute_process(COMMAND "${consumer}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 120)
message("${out}")
if(NOT rc EQUAL 0)
  fail("ferry_consumer exited with ${rc}" "")
endif()
if(NOT out MATCHES "(^|\n)consumer ok(\n|$)")
  fail("ferry_consumer did not print 'consumer ok'" "")
endif()

cleanup()
message(STATUS "install_consumer: passed")
