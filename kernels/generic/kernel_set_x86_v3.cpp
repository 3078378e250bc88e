// The portable kernels compiled with -march=x86-64-v3: nothing here but the
// flavour's name; the code is kernel_set.cpp's.
#define ATTNRT_GENERIC_VARIANT x86_v3
#define ATTNRT_GENERIC_NAME "generic_v3"
#define ATTNRT_GENERIC_REQUIRES kFeatureX86V3
#include "kernels/generic/kernel_set.cpp"
