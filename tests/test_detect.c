/*
 * fp8f_quant_format_detect: realistic config.json files (tests/data, found
 * through $FP8F_TEST_DATA), the shipped GLM-4.7-FP8 sample, and small
 * inline configs for the matching rules (Python re.match semantics, ignore,
 * several groups on one layer) and the error paths. Every failing call must
 * leave *out untouched and leave a message in fp8f_last_error(NULL).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"

/* A value fp8f_quant_format never takes: a failing call must leave it. */
#define SENTINEL ((fp8f_quant_format)77)
#define NONE FP8F_QF_NONE
#define PER_TOKEN FP8F_QF_FP8_PER_TOKEN

/* ---- helpers ------------------------------------------------------------ */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (set FP8F_TEST_DATA to tests/data)", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* tests/data/<name>; `make check` sets FP8F_TEST_DATA, a direct run from the
 * top of the tree finds tests/data. */
static char *read_data(const char *name) {
    const char *dir = getenv("FP8F_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", name);
    return read_file(path);
}

static void expect_format(const char *json, const char *layer, fp8f_quant_format want) {
    fp8f_quant_format out = SENTINEL;
    fp8f_status st = fp8f_quant_format_detect(json, layer, &out);
    ck_assert_msg(st == FP8F_OK, "%s: got %s (%s), want %s", layer, fp8f_status_str(st),
                  fp8f_last_error(NULL), fp8f_quant_format_name(want));
    ck_assert_msg(out == want, "%s: got format %d, want %s", layer, (int)out,
                  fp8f_quant_format_name(want));
}

/* `needle` (may be NULL) must appear in the message. */
static void expect_error(const char *json, const char *layer, fp8f_status want,
                         const char *needle) {
    fp8f_quant_format out = SENTINEL;
    fp8f_status st = fp8f_quant_format_detect(json, layer, &out);
    const char *msg = fp8f_last_error(NULL);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", layer ? layer : "(null)",
                  fp8f_status_str(st), msg, fp8f_status_str(want));
    ck_assert_msg(out == SENTINEL, "%s: *out was written on failure", layer ? layer : "(null)");
    ck_assert_msg(msg && msg[0], "empty error message");
    if (needle)
        ck_assert_msg(strstr(msg, needle), "message \"%s\" does not mention \"%s\"", msg,
                      needle);
}

/* A compressed-tensors quantization_config from its groups and ignore list
 * (both written without their brackets). */
static const char *ct_config(const char *groups, const char *ignore) {
    static char buf[4096];
    int n = snprintf(buf, sizeof buf,
                     "{\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\","
                     " \"config_groups\": {%s}, \"ignore\": [%s]}",
                     groups, ignore);
    ck_assert(n > 0 && (size_t)n < sizeof buf);
    return buf;
}

#define FP8_W                                                                                  \
    "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"channel\", \"symmetric\": true, "  \
    "\"dynamic\": false}"
#define FP8_A                                                                                  \
    "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"token\", \"symmetric\": true, "    \
    "\"dynamic\": true}"
#define FP8_BLOCK_W                                                                            \
    "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"block\", \"block_structure\": "    \
    "[128, 128], \"symmetric\": true, \"dynamic\": false}"
#define FP8_TENSOR_W                                                                           \
    "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"tensor\", \"symmetric\": true, "   \
    "\"dynamic\": false}"
#define INT8_W                                                                                 \
    "{\"type\": \"int\", \"num_bits\": 8, \"strategy\": \"channel\", \"symmetric\": true, "    \
    "\"dynamic\": false}"
#define INT8_A                                                                                 \
    "{\"type\": \"int\", \"num_bits\": 8, \"strategy\": \"token\", \"symmetric\": true, "      \
    "\"dynamic\": true}"
#define NVFP4_W                                                                                \
    "{\"type\": \"float\", \"num_bits\": 4, \"strategy\": \"tensor_group\", \"group_size\": "  \
    "16, \"symmetric\": true, \"dynamic\": false}"
#define NVFP4_A                                                                                \
    "{\"type\": \"float\", \"num_bits\": 4, \"strategy\": \"tensor_group\", \"group_size\": "  \
    "16, \"symmetric\": true, \"dynamic\": \"local\"}"
