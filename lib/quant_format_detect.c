/*
 * fp8f_quant_format_detect: which activation format a Linear layer of a
 * Hugging Face checkpoint takes, read from its config.json.
 *
 * Only one format is a yes: compressed-tensors FP8 with channel-wise
 * weights and dynamic per-token activations, the format of GLM-4.7-FP8 and
 * the only one that fp8fuse's norm+quant and PTPC GEMM produce and consume.
 * Everything else that quantizes the layer is FP8F_E_FORMAT with a message
 * that says what was seen, so that a caller can never hand a (q, scale)
 * pair to a layer that expects something else. A layer that is not
 * quantized at all (no quantization_config, ignored, covered by no group)
 * is FP8F_QF_NONE.
 *
 * Statuses: FP8F_E_INVALID is reserved for the caller's arguments and for
 * text that is not one strict JSON object. A well-formed JSON object whose
 * quantization config cannot be read (a field of the wrong type, a regex
 * that does not compile) is FP8F_E_FORMAT: the JSON is fine, the scheme is
 * not one we can vouch for.
 *
 * Matching follows compressed-tensors (and vLLM/SGLang, which copy it): a
 * `targets` or `ignore` entry is an exact module name, the class name
 * "Linear" (every layer asked about is a Linear), or "re:<pattern>" applied
 * with Python's re.match, i.e. anchored at the start but not at the end.
 * PCRE2 speaks Python's syntax (\d, (?P<name>...), (?i)); we compile in UTF
 * mode with Unicode properties so \d and \w mean what they mean for a
 * Python str pattern.
 *
 * Several groups covering one layer: a group that names the layer (exact or
 * regex) wins over one that covers it through "Linear", as in vLLM's
 * find_matched_target and compressed-tensors' match_targets, so that a
 * "Linear" default plus a "re:.*experts.*" override answers the override for
 * the experts. Among groups of the same kind the first in the object's order
 * is taken, but only when all of them agree on the verdict: where they
 * disagree, vLLM and compressed-tensors break the tie differently (first
 * target vs. sorted targets vs. last group for a repeated target), so we
 * refuse with FP8F_E_FORMAT rather than guess.
 *
 * The name is taken literally: an engine's fused name ("qkv_proj",
 * "gate_up_proj") is not expanded into the checkpoint's shard names the way
 * vLLM's fused_mapping does, so ignore/targets entries must reach the name
 * the caller asks about.
 *
 * Input: the whole config.json (quantization_config, or compression_config
 * as vLLM also reads) or the quantization config object itself, recognized
 * by quant_method or config_groups. Other quant methods ("fp8" per-tensor or
 * block, modelopt, awq, ...) are FP8F_E_FORMAT for every layer: their own
 * skip lists are not read.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <json-c/json.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Longest piece of a layer name, pattern or group name quoted in messages,
 * so that the whole message fits FP8F_ERROR_MAX. */
#define SHOWN 96
/* A reason why a scheme is not ours, written by the judging helpers. */
#define WHY_MAX 240

static const char needs[] = "fp8fuse needs compressed-tensors fp8 channel-wise weights "
                            "with dynamic per-token fp8 activations";

/* ---- strict JSON --------------------------------------------------------- */

