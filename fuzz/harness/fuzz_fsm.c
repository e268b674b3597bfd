/* fuzz_fsm.c - the generated state machines (iwk_*_step) composed as spin composes them, with
 * every `always` and `final` property of the spec asserted in C. All of it is generated from spec/
 * (iwk_fuzz_model.h, gen/emitters/emit_fuzz.py); this file only picks the composition.
 *
 * Input: octet 0 picks the composition, the rest gives the configurations (whole declared ranges)
 * and the schedule (which of the moves spin allows is taken at each step). */
#include <stdint.h>

#include "fuzz_common.h"
#include "iwk_fuzz_model.h"

#define MAX_STEPS 2000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u) return 0;
    const char *why = NULL;
    const char *name = NULL;
    switch (data[0] % 2u) {
    case 0: name = "mpa_connection"; why = iwk_fuzz_mpa_connection_run(data + 1, size - 1u, MAX_STEPS); break;
    default: name = "qp_pair"; why = iwk_fuzz_qp_pair_run(data + 1, size - 1u, MAX_STEPS); break;
    }
    FUZZ_CHECK(why == NULL, "%s: %s", name, why);
    return 0;
}
