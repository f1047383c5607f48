/*
 * libFuzzer harness: fp8f_quant_format_parse and fp8f_quant_format_name.
 *
 * The input is the name, copied into an allocation of exactly its length
 * plus the terminating NUL (so that reading past the end is an ASan
 * report). Contract checked: FP8F_OK exactly for "none" and
 * "fp8_per_token" (no prefixes, no case folding, no trailing bytes), with
 * the value whose fp8f_quant_format_name is the input; FP8F_E_FORMAT for
 * every other string, with a message and *out untouched; FP8F_E_INVALID
 * for NULL arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp8fuse.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_op = "fp8f_quant_format_parse";
    char *name = malloc(size + 1);
    if (!name)
        return 0;
    memcpy(name, data, size);
    name[size] = '\0'; /* an embedded NUL ends the name early: also a case */

    const fp8f_quant_format sentinel = (fp8f_quant_format)0x5c5c5c5c;
    fp8f_quant_format out = sentinel;
    fp8f_status s = fp8f_quant_format_parse(name, &out);
    int want_ok = !strcmp(name, "none") || !strcmp(name, "fp8_per_token");
    if (want_ok) {
        FZ_CHECK(s == FP8F_OK, "\"%s\" refused: %s", name, fp8f_status_str(s));
        const char *back = fp8f_quant_format_name(out);
        FZ_CHECK(back && !strcmp(back, name), "\"%s\" parsed to %d, whose name is %s", name,
                 (int)out, back ? back : "NULL");
    } else {
        FZ_CHECK(s == FP8F_E_FORMAT, "\"%.80s\" (%zu bytes) gave %s, expected FP8F_E_FORMAT",
                 name, strlen(name), fp8f_status_str(s));
        FZ_CHECK(out == sentinel, "*out written on error");
        fz_check_message(NULL, s);
    }

    /* NULL arguments: INVALID, nothing written. */
    out = sentinel;
    FZ_CHECK(fp8f_quant_format_parse(NULL, &out) == FP8F_E_INVALID && out == sentinel,
             "NULL name");
    fz_check_message(NULL, FP8F_E_INVALID);
    FZ_CHECK(fp8f_quant_format_parse(name, NULL) == FP8F_E_INVALID, "NULL out");
    fz_check_message(NULL, FP8F_E_INVALID);

    /* The name function on the input read as a number. */
    int v = 0;
    memcpy(&v, data, size < sizeof v ? size : sizeof v);
    const char *n = fp8f_quant_format_name((fp8f_quant_format)v);
    FZ_CHECK((v == 0 || v == 1) == (n != NULL), "fp8f_quant_format_name(%d)", v);
    if (n) {
        fp8f_quant_format back;
        FZ_CHECK(fp8f_quant_format_parse(n, &back) == FP8F_OK && (int)back == v,
                 "name(%d) = \"%s\" does not parse back", v, n);
    }
    free(name);
    return 0;
}