static bool only_json_space(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Parses `text` as exactly one JSON value; *root may be NULL for "null". */
static fp8f_status parse_strict_json(const char *text, json_object **root) {
    size_t len = strlen(text);
    if (len >= INT32_MAX) /* json-c takes an int length */
        return fp8f__fail(NULL, FP8F_E_INVALID, "config_json is too large (%zu bytes)", len);
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return fp8f__fail(NULL, FP8F_E_NOMEM, "out of memory creating a JSON parser");
    /* Trailing characters are let through json-c so that our own check
     * below reports them as such (json-c says "unexpected character"). */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    /* Passing the terminating NUL tells json-c that the input ends here, so
     * truncated text is an error instead of "continue, send more". */
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (err != json_tokener_success) {
        json_object_put(obj);
        return fp8f__fail(NULL, FP8F_E_INVALID, "config_json is not valid JSON at byte %zu: %s",
                          end, json_tokener_error_desc(err));
    }
    /* One value and nothing after it but whitespace. */
    if (end > len || !only_json_space(text + end)) {
        json_object_put(obj);
        return fp8f__fail(NULL, FP8F_E_INVALID,
                          "config_json has trailing characters after the JSON value (byte %zu)",
                          end);
    }
    *root = obj;
    return FP8F_OK;
}

/* "an array", "a string"... for messages. */
static const char *type_name(json_object *v) {
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a number";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "of an unknown type";
}

/* The member `key` of `obj`, or NULL when it is absent or JSON null. */
static json_object *member(json_object *obj, const char *key) {
    json_object *v = NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

/* ---- targets and ignore entries ------------------------------------------- */

/* How a list of entries reaches the layer; a higher value is more specific. */
enum coverage { COVER_NONE = 0, COVER_CLASS, COVER_NAME };

/* Python re.match(pattern, layer): anchored at the start only. */
static fp8f_status regex_matches_start(const char *pattern, size_t len, const char *layer,
                                       const char *list, bool *hit) {
    int code;
    PCRE2_SIZE offset;
    PCRE2_UCHAR msg[128];
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code,
                                   &offset, NULL);
    if (!re) {
        pcre2_get_error_message(code, msg, sizeof msg);
        return fp8f__fail(NULL, FP8F_E_FORMAT,
                          "%s: 're:%.*s' is not a valid regular expression: %s (at offset %zu)",
                          list, SHOWN, pattern, (const char *)msg, (size_t)offset);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return fp8f__fail(NULL, FP8F_E_NOMEM, "out of memory matching a regular expression");
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)layer, PCRE2_ZERO_TERMINATED, 0, PCRE2_ANCHORED, md,
                         NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) {
        *hit = rc >= 0;
        return FP8F_OK;
    }
    pcre2_get_error_message(rc, msg, sizeof msg);
    return fp8f__fail(NULL, FP8F_E_FORMAT, "%s: matching 're:%.*s' against '%.*s' failed: %s",
                      list, SHOWN, pattern, SHOWN, layer, (const char *)msg);
}

static fp8f_status entry_coverage(json_object *entry, const char *list, const char *layer,
                                  enum coverage *cov) {
    if (!json_object_is_type(entry, json_type_string))
        return fp8f__fail(NULL, FP8F_E_FORMAT, "%s has an entry that is %s, not a string", list,
                          type_name(entry));
    const char *s = json_object_get_string(entry);
    size_t n = (size_t)json_object_get_string_len(entry);
    *cov = COVER_NONE;
    if (n >= 3 && memcmp(s, "re:", 3) == 0) {
        bool hit = false;
        fp8f_status st = regex_matches_start(s + 3, n - 3, layer, list, &hit);
        if (st == FP8F_OK && hit)
            *cov = COVER_NAME;
        return st;
    }
    /* Lengths first: an entry with an embedded NUL is never a name. */
    if (n == strlen(layer) && memcmp(s, layer, n) == 0)
        *cov = COVER_NAME;
    else if (n == 6 && memcmp(s, "Linear", 6) == 0)
        *cov = COVER_CLASS;
    return FP8F_OK;
}

/* The most specific way any entry of `entries` (an array, or NULL for
 * none) reaches the layer. `list` names the list in messages. */
static fp8f_status list_coverage(json_object *entries, const char *list, const char *layer,
                                 enum coverage *cov) {
    *cov = COVER_NONE;
    if (!entries)
        return FP8F_OK;
    if (!json_object_is_type(entries, json_type_array))
        return fp8f__fail(NULL, FP8F_E_FORMAT, "%s is %s, not an array", list,
                          type_name(entries));
    size_t n = json_object_array_length(entries);
    for (size_t i = 0; i < n && *cov != COVER_NAME; i++) {
        enum coverage c = COVER_NONE;
        fp8f_status st = entry_coverage(json_object_array_get_idx(entries, i), list, layer, &c);
        if (st != FP8F_OK)
            return st;
        if (c > *cov)
            *cov = c;
    }
    return FP8F_OK;
}

/* ---- judging one compressed-tensors scheme ------------------------------ */

enum dynamic_kind { DYNAMIC_FALSE, DYNAMIC_TRUE, DYNAMIC_OTHER };