/* One config group; `targets` without brackets. */
#define GROUP(name, targets, w, a)                                                             \
    "\"" name "\": {\"targets\": [" targets "], \"weights\": " w ", \"input_activations\": " a \
    "}"
#define FP8_ALL GROUP("group_0", "\"Linear\"", FP8_W, FP8_A)

/* ---- realistic files ---------------------------------------------------- */

/* GLM-4.7-FP8: one "Linear" group, the router gates and the MTP head ignored. */
static void check_glm47_layers(const char *json) {
    static const char *const per_token[] = {
        "model.layers.3.self_attn.qkv_proj",       "model.layers.0.self_attn.o_proj",
        "model.layers.0.mlp.gate_up_proj",         "model.layers.2.mlp.down_proj",
        "model.layers.10.mlp.experts.17.down_proj", "model.layers.91.mlp.experts.159.gate_proj",
        "model.layers.10.mlp.shared_experts.up_proj"};
    static const char *const unquantized[] = {"lm_head", "model.layers.10.mlp.gate",
                                              "model.layers.0.mlp.gate",
                                              "model.layers.92.eh_proj",
                                              "model.layers.92.shared_head.head"};
    for (size_t i = 0; i < sizeof per_token / sizeof per_token[0]; i++)
        expect_format(json, per_token[i], PER_TOKEN);
    for (size_t i = 0; i < sizeof unquantized / sizeof unquantized[0]; i++)
        expect_format(json, unquantized[i], NONE);
}

START_TEST(glm47_whole_config) {
    char *json = read_data("glm47_fp8_config.json");
    check_glm47_layers(json);
    free(json);
}
END_TEST

START_TEST(glm47_quantization_config_object) {
    char *json = read_data("glm47_fp8_quantization_config.json");
    check_glm47_layers(json);
    free(json);
}
END_TEST

/* The sample the demo reads: it must answer like the test copy and carry
 * the GLM-4.7 dimensions the demo takes from it. */
