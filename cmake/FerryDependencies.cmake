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

# PMIx is used by the launch target only (the PMIx bootstrap). libfabric and NCCL are found
# now so that a build reports what it could use; no component uses them yet (the libfabric
# transport and the NCCL collectives come with later releases).
find_package(PkgConfig QUIET)
# ferry_find_optional(OPT MODULE DEBIAN_PACKAGE): pkg-config lookup of an optional backend;
# turns FERRY_WITH_<OPT> off, with a warning naming the package, when it is missing.
function(ferry_find_optional opt module package)
  if(NOT FERRY_WITH_${opt})
    return()
  endif()
  if(PkgConfig_FOUND)
    pkg_check_modules(${opt} IMPORTED_TARGET GLOBAL ${module})
  endif()
  if(NOT ${opt}_FOUND)
    message(WARNING "ferry: ${module} not found (${package}); FERRY_WITH_${opt} turned off")
    set(FERRY_WITH_${opt} OFF CACHE BOOL "" FORCE)
  endif()
endfunction()
ferry_find_optional(PMIX pmix libpmix-dev)
ferry_find_optional(OFI libfabric libfabric-dev)
if(FERRY_WITH_NCCL)
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(NOT CUDAToolkit_FOUND OR NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    message(STATUS "ferry: CUDA/NCCL not found; FERRY_WITH_NCCL turned off (CPU-only build)")
    set(FERRY_WITH_NCCL OFF CACHE BOOL "" FORCE)
  endif()
endif()

message(STATUS "ferry: UCX=${FERRY_WITH_UCX} MPI=${FERRY_WITH_MPI} PMIX=${FERRY_WITH_PMIX} "
               "OFI=${FERRY_WITH_OFI} NCCL=${FERRY_WITH_NCCL}")