/* One QuantizationArgs, with compressed-tensors' defaults for absent fields. */
struct quant_args {
    const char *type;      /* "int" */
    int64_t num_bits;      /* 8 */
    const char *strategy;  /* inferred from group_size when absent */
    enum dynamic_kind dynamic;
    const char *dynamic_text; /* the value when DYNAMIC_OTHER (e.g. "local") */
    bool symmetric;           /* true */
};

static bool wrong_type(json_object *v, const char *role, const char *key, const char *expected,
                       char *why) {
    snprintf(why, WHY_MAX, "%s '%s' is %s, expected %s", role, key, type_name(v), expected);
    return false;
}

static bool read_string(json_object *args, const char *role, const char *key, const char **val,
                        char *why) {
    json_object *v = member(args, key);
    if (!v)
        return true;
    if (!json_object_is_type(v, json_type_string))
        return wrong_type(v, role, key, "a string", why);
    *val = json_object_get_string(v);
    return true;
}

static bool read_int(json_object *args, const char *role, const char *key, int64_t *val,
                     bool *present, char *why) {
    json_object *v = member(args, key);
    if (present)
        *present = v != NULL;
    if (!v)
        return true;
    if (!json_object_is_type(v, json_type_int))
        return wrong_type(v, role, key, "an integer", why);
    *val = json_object_get_int64(v);
    return true;
}

static bool read_bool(json_object *args, const char *role, const char *key, bool *val,
                      char *why) {
    json_object *v = member(args, key);
    if (!v)
        return true;
    if (!json_object_is_type(v, json_type_boolean))
        return wrong_type(v, role, key, "a boolean", why);
    *val = json_object_get_boolean(v);
    return true;
}

/* `dynamic` is a boolean, or a string in newer compressed-tensors ("local"). */
static bool read_dynamic(json_object *args, const char *role, struct quant_args *a, char *why) {
    json_object *v = member(args, "dynamic");
    a->dynamic = DYNAMIC_FALSE;
    if (!v)
        return true;
    if (json_object_is_type(v, json_type_boolean)) {
        a->dynamic = json_object_get_boolean(v) ? DYNAMIC_TRUE : DYNAMIC_FALSE;
        return true;
    }
    if (json_object_is_type(v, json_type_string)) {
        a->dynamic = DYNAMIC_OTHER;
        a->dynamic_text = json_object_get_string(v);
        return true;
    }
    return wrong_type(v, role, "dynamic", "a boolean", why);
}

/* compressed-tensors infers a missing strategy from group_size. */
static const char *inferred_strategy(bool has_group_size, int64_t group_size) {
    if (!has_group_size)
        return "tensor";
    return group_size == -1 ? "channel" : "group";
}

static bool read_quant_args(json_object *args, const char *role, struct quant_args *a,
                            char *why) {
    if (!json_object_is_type(args, json_type_object)) {
        snprintf(why, WHY_MAX, "%s is %s, not an object", role, type_name(args));
        return false;
    }
    *a = (struct quant_args){.type = "int", .num_bits = 8, .symmetric = true};
    bool has_group_size = false;
    int64_t group_size = 0;
    if (!read_string(args, role, "type", &a->type, why) ||
        !read_int(args, role, "num_bits", &a->num_bits, NULL, why) ||
        !read_string(args, role, "strategy", &a->strategy, why) ||
        !read_int(args, role, "group_size", &group_size, &has_group_size, why) ||
        !read_bool(args, role, "symmetric", &a->symmetric, why) ||
        !read_dynamic(args, role, a, why))
        return false;
    if (!a->strategy)
        a->strategy = inferred_strategy(has_group_size, group_size);
    return true;
}

static bool is_fp8(const struct quant_args *a, const char *role, char *why) {
    if (strcmp(a->type, "float") == 0 && a->num_bits == 8)
        return true;
    if (strcmp(a->type, "float") == 0 && a->num_bits == 4)
        snprintf(why, WHY_MAX, "%s are fp4 (as NVFP4/MXFP4), not fp8", role);
    else
        snprintf(why, WHY_MAX, "%s are %.16s%lld, not fp8", role, a->type,
                 (long long)a->num_bits);
    return false;
}

