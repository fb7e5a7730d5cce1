# ferry_cc_library / ferry_cc_test: one target per component, named ferry_<name> with the
# alias ferry::<name>, in the manner of Abseil's absl_cc_library.
include_guard(GLOBAL)

set(FERRY_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

# ferry_cc_library(NAME n SRCS ... HDRS ... DEPS ... [PUBLIC_DEPS ...] [DEFINES ...])
function(ferry_cc_library)
  cmake_parse_arguments(F "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_DEPS;DEFINES" ${ARGN})
  set(target ferry_${F_NAME})
  if(F_SRCS)
    add_library(${target} STATIC ${F_SRCS} ${F_HDRS})
    target_compile_options(${target} PRIVATE ${FERRY_WARNINGS})
    target_link_libraries(${target} PUBLIC ${F_PUBLIC_DEPS} PRIVATE ${F_DEPS})
    target_compile_definitions(${target} PRIVATE ${F_DEFINES})
    target_include_directories(${target} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${F_PUBLIC_DEPS} ${F_DEPS})
    target_include_directories(${target} INTERFACE
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endif()
  add_library(ferry::${F_NAME} ALIAS ${target})
endfunction()

# ferry_cc_test(NAME n SRCS ... DEPS ... [LABELS unit] [TIMEOUT 60])
function(ferry_cc_test)
  if(NOT FERRY_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(F "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT F_LABELS)
    set(F_LABELS unit)
  endif()
  if(NOT F_TIMEOUT)
    set(F_TIMEOUT 60)
  endif()
  add_executable(${F_NAME} ${F_SRCS})
  target_compile_options(${F_NAME} PRIVATE ${FERRY_WARNINGS})
  target_link_libraries(${F_NAME} PRIVATE ${F_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${F_NAME} COMMAND ${F_NAME})
  set_tests_properties(${F_NAME} PROPERTIES LABELS "${F_LABELS}" TIMEOUT ${F_TIMEOUT})
endfunction()