START_TEST(shipped_glm47_sample) {
    const char *dir = getenv("FP8F_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/../../tools/configs/glm47-fp8.json",
             dir && *dir ? dir : "tests/data");
    char *json = read_file(path);
    check_glm47_layers(json);
    static const char *const fields[] = {
        "\"Glm4MoeForCausalLM\"",          "\"hidden_size\": 5120",
        "\"intermediate_size\": 12288",    "\"num_attention_heads\": 96",
        "\"num_key_value_heads\": 8",      "\"head_dim\": 128",
        "\"num_hidden_layers\": 92",       "\"first_k_dense_replace\": 3",
        "\"n_routed_experts\": 160",       "\"moe_intermediate_size\": 1536",
        "\"quant_method\": \"compressed-tensors\""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ck_assert_msg(strstr(json, fields[i]), "%s lacks %s", path, fields[i]);
    free(json);
}
END_TEST

START_TEST(deepseek_v3_block_fp8) {
    char *json = read_data("deepseek_v3_block_fp8_config.json");
    expect_error(json, "model.layers.0.self_attn.q_a_proj", FP8F_E_FORMAT, "block");
    expect_error(json, "model.layers.5.mlp.experts.3.down_proj", FP8F_E_FORMAT,
                 "weight_block_size [128,128]");
    free(json);
}
END_TEST

START_TEST(unquantized_model) {
    char *json = read_data("glm47_bf16_config.json");
    expect_format(json, "model.layers.3.self_attn.qkv_proj", NONE);
    expect_format(json, "model.layers.10.mlp.experts.0.down_proj", NONE);
    expect_format(json, "lm_head", NONE);
    free(json);
}
END_TEST

/* FP8 attention, NVFP4 experts: the answer depends on the layer. */
START_TEST(mixed_config_per_layer) {
    char *json = read_data("mixed_fp8_attn_nvfp4_experts_config.json");
    expect_format(json, "model.layers.4.self_attn.qkv_proj", PER_TOKEN);
    expect_format(json, "model.layers.4.self_attn.o_proj", PER_TOKEN);
    expect_error(json, "model.layers.4.mlp.experts.12.gate_proj", FP8F_E_FORMAT, "fp4");
    /* "re:.*experts.*" also reaches the shared experts, as it would in Python */
    expect_error(json, "model.layers.4.mlp.shared_experts.down_proj", FP8F_E_FORMAT, "group_1");
    expect_format(json, "model.layers.0.mlp.down_proj", NONE); /* no group covers it */
    expect_format(json, "model.layers.4.mlp.gate", NONE);      /* ignored */
    expect_format(json, "lm_head", NONE);
    free(json);
}
END_TEST

START_TEST(static_activation_fp8) {
    char *json = read_data("fp8_static_activations_config.json");
    expect_error(json, "model.layers.3.self_attn.qkv_proj", FP8F_E_FORMAT,
                 "static activation scales");
    expect_format(json, "lm_head", NONE);
    free(json);
}
END_TEST

START_TEST(per_tensor_weight_fp8) {
    char *json = read_data("fp8_per_tensor_weights_config.json");
    expect_error(json, "model.layers.3.mlp.experts.0.up_proj", FP8F_E_FORMAT,
                 "weights strategy 'tensor' (per-tensor FP8)");
    free(json);
}
END_TEST

START_TEST(weight_only_fp8) {
    char *json = read_data("fp8_weight_only_config.json");
    expect_error(json, "model.layers.3.self_attn.qkv_proj", FP8F_E_FORMAT, "weight-only");
    free(json);
}
END_TEST

START_TEST(int8_w8a8) {
    char *json = read_data("int8_w8a8_config.json");
    expect_error(json, "model.layers.3.self_attn.qkv_proj", FP8F_E_FORMAT, "int8");
    expect_format(json, "lm_head", NONE);
    free(json);
}
END_TEST

START_TEST(broken_files) {
    static const char *const files[][2] = {
        {"broken_truncated.json", "not valid JSON"},
        {"broken_trailing_garbage.json", "trailing characters"},
        {"broken_not_object.json", "not a JSON object"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *json = read_data(files[i][0]);
        expect_error(json, "model.layers.3.self_attn.qkv_proj", FP8F_E_INVALID, files[i][1]);
        free(json);
    }
}
END_TEST

/* ---- matching: Python re.match, exact names, "Linear", ignore ------------ */

/* re.match anchors at the start only: ".*gate" reaches gate_up_proj. */
START_TEST(regex_not_anchored_at_end) {
    const char *json = ct_config(FP8_ALL, "\"re:.*gate\"");
    expect_format(json, "model.layers.1.mlp.gate_up_proj", NONE);
    expect_format(json, "model.layers.1.mlp.gate", NONE);
    expect_format(json, "model.layers.1.self_attn.o_proj", PER_TOKEN);
    /* "$" still anchors where the pattern asks for it */
    json = ct_config(FP8_ALL, "\"re:.*mlp.gate$\"");
    expect_format(json, "model.layers.1.mlp.gate_up_proj", PER_TOKEN);
    expect_format(json, "model.layers.1.mlp.gate", NONE);
}
END_TEST

/* ... but must match at the start: "layers" is not a search. */
START_TEST(regex_anchored_at_start) {
    const char *json = ct_config(GROUP("g", "\"re:layers\"", FP8_W, FP8_A), "");
    expect_format(json, "model.layers.1.self_attn.o_proj", NONE);
    json = ct_config(GROUP("g", "\"re:model\\\\.layers\"", FP8_W, FP8_A), "");
    expect_format(json, "model.layers.1.self_attn.o_proj", PER_TOKEN);
    expect_format(json, "lm_head", NONE);
    json = ct_config(FP8_ALL, "\"re:self_attn\"");
    expect_format(json, "model.layers.1.self_attn.o_proj", PER_TOKEN);
}
END_TEST

/* Python syntax: \d, named groups, inline flags. */
START_TEST(regex_python_syntax) {
    const char *json = ct_config(FP8_ALL, "\"re:model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\.gate$\"");
    expect_format(json, "model.layers.17.mlp.gate", NONE);
    expect_format(json, "model.layers.x.mlp.gate", PER_TOKEN);
    expect_format(json, "model.layers.17.mlp.gate_up_proj", PER_TOKEN);
    json = ct_config(
        GROUP("g", "\"re:(?i)MODEL\\\\.layers\\\\.(?P<idx>[0-2])\\\\.\"", FP8_W, FP8_A), "");
    expect_format(json, "model.layers.2.mlp.up_proj", PER_TOKEN);
    expect_format(json, "model.layers.3.mlp.up_proj", NONE);
    expect_format(json, "model.layers.21.mlp.up_proj", NONE);
}
END_TEST

/* An entry without "re:" is a whole name: no prefix, no substring. */
START_TEST(exact_name_ignore) {
    const char *json = ct_config(FP8_ALL, "\"model.layers.0.self_attn.o_proj\", "
                                          "\"self_attn.qkv_proj\", \"model.layers.1.self_attn\"");
    expect_format(json, "model.layers.0.self_attn.o_proj", NONE);
    expect_format(json, "model.layers.10.self_attn.o_proj", PER_TOKEN);
    expect_format(json, "model.layers.0.self_attn.qkv_proj", PER_TOKEN);
    expect_format(json, "model.layers.1.self_attn.o_proj", PER_TOKEN);
}
END_TEST

START_TEST(exact_name_target) {
    const char *json = ct_config(GROUP("g", "\"model.layers.1.mlp.down_proj\"", FP8_W, FP8_A), "");
    expect_format(json, "model.layers.1.mlp.down_proj", PER_TOKEN);
    expect_format(json, "model.layers.1.mlp.down_proj_x", NONE);
    expect_format(json, "model.layers.1.mlp.up_proj", NONE);
    /* a class name other than Linear never covers a Linear layer */
    json = ct_config(GROUP("g", "\"Embedding\", \"Glm4MoeAttention\"", FP8_W, FP8_A), "");
    expect_format(json, "model.layers.1.self_attn.o_proj", NONE);
}
END_TEST

START_TEST(ignore_wins_over_targets) {
    const char *json = ct_config(GROUP("g", "\"model.layers.1.mlp.down_proj\"", FP8_W, FP8_A),
                                 "\"model.layers.1.mlp.down_proj\"");
    expect_format(json, "model.layers.1.mlp.down_proj", NONE);
    json = ct_config(FP8_ALL, "\"Linear\""); /* the class name in ignore: everything */
    expect_format(json, "model.layers.1.mlp.down_proj", NONE);
    /* ignore is read before the groups: a broken scheme does not matter */
    json = ct_config(GROUP("g", "\"Linear\"", FP8_BLOCK_W, FP8_A), "\"re:.*\"");
    expect_format(json, "model.layers.1.mlp.down_proj", NONE);
}
END_TEST

START_TEST(bad_regex) {
    const char *json = ct_config(GROUP("g", "\"re:model.(layers\"", FP8_W, FP8_A), "");
    expect_error(json, "model.layers.1.mlp.down_proj", FP8F_E_FORMAT, "re:model.(layers");
    json = ct_config(FP8_ALL, "\"re:[unclosed\"");
    expect_error(json, "model.layers.1.mlp.down_proj", FP8F_E_FORMAT, "ignore");
}
END_TEST

/* ---- several groups on one layer ----------------------------------------- */

/* A group naming the layer wins over a "Linear" default, in either order. */
START_TEST(named_group_beats_linear) {
    const char *json = ct_config(GROUP("default", "\"Linear\"", FP8_W, FP8_A) ", " GROUP(
                                     "experts", "\"re:.*mlp\\\\.experts\\\\.\"", NVFP4_W, NVFP4_A),
                                 "\"lm_head\"");
    expect_format(json, "model.layers.5.self_attn.o_proj", PER_TOKEN);
    expect_error(json, "model.layers.5.mlp.experts.0.up_proj", FP8F_E_FORMAT, "fp4");
    json = ct_config(GROUP("attn", "\"re:.*self_attn\"", FP8_W, FP8_A) ", " GROUP(
                         "default", "\"Linear\"", INT8_W, INT8_A),
                     "");
    expect_format(json, "model.layers.5.self_attn.o_proj", PER_TOKEN);
    expect_error(json, "model.layers.5.mlp.down_proj", FP8F_E_FORMAT, "int8");
}
END_TEST

/* Two groups of the same kind that disagree: engines differ, we refuse. */
START_TEST(disagreeing_groups_refused) {
    const char *json = ct_config(GROUP("fp8", "\"re:.*proj\"", FP8_W, FP8_A) ", " GROUP(
                                     "block", "\"re:model\"", FP8_BLOCK_W, FP8_A),
                                 "");
    expect_error(json, "model.layers.5.self_attn.o_proj", FP8F_E_FORMAT, "'block'");
    expect_format(json, "lm_proj", PER_TOKEN); /* only "fp8" reaches it */
    /* agreeing groups are fine */
    json = ct_config(GROUP("a", "\"re:.*proj\"", FP8_W, FP8_A) ", " GROUP("b", "\"re:model\"",
                                                                           FP8_W, FP8_A),
                     "");
    expect_format(json, "model.layers.5.self_attn.o_proj", PER_TOKEN);
}
END_TEST

/* Among agreeing groups the first in the text's order speaks. */
START_TEST(first_group_in_object_order) {
    const char *json = ct_config(GROUP("zeta", "\"Linear\"", FP8_BLOCK_W, FP8_A) ", " GROUP(
                                     "alpha", "\"Linear\"", FP8_TENSOR_W, FP8_A),
                                 "");
    expect_error(json, "model.layers.5.self_attn.o_proj", FP8F_E_FORMAT,
                 "config group 'zeta': weights strategy 'block' (block FP8)");
}
END_TEST

/* ---- where the config is, quant methods, scheme details ------------------ */

START_TEST(config_locations) {
    char buf[8192];
    snprintf(buf, sizeof buf, "{\"model_type\": \"glm4_moe\", \"compression_config\": %s}",
             ct_config(FP8_ALL, ""));
    expect_format(buf, "model.layers.1.self_attn.o_proj", PER_TOKEN);
    expect_format("{\"model_type\": \"glm4_moe\", \"quantization_config\": null}",
                  "model.layers.1.self_attn.o_proj", NONE);
    expect_format("{}", "model.layers.1.self_attn.o_proj", NONE);
    expect_error("{\"quantization_config\": \"fp8\"}", "model.layers.1.self_attn.o_proj",
                 FP8F_E_FORMAT, "quantization_config is a string");
    expect_error("{\"quantization_config\": {}}", "model.layers.1.self_attn.o_proj",
                 FP8F_E_FORMAT, "quant_method");
    /* a compressed-tensors dump without quant_method */
    expect_format("{\"config_groups\": {" FP8_ALL "}}", "model.layers.1.self_attn.o_proj",
                  PER_TOKEN);
    /* no groups at all: nothing is quantized */
    expect_format("{\"quant_method\": \"compressed-tensors\", \"config_groups\": {}}",
                  "model.layers.1.self_attn.o_proj", NONE);
    expect_format("{\"quant_method\": \"compressed-tensors\"}", "model.layers.1.self_attn.o_proj",
                  NONE);
}
END_TEST

START_TEST(other_quant_methods) {
    const char *layer = "model.layers.1.self_attn.o_proj";
    expect_error("{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\"}", layer,
                 FP8F_E_FORMAT, "per-tensor");
    expect_error("{\"quant_method\": \"fp8\", \"activation_scheme\": \"static\"}", layer,
                 FP8F_E_FORMAT, "static");
    expect_error("{\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4}}", layer,
                 FP8F_E_FORMAT, "'awq'");
    expect_error("{\"quant_method\": \"modelopt\", \"quant_algo\": \"NVFP4\"}", layer,
                 FP8F_E_FORMAT, "NVFP4");
    expect_error("{\"quant_method\": 8}", layer, FP8F_E_FORMAT, "quant_method");
}
END_TEST

/* A scheme that differs from ours in one field, and the message for it. */
static void expect_scheme_refused(const char *weights, const char *acts, const char *needle) {
    char groups[4096];
    snprintf(groups, sizeof groups,
             "\"g\": {\"targets\": [\"Linear\"], \"weights\": %s, \"input_activations\": %s}",
             weights, acts);
    expect_error(ct_config(groups, ""), "model.layers.1.mlp.down_proj", FP8F_E_FORMAT, needle);
}

START_TEST(scheme_details) {
    expect_scheme_refused(FP8_BLOCK_W, FP8_A, "weights strategy 'block' (block FP8)");
    expect_scheme_refused(NVFP4_W, NVFP4_A, "weights are fp4");
    expect_scheme_refused(FP8_W, NVFP4_A, "input_activations are fp4");
    expect_scheme_refused(FP8_W, INT8_A, "input_activations are int8");
    expect_scheme_refused("{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"channel\","
                          " \"symmetric\": false}",
                          FP8_A, "asymmetric");
    expect_scheme_refused(FP8_W,
                          "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"tensor\","
                          " \"dynamic\": true}",
                          "input_activations strategy 'tensor' (per-tensor FP8)");
    expect_scheme_refused(FP8_W,
                          "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"token\","
                          " \"dynamic\": \"local\"}",
                          "dynamic 'local'");
    /* absent fields take compressed-tensors' defaults: int, static, per-tensor */
    expect_scheme_refused(FP8_W, "{\"num_bits\": 8, \"strategy\": \"token\", \"dynamic\": true}",
                          "int8");
    expect_scheme_refused(FP8_W, "{\"type\": \"float\", \"num_bits\": 8, \"strategy\": \"token\"}",
                          "static activation scales");
    expect_scheme_refused("{\"type\": \"float\", \"num_bits\": 8}", FP8_A, "'tensor'");
    expect_scheme_refused(FP8_W, "null", "weight-only");
    expect_scheme_refused("null", FP8_A, "no weights");
    expect_scheme_refused("{\"type\": \"float\", \"num_bits\": \"8\", \"strategy\": \"channel\"}",
                          FP8_A, "num_bits");
    expect_scheme_refused("[8]", FP8_A, "weights is an array");
    /* group_size -1 means channel-wise when the strategy is absent */
    expect_format(ct_config(GROUP("g", "\"Linear\"",
                                  "{\"type\": \"float\", \"num_bits\": 8, \"group_size\": -1}",
                                  FP8_A),
                            ""),
                  "model.layers.1.mlp.down_proj", PER_TOKEN);
    /* output quantization, online rotations */
    expect_error(ct_config("\"g\": {\"targets\": [\"Linear\"], \"weights\": " FP8_W
                           ", \"input_activations\": " FP8_A
                           ", \"output_activations\": " FP8_A "}",
                           ""),
                 "model.layers.1.mlp.down_proj", FP8F_E_FORMAT, "output_activations");
    expect_error("{\"quant_method\": \"compressed-tensors\", \"config_groups\": {" FP8_ALL
                 "}, \"transform_config\": {\"config_groups\": {\"R1\": {\"type\": "
                 "\"hadamard\"}}}}",
                 "model.layers.1.mlp.down_proj", FP8F_E_FORMAT, "transform_config");
}
END_TEST

START_TEST(malformed_groups) {
    const char *layer = "model.layers.1.mlp.down_proj";
    expect_error("{\"quant_method\": \"compressed-tensors\", \"config_groups\": []}", layer,
                 FP8F_E_FORMAT, "config_groups is an array");
    expect_error(ct_config("\"g\": {\"weights\": " FP8_W "}", ""), layer, FP8F_E_FORMAT,
                 "targets are missing");
    expect_error(ct_config("\"g\": {\"targets\": \"Linear\"}", ""), layer, FP8F_E_FORMAT,
                 "not an array");
    expect_error(ct_config(GROUP("g", "7", FP8_W, FP8_A), ""), layer, FP8F_E_FORMAT,
                 "not a string");
    expect_error(ct_config("\"FP8_DYNAMIC\": [\"Linear\"]", ""), layer, FP8F_E_FORMAT,
                 "FP8_DYNAMIC");
    expect_error(ct_config(FP8_ALL, "{\"lm_head\": 1}"), layer, FP8F_E_FORMAT, "ignore");
}
END_TEST

/* ---- arguments and strict JSON ------------------------------------------- */

START_TEST(null_and_empty_arguments) {
    const char *json = ct_config(FP8_ALL, "");
    fp8f_quant_format out = SENTINEL;
    ck_assert_int_eq(fp8f_quant_format_detect(json, "lm_head", NULL), FP8F_E_INVALID);
    ck_assert_ptr_nonnull(strstr(fp8f_last_error(NULL), "out"));
    expect_error(NULL, "lm_head", FP8F_E_INVALID, "config_json");
    expect_error(json, NULL, FP8F_E_INVALID, "layer_name");
    expect_error(json, "", FP8F_E_INVALID, "layer_name");
    ck_assert_int_eq(out, SENTINEL);
}
END_TEST

START_TEST(strict_json) {
    const char *layer = "model.layers.1.self_attn.o_proj";
    char buf[8192];
    snprintf(buf, sizeof buf, "%s \n\t\r\n", ct_config(FP8_ALL, ""));
    expect_format(buf, layer, PER_TOKEN); /* trailing whitespace is fine */
    snprintf(buf, sizeof buf, "%s x", ct_config(FP8_ALL, ""));
    expect_error(buf, layer, FP8F_E_INVALID, "trailing characters");
    snprintf(buf, sizeof buf, "%s{}", ct_config(FP8_ALL, ""));
    expect_error(buf, layer, FP8F_E_INVALID, "trailing characters");
    snprintf(buf, sizeof buf, "%s // comment", ct_config(FP8_ALL, ""));
    expect_error(buf, layer, FP8F_E_INVALID, "trailing characters");
    expect_error("{\"quant_method\": \"fp8\",}", layer, FP8F_E_INVALID, "not valid JSON");
    expect_error("{\"quant_method\": \"compressed-tensors\", \"config_groups\": {", layer,
                 FP8F_E_INVALID, "not valid JSON");
    expect_error("{\"quant_method\": \"compressed-t", layer, FP8F_E_INVALID, "not valid JSON");
    expect_error("", layer, FP8F_E_INVALID, NULL);
    expect_error("   ", layer, FP8F_E_INVALID, NULL);
    expect_error("null", layer, FP8F_E_INVALID, "not a JSON object");
    expect_error("42", layer, FP8F_E_INVALID, "not a JSON object");
    expect_error("\"config\"", layer, FP8F_E_INVALID, "not a JSON object");
    expect_error("[{\"quant_method\": \"fp8\"}]", layer, FP8F_E_INVALID, "not a JSON object");
}
END_TEST

/* A long layer name is quoted, truncated, in a message that fits. */
START_TEST(long_layer_name) {
    char layer[3000];
    memset(layer, 'a', sizeof layer - 1);
    layer[sizeof layer - 1] = '\0';
    expect_error(ct_config(GROUP("g", "\"Linear\"", FP8_BLOCK_W, FP8_A), ""), layer,
                 FP8F_E_FORMAT, "block FP8");
    ck_assert_uint_lt(strlen(fp8f_last_error(NULL)), 512);
    expect_format(ct_config(FP8_ALL, ""), layer, PER_TOKEN);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *detect_suite(void) {
    Suite *s = suite_create("quant_format_detect");
    TCase *files = tcase_create("files");
    tcase_add_test(files, glm47_whole_config);
    tcase_add_test(files, glm47_quantization_config_object);
    tcase_add_test(files, shipped_glm47_sample);
    tcase_add_test(files, deepseek_v3_block_fp8);
    tcase_add_test(files, unquantized_model);
    tcase_add_test(files, mixed_config_per_layer);
    tcase_add_test(files, static_activation_fp8);
    tcase_add_test(files, per_tensor_weight_fp8);
    tcase_add_test(files, weight_only_fp8);
    tcase_add_test(files, int8_w8a8);
    tcase_add_test(files, broken_files);
    suite_add_tcase(s, files);

    TCase *matching = tcase_create("matching");
    tcase_add_test(matching, regex_not_anchored_at_end);
    tcase_add_test(matching, regex_anchored_at_start);
    tcase_add_test(matching, regex_python_syntax);
    tcase_add_test(matching, exact_name_ignore);
    tcase_add_test(matching, exact_name_target);
    tcase_add_test(matching, ignore_wins_over_targets);
    tcase_add_test(matching, bad_regex);
    suite_add_tcase(s, matching);

    TCase *groups = tcase_create("groups");
    tcase_add_test(groups, named_group_beats_linear);
    tcase_add_test(groups, disagreeing_groups_refused);
    tcase_add_test(groups, first_group_in_object_order);
    suite_add_tcase(s, groups);

    TCase *schemes = tcase_create("schemes");
    tcase_add_test(schemes, config_locations);
    tcase_add_test(schemes, other_quant_methods);
    tcase_add_test(schemes, scheme_details);
    tcase_add_test(schemes, malformed_groups);
    suite_add_tcase(s, schemes);

    TCase *args = tcase_create("arguments");
    tcase_add_test(args, null_and_empty_arguments);
    tcase_add_test(args, strict_json);
    tcase_add_test(args, long_layer_name);
    suite_add_tcase(s, args);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(detect_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