/* What a strategy means, for messages. */
static const char *strategy_meaning(const char *strategy) {
    static const char *const meanings[][2] = {
        {"tensor", "per-tensor FP8"},     {"channel", "per-channel FP8"},
        {"token", "per-token FP8"},       {"block", "block FP8"},
        {"group", "group-wise FP8"},      {"tensor_group", "tensor-group FP8, as NVFP4"},
        {"attn_head", "per-head FP8"},
    };
    for (size_t i = 0; i < sizeof meanings / sizeof meanings[0]; i++)
        if (strcmp(strategy, meanings[i][0]) == 0)
            return meanings[i][1];
    return "unknown strategy";
}

static bool has_strategy(const struct quant_args *a, const char *role, const char *wanted,
                         char *why) {
    if (strcmp(a->strategy, wanted) == 0)
        return true;
    snprintf(why, WHY_MAX, "%s strategy '%.32s' (%s), not '%s'", role, a->strategy,
             strategy_meaning(a->strategy), wanted);
    return false;
}

static bool is_symmetric(const struct quant_args *a, const char *role, char *why) {
    if (a->symmetric)
        return true;
    snprintf(why, WHY_MAX, "%s are asymmetric (zero points)", role);
    return false;
}

static bool weights_are_fp8_per_channel(json_object *weights, char *why) {
    struct quant_args a;
    if (!read_quant_args(weights, "weights", &a, why) || !is_fp8(&a, "weights", why) ||
        !has_strategy(&a, "weights", "channel", why) || !is_symmetric(&a, "weights", why))
        return false;
    if (a.dynamic != DYNAMIC_FALSE) {
        snprintf(why, WHY_MAX, "weights are quantized at run time (dynamic %.32s)",
                 a.dynamic == DYNAMIC_TRUE ? "true" : a.dynamic_text);
        return false;
    }
    return true;
}

static bool activations_are_dynamic(const struct quant_args *a, char *why) {
    if (a->dynamic == DYNAMIC_TRUE)
        return true;
    if (a->dynamic == DYNAMIC_FALSE)
        snprintf(why, WHY_MAX, "static activation scales (input_activations dynamic false)");
    else
        snprintf(why, WHY_MAX, "input_activations dynamic '%.32s', not true", a->dynamic_text);
    return false;
}

static bool activations_are_fp8_dynamic_per_token(json_object *acts, char *why) {
    const char *role = "input_activations";
    struct quant_args a;
    return read_quant_args(acts, role, &a, why) && is_fp8(&a, role, why) &&
           activations_are_dynamic(&a, why) && has_strategy(&a, role, "token", why) &&
           is_symmetric(&a, role, why);
}

/* Whether a scheme (a config group) is ours; if not, `why` says what it is. */
static bool scheme_is_fp8_per_token(json_object *scheme, char *why) {
    json_object *weights = member(scheme, "weights");
    json_object *acts = member(scheme, "input_activations");
    if (!weights) {
        snprintf(why, WHY_MAX, acts ? "only activations are quantized (no weights)"
                                    : "neither weights nor input_activations are described");
        return false;
    }
    if (!weights_are_fp8_per_channel(weights, why))
        return false;
    if (!acts) {
        snprintf(why, WHY_MAX, "weight-only FP8 (no input_activations)");
        return false;
    }
    if (!activations_are_fp8_dynamic_per_token(acts, why))
        return false;
    if (member(scheme, "output_activations")) {
        snprintf(why, WHY_MAX, "output_activations are quantized too");
        return false;
    }
    return true;
}

/* ---- compressed-tensors config ------------------------------------------ */

struct verdict {
    bool per_token;
    char why[WHY_MAX]; /* when !per_token */
};

/* The group that decides a layer (see the top of the file). */
struct group_pick {
    enum coverage cov;   /* COVER_NONE: no group covers the layer */
    const char *group;   /* the first group at that level */
    struct verdict verdict;
    const char *rival;   /* a group at the same level that disagrees, or NULL */
};

static fp8f_status group_targets_coverage(const char *group, json_object *scheme,
                                          const char *layer, enum coverage *cov) {
    char list[SHOWN + 40];
    snprintf(list, sizeof list, "config group '%.*s' targets", SHOWN, group);
    if (!json_object_is_type(scheme, json_type_object))
        return fp8f__fail(NULL, FP8F_E_FORMAT, "config group '%.*s' is %s, not an object", SHOWN,
                          group, type_name(scheme));
    json_object *targets = member(scheme, "targets");
    if (!targets)
        return fp8f__fail(NULL, FP8F_E_FORMAT, "%s are missing", list);
    return list_coverage(targets, list, layer, cov);
}

