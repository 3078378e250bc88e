# Which kernel sets this target can build, and the flags of each. Each ISA's
# files are compiled with its own flags only, so one binary runs on any CPU
# of the architecture and picks its kernels at run time.
set(ATTNRT_ARCH_X86 OFF)
set(ATTNRT_ARCH_ARM64 OFF)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(ATTNRT_ARCH_X86 ON)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  set(ATTNRT_ARCH_ARM64 ON)
endif()

# attnrt_isa_sources(<target> <flags> <files...>): adds files compiled with flags.
function(attnrt_isa_sources target flags)
  target_sources(${target} PRIVATE ${ARGN})
  set_source_files_properties(${ARGN} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_OPTIONS "${flags}")
endfunction()
