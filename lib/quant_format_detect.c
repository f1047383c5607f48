/* placeholder: replaced by the model-config detection (issue 8) */
#include "internal.h"
fp8f_status fp8f_quant_format_detect(const char *config_json, const char *layer_name,
                                     fp8f_quant_format *out) {
    (void)config_json; (void)layer_name; (void)out;
    return fp8f__fail(NULL, FP8F_E_UNSUPPORTED, "not implemented yet");
}