static void consider_group(struct group_pick *pick, const char *group, enum coverage cov,
                           json_object *scheme) {
    if (cov == COVER_NONE || cov < pick->cov)
        return;
    struct verdict v = {.why = ""};
    v.per_token = scheme_is_fp8_per_token(scheme, v.why);
    if (cov > pick->cov) {
        *pick = (struct group_pick){.cov = cov, .group = group, .verdict = v};
    } else if (v.per_token != pick->verdict.per_token && !pick->rival) {
        pick->rival = group;
    }
}

static fp8f_status pick_group(json_object *groups, const char *layer, struct group_pick *pick) {
    *pick = (struct group_pick){.cov = COVER_NONE};
    if (!groups)
        return FP8F_OK;
    if (!json_object_is_type(groups, json_type_object))
        return fp8f__fail(NULL, FP8F_E_FORMAT, "config_groups is %s, not an object",
                          type_name(groups));
    /* json-c keeps an object's members in the order of the text. */
    json_object_object_foreach(groups, group, scheme) {
        enum coverage cov = COVER_NONE;
        fp8f_status st = group_targets_coverage(group, scheme, layer, &cov);
        if (st != FP8F_OK)
            return st;
        consider_group(pick, group, cov, scheme);
    }
    return FP8F_OK;
}

/* Rotations (QuIP, SpinQuant) may be applied online to the activation
 * between the norm and the quantization, which a fused norm+quant skips. */
static bool has_transforms(json_object *qc) {
    json_object *t = member(qc, "transform_config");
    return t && !(json_object_is_type(t, json_type_object) && json_object_object_length(t) == 0);
}

static fp8f_status detect_compressed_tensors(json_object *qc, const char *layer,
                                             fp8f_quant_format *fmt) {
    enum coverage ignored = COVER_NONE;
    fp8f_status st = list_coverage(member(qc, "ignore"), "ignore", layer, &ignored);
    if (st != FP8F_OK)
        return st;
    if (ignored != COVER_NONE) { /* ignore wins over every target */
        *fmt = FP8F_QF_NONE;
        return FP8F_OK;
    }
    struct group_pick pick;
    st = pick_group(member(qc, "config_groups"), layer, &pick);
    if (st != FP8F_OK)
        return st;
    if (pick.cov == COVER_NONE) {
        *fmt = FP8F_QF_NONE;
        return FP8F_OK;
    }
    if (pick.rival)
        return fp8f__fail(NULL, FP8F_E_FORMAT,
                          "layer '%.*s' is covered by config groups '%.*s' and '%.*s' with "
                          "different schemes, which engines resolve differently; refusing to "
                          "guess",
                          SHOWN, layer, SHOWN / 2, pick.group, SHOWN / 2, pick.rival);
    if (!pick.verdict.per_token)
        return fp8f__fail(NULL, FP8F_E_FORMAT, "layer '%.*s', config group '%.*s': %s; %s", SHOWN,
                          layer, SHOWN / 2, pick.group, pick.verdict.why, needs);
    if (has_transforms(qc))
        return fp8f__fail(NULL, FP8F_E_FORMAT,
                          "layer '%.*s': transform_config (online rotations such as QuIP or "
                          "SpinQuant) is not supported; %s",
                          SHOWN, layer, needs);
    *fmt = FP8F_QF_FP8_PER_TOKEN;
    return FP8F_OK;
}

/* ---- other quantization methods ---------------------------------------- */

