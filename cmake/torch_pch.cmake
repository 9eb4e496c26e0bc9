# LibTorch's header is most of the compile time of a file that includes it (20 s of 26 at -O3 for
# a 44-line file): it is parsed once, into a header that aimc_nn precompiles and every LibTorch
# target reuses. GCC uses a precompiled header only under the -fpic/-fpie setting it was made
# with, so these targets all compile as PIC; -Winvalid-pch turns a header it cannot use into an
# error instead of a silent slow parse.
#
# A precompiled header is included in every file of its target, and loading LibTorch's costs a
# file that never needed it more than it saves (table1.cc: 26.7 s with it, 21.0 s without). So
# the files of these targets that reach no LibTorch header skip it; which ones is read from the
# sources themselves (aimc_torch_pch_skip_files_without_torch), not kept by hand.
option(AIMC_TORCH_PCH "Precompile LibTorch's header once for every target that uses it" ON)

function(aimc_torch_pch target)
  if(NOT AIMC_WITH_TORCH OR NOT AIMC_TORCH_PCH)
    return()
  endif()
  target_compile_options(${target} PRIVATE -fPIC -Winvalid-pch)
  if(target STREQUAL "aimc_nn")
    target_precompile_headers(aimc_nn PRIVATE <torch/torch.h>)
  else()
    target_precompile_headers(${target} REUSE_FROM aimc_nn)
  endif()
  set_property(GLOBAL APPEND PROPERTY AIMC_TORCH_PCH_TARGETS ${target})
endfunction()

# aimc_reaches_torch(FILE OUT): whether FILE includes a LibTorch header (<torch/...>, <ATen/...>,
# <c10/...>), itself or through aimc's own headers: "aimc/..." under include/, any other quoted
# name beside the file that includes it (the two forms the sources use). Remembered per file.
function(aimc_reaches_torch file out)
  get_property(known GLOBAL PROPERTY "AIMC_REACHES_TORCH:${file}" SET)
  if(known)
    get_property(result GLOBAL PROPERTY "AIMC_REACHES_TORCH:${file}")
    set(${out} ${result} PARENT_SCOPE)
    return()
  endif()
  # Assumed OFF while it is being read, so that a cycle of includes ends.
  set_property(GLOBAL PROPERTY "AIMC_REACHES_TORCH:${file}" OFF)
  set(result OFF)
  get_filename_component(dir "${file}" DIRECTORY)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "<(torch|ATen|c10)/")
      set(result ON)
      break()
    endif()
    if(NOT line MATCHES "\"([^\"]+)\"")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    if(name MATCHES "^aimc/")
      set(path "${PROJECT_SOURCE_DIR}/include/${name}")
    else()
      set(path "${dir}/${name}")
    endif()
    get_filename_component(path "${path}" ABSOLUTE)
    if(EXISTS "${path}")
      aimc_reaches_torch("${path}" reached)
      if(reached)
        set(result ON)
        break()
      endif()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "AIMC_REACHES_TORCH:${file}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# Called once every target exists (end of the top-level CMakeLists.txt): a source that reaches no
# LibTorch header skips the precompiled one. A wrong answer costs time only: a skipped file still
# compiles from its own includes.
function(aimc_torch_pch_skip_files_without_torch)
  get_property(targets GLOBAL PROPERTY AIMC_TORCH_PCH_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(sources ${target} SOURCES)
    get_target_property(source_dir ${target} SOURCE_DIR)
    set(skipped "")
    foreach(source IN LISTS sources)
      if(source MATCHES "\\$<" OR NOT source MATCHES "\\.cc$")
        continue()
      endif()
      get_filename_component(path "${source}" ABSOLUTE BASE_DIR "${source_dir}")
      aimc_reaches_torch("${path}" reached)
      if(NOT reached)
        list(APPEND skipped "${path}")
      endif()
    endforeach()
    if(skipped)
      set_source_files_properties(${skipped} TARGET_DIRECTORY ${target}
                                  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
