/*
 * libFuzzer harness: fp8f_quant_format_detect (model-config detection).
 *
 * Input: <config.json bytes> NUL <layer name>. Without a NUL the whole
 * input is the config and the layer is one of a few GLM-4.7 names. Both
 * strings are copied into allocations of exactly their size (ASan sees an
 * over-read).
 *
 * Contract checked:
 *  - the status is FP8F_OK (out is FP8F_QF_NONE or FP8F_QF_FP8_PER_TOKEN),
 *    FP8F_E_FORMAT or FP8F_E_INVALID (or FP8F_E_NOMEM); a failure leaves
 *    *out untouched and a message;
 *  - the same call twice gives the same answer;
 *  - trailing JSON whitespace changes nothing, trailing garbage after a
 *    complete JSON value is FP8F_E_INVALID (strict JSON);
 *  - a whole config.json and its quantization_config object alone (when
 *    that object names its quant_method) give the same answer;
 *  - NULL config, layer or out: FP8F_E_INVALID, nothing written.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"
#include "fuzz_util.h"

static const char *const default_layers[] = {
    "model.layers.0.self_attn.q_proj", "model.layers.3.mlp.experts.17.gate_proj",
    "model.layers.1.mlp.shared_experts.down_proj", "lm_head"};

typedef struct answer {
    fp8f_status s;
    fp8f_quant_format f;
} answer;

static const fp8f_quant_format sentinel = (fp8f_quant_format)0x5c5c5c5c;

static answer detect(const char *cfg, size_t len, const char *layer) {
    char *c = malloc(len + 1); /* exact size */
    if (!c)
        abort();
    memcpy(c, cfg, len);
    c[len] = '\0';
    answer a = {FP8F_OK, sentinel};
    a.s = fp8f_quant_format_detect(c, layer, &a.f);
    FZ_CHECK(a.s == FP8F_OK || a.s == FP8F_E_FORMAT || a.s == FP8F_E_INVALID ||
                 a.s == FP8F_E_NOMEM,
             "status %s (%d) is not one detection returns", fp8f_status_str(a.s), (int)a.s);
    if (a.s == FP8F_OK) {
        FZ_CHECK(a.f == FP8F_QF_NONE || a.f == FP8F_QF_FP8_PER_TOKEN, "OK with format %d",
                 (int)a.f);
    } else {
        FZ_CHECK(a.f == sentinel, "*out written on error (%s)", fp8f_status_str(a.s));
        fz_check_message(NULL, a.s);
    }
    free(c);
    return a;
}

static int same(answer a, answer b) { return a.s == b.s && a.f == b.f; }

static char *with_suffix(const char *cfg, size_t len, const char *suffix, size_t *out_len) {
    size_t sl = strlen(suffix);
    char *s = malloc(len + sl + 1);
    if (!s)
        abort();
    memcpy(s, cfg, len);
    memcpy(s + len, suffix, sl + 1);
    *out_len = len + sl;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_op = "fp8f_quant_format_detect";
    const uint8_t *nul = memchr(data, 0, size);
    size_t cfg_len = nul ? (size_t)(nul - data) : size;
    char *layer;
    if (nul) {
        size_t ll = size - cfg_len - 1;
        layer = malloc(ll + 1);
        if (!layer)
            abort();
        memcpy(layer, nul + 1, ll);
        layer[ll] = '\0';
    } else {
        layer = strdup(default_layers[size % 4]);
        if (!layer)
            abort();
    }
    const char *cfg = (const char *)data;

    answer a = detect(cfg, cfg_len, layer);
    FZ_CHECK(same(a, detect(cfg, cfg_len, layer)), "two calls, two answers");

    size_t l2;
    char *ws = with_suffix(cfg, cfg_len, " \n\t\r ", &l2);
    answer w = detect(ws, l2, layer);
    FZ_CHECK(same(a, w), "trailing whitespace changed %s/%d into %s/%d", fp8f_status_str(a.s),
             (int)a.f, fp8f_status_str(w.s), (int)w.f);
    free(ws);

    if (a.s == FP8F_OK || a.s == FP8F_E_FORMAT) {
        char *g = with_suffix(cfg, cfg_len, " x", &l2);
        answer t = detect(g, l2, layer);
        FZ_CHECK(t.s == FP8F_E_INVALID, "trailing garbage accepted (%s)", fp8f_status_str(t.s));
        free(g);

        /* whole file vs its quantization_config object */
        char *c = malloc(cfg_len + 1);
        if (!c)
            abort();
        memcpy(c, cfg, cfg_len);
        c[cfg_len] = '\0';
        json_object *root = json_tokener_parse(c), *qc = NULL, *qm = NULL, *inner = NULL;
        if (root && json_object_is_type(root, json_type_object) &&
            json_object_object_get_ex(root, "quantization_config", &qc) && qc &&
            json_object_is_type(qc, json_type_object) &&
            json_object_object_get_ex(qc, "quant_method", &qm) && qm &&
            json_object_is_type(qm, json_type_string) &&
            !json_object_object_get_ex(qc, "quantization_config", &inner)) {
            const char *qs = json_object_to_json_string_ext(qc, JSON_C_TO_STRING_PLAIN);
            answer q = detect(qs, strlen(qs), layer);
            FZ_CHECK(same(a, q),
                     "the whole config gives %s/%d, its quantization_config alone %s/%d",
                     fp8f_status_str(a.s), (int)a.f, fp8f_status_str(q.s), (int)q.f);
        }
        json_object_put(root);
        free(c);
    }

    /* NULL arguments */
    fp8f_quant_format out = sentinel;
    FZ_CHECK(fp8f_quant_format_detect(NULL, layer, &out) == FP8F_E_INVALID && out == sentinel,
             "NULL config_json");
    fz_check_message(NULL, FP8F_E_INVALID);
    FZ_CHECK(fp8f_quant_format_detect("{}", NULL, &out) == FP8F_E_INVALID && out == sentinel,
             "NULL layer_name");
    FZ_CHECK(fp8f_quant_format_detect("{}", layer, NULL) == FP8F_E_INVALID, "NULL out");
    free(layer);
    return 0;
}
