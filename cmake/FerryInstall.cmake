# Installs the public library, its headers and the CMake package, so that a consumer can do
#   find_package(ferry 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE ferry::ferry)
# Included last from the top-level CMakeLists.txt. Executables (ferry-bench, the examples,
# ferry-mpirun) are installed by their own directories, not here.
include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FERRY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ferry"
    CACHE STRING "Where ferryConfig.cmake is installed, relative to the prefix")
mark_as_advanced(FERRY_INSTALL_CMAKEDIR)

if(NOT TARGET ferry)
  message(STATUS "ferry: no 'ferry' library target yet; nothing to install as a package")
  return()
endif()

# Public headers, including include/ferry/internal/ (templates the public API needs).
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/ferry"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT ferry_development
        FILES_MATCHING PATTERN "*.h")
# Headers generated at configure time (if any) live in the same layout under the build tree.
if(IS_DIRECTORY "${PROJECT_BINARY_DIR}/include/ferry")
  install(DIRECTORY "${PROJECT_BINARY_DIR}/include/ferry"
          DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
          COMPONENT ferry_development
          FILES_MATCHING PATTERN "*.h")
endif()

install(TARGETS ferry
        EXPORT ferryTargets
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
                COMPONENT ferry_runtime
                NAMELINK_COMPONENT ferry_development
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT ferry_development
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT ferry_runtime)

install(EXPORT ferryTargets
        FILE ferryTargets.cmake
        NAMESPACE ferry::
        DESTINATION "${FERRY_INSTALL_CMAKEDIR}"
        COMPONENT ferry_development)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/ferryConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/ferryConfig.cmake"
  INSTALL_DESTINATION "${FERRY_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/ferryConfig.cmake"
              "${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake"
        DESTINATION "${FERRY_INSTALL_CMAKEDIR}"
        COMPONENT ferry_development)