/* The string member `key`, or `fallback` when it is absent or not a string. */
static const char *string_or(json_object *obj, const char *key, const char *fallback) {
    json_object *v = member(obj, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : fallback;
}

/* quant_method "fp8" (DeepSeek-V3, HF FineGrainedFP8, vLLM Fp8Config): block
 * weights with per-group activations, or per-tensor weights and activations. */
static fp8f_status refuse_fp8_method(json_object *qc) {
    const char *acts = string_or(qc, "activation_scheme", "dynamic");
    json_object *block = member(qc, "weight_block_size");
    if (block)
        return fp8f__fail(NULL, FP8F_E_FORMAT,
                          "quant_method 'fp8' with weight_block_size %.32s (block FP8: weights "
                          "scaled per block, activation_scheme '%.16s' per-group activation "
                          "scales); %s",
                          json_object_to_json_string_ext(block, JSON_C_TO_STRING_PLAIN), acts,
                          needs);
    return fp8f__fail(NULL, FP8F_E_FORMAT,
                      "quant_method 'fp8' without weight_block_size (per-tensor FP8 weights, "
                      "%.16s per-tensor activation scales); %s",
                      acts, needs);
}

static fp8f_status refuse_other_method(json_object *qc, const char *method) {
    const char *algo = string_or(qc, "quant_algo", NULL); /* modelopt: "FP8", "NVFP4" */
    return fp8f__fail(NULL, FP8F_E_FORMAT, "quant_method '%.48s'%s%.32s%s is not supported; %s",
                      method, algo ? " (quant_algo '" : "", algo ? algo : "", algo ? "')" : "",
                      needs);
}

/* ---- locating the quantization config ---------------------------------- */

/* The quantization config in a whole config.json (quantization_config, or
 * compression_config as vLLM also accepts), or the object itself when it is
 * one; *qc = NULL for an unquantized model. */
static fp8f_status find_quant_config(json_object *root, json_object **qc) {
    static const char *const keys[] = {"quantization_config", "compression_config"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_object *v = member(root, keys[i]);
        if (!v)
            continue;
        if (!json_object_is_type(v, json_type_object))
            return fp8f__fail(NULL, FP8F_E_FORMAT, "%s is %s, not an object", keys[i],
                              type_name(v));
        *qc = v;
        return FP8F_OK;
    }
    bool is_quant_config = member(root, "quant_method") || member(root, "config_groups");
    *qc = is_quant_config ? root : NULL;
    return FP8F_OK;
}

static fp8f_status detect_in_quant_config(json_object *qc, const char *layer,
                                          fp8f_quant_format *fmt) {
    json_object *method = member(qc, "quant_method");
    if (method && !json_object_is_type(method, json_type_string))
        return fp8f__fail(NULL, FP8F_E_FORMAT, "quant_method is %s, not a string",
                          type_name(method));
    /* A compressed-tensors config dumped without its quant_method still
     * says what it is through config_groups. */
    if (!method && !member(qc, "config_groups"))
        return fp8f__fail(NULL, FP8F_E_FORMAT,
                          "the quantization config has neither quant_method nor config_groups");
    const char *name = method ? json_object_get_string(method) : "compressed-tensors";
    if (strcmp(name, "compressed-tensors") == 0)
        return detect_compressed_tensors(qc, layer, fmt);
    if (strcmp(name, "fp8") == 0)
        return refuse_fp8_method(qc);
    return refuse_other_method(qc, name);
}

static fp8f_status detect_in_config(json_object *root, const char *layer,
                                    fp8f_quant_format *fmt) {
    if (!json_object_is_type(root, json_type_object))
        return fp8f__fail(NULL, FP8F_E_INVALID, "config_json holds %s, not a JSON object",
                          type_name(root));
    json_object *qc = NULL;
    fp8f_status st = find_quant_config(root, &qc);
    if (st != FP8F_OK)
        return st;
    if (!qc) {
        *fmt = FP8F_QF_NONE;
        return FP8F_OK;
    }
    return detect_in_quant_config(qc, layer, fmt);
}

fp8f_status fp8f_quant_format_detect(const char *config_json, const char *layer_name,
                                     fp8f_quant_format *out) {
    if (!config_json || !layer_name || !out)
        return fp8f__fail(NULL, FP8F_E_INVALID, "%s is NULL",
                          !config_json ? "config_json" : !layer_name ? "layer_name" : "out");
    if (!*layer_name)
        return fp8f__fail(NULL, FP8F_E_INVALID, "layer_name is empty");
    json_object *root = NULL;
    fp8f_status st = parse_strict_json(config_json, &root);
    if (st != FP8F_OK)
        return st;
    fp8f_quant_format fmt = FP8F_QF_NONE;
    st = detect_in_config(root, layer_name, &fmt); /* messages are written before the put */
    json_object_put(root);
    if (st == FP8F_OK)
        *out = fmt;
    return st;
}
