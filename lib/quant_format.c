/* Quant-format names: exact, case-sensitive matches only. A prefix or a
 * near miss ("fp8_per_token_v2", "FP8_PER_TOKEN ") is FP8F_E_FORMAT, so a
 * format string can never pick the wrong path. */
#include <string.h>

#include "internal.h"

static const char *const format_names[] = {"none", "fp8_per_token"};
#define N_FORMATS (sizeof format_names / sizeof format_names[0])

const char *fp8f_quant_format_name(fp8f_quant_format f) {
    return (unsigned)f < N_FORMATS ? format_names[f] : NULL;
}

fp8f_status fp8f_quant_format_parse(const char *name, fp8f_quant_format *out) {
    if (!name || !out)
        return fp8f__fail(NULL, FP8F_E_INVALID, "%s is NULL", name ? "out" : "name");
    for (unsigned i = 0; i < N_FORMATS; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (fp8f_quant_format)i;
            return FP8F_OK;
        }
    }
    return fp8f__fail(NULL, FP8F_E_FORMAT,
                      "unknown quant format \"%.64s\" (exact names: \"none\", "
                      "\"fp8_per_token\")",
                      name);
}
