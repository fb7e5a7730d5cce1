# Finds every dependency once. Optional backends are auto-detected: a missing one turns its
# option off with a message, never breaks the build.
include_guard(GLOBAL)

find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS serialization)

if(FERRY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

if(FERRY_WITH_UCX)
  find_package(ucx CONFIG QUIET)
  if(NOT ucx_FOUND)
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
      pkg_check_modules(UCX IMPORTED_TARGET ucx)
    endif()
  endif()
  if(TARGET ucx::ucp)
    # UCX's CMake package does not chain ucx::ucp to ucx::ucs (ucs_status_string lives there).
    set(FERRY_UCX_TARGET ucx::ucp)
    if(TARGET ucx::ucs)
      list(APPEND FERRY_UCX_TARGET ucx::ucs)
    endif()
  elseif(TARGET PkgConfig::UCX)
    set(FERRY_UCX_TARGET PkgConfig::UCX)
  else()
    message(WARNING "ferry: UCX not found (libucx-dev); building without the UCX transport")
    set(FERRY_WITH_UCX OFF CACHE BOOL "" FORCE)
  endif()
endif()

if(FERRY_WITH_MPI)
  find_package(MPI COMPONENTS C)
  if(NOT MPI_C_FOUND)
    message(WARNING "ferry: MPI not found (libopenmpi-dev); building without the MPI bootstrap")
    set(FERRY_WITH_MPI OFF CACHE BOOL "" FORCE)
  endif()
endif()

foreach(opt PMIX OFI NCCL)
  if(FERRY_WITH_${opt})
    message(WARNING "ferry: FERRY_WITH_${opt} is reserved for a later release and is ignored")
    set(FERRY_WITH_${opt} OFF CACHE BOOL "" FORCE)
  endif()
endforeach()

message(STATUS "ferry: UCX=${FERRY_WITH_UCX} MPI=${FERRY_WITH_MPI}")
