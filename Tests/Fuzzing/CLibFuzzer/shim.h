// libFuzzer's driver entry point, as the fuzzing build of a harness calls it. The library itself
// is linked by `-sanitize=fuzzer` (Scripts/fuzz.sh); ordinary builds never reference the symbol.
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer with the process's arguments, calling `callback` once per input; returns the
/// process's exit status (libFuzzer exits by itself on a finding). Available since LLVM 11.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
