/*
 * Numeric helpers that must match Redis 7.0 bit for bit, so they use the
 * same libc routines Redis does: strtod/strtold and snprintf, and C
 * `long double` arithmetic (x87 80-bit on x86_64), which Rust lacks.
 * Called only through the safe wrappers in num.rs.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis MAX_LONG_DOUBLE_CHARS: input length limit and output buffer size. */
#define HC_LD_MAX_CHARS (5 * 1024)

#define HC_ERR_VALUE (-1)  /* current value is not a valid float */
#define HC_ERR_INCR (-2)   /* increment is not a valid float */
#define HC_ERR_NANINF (-3) /* result would be NaN or infinity */
#define HC_ERR_BUF (-4)    /* caller's buffer is too small */

/* isspace() in the "C" locale; Redis never changes LC_CTYPE. */
static int hc_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/* Redis string2ld: the whole input must be a finite-or-inf, non-NaN
 * strtold number without leading space; overflow and underflow to zero
 * are rejected. */
static int hc_parse_ld(const char *s, size_t len, long double *out) {
    char buf[HC_LD_MAX_CHARS];
    char *end;
    long double v;

    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (hc_is_space(buf[0]) || *end != '\0' || (size_t)(end - buf) != len)
        return 0;
    if (errno == ERANGE && (isinf(v) || v == 0.0L)) return 0;
    if (errno == EINVAL || isnan(v)) return 0;
    *out = v;
    return 1;
}

int hc_ld_check(const char *s, size_t len) {
    long double v;
    return hc_parse_ld(s, len, &v);
}

/* INCRBYFLOAT: cur == NULL means the key is missing (value 0). On success
 * returns the length of the LD_STR_HUMAN result written to out. */
int hc_ld_incr(const char *cur, size_t cur_len, const char *incr,
               size_t incr_len, char *out, size_t out_cap) {
    long double value = 0.0L, by;
    char buf[HC_LD_MAX_CHARS];
    size_t l;
    int n;

    if (cur != NULL && !hc_parse_ld(cur, cur_len, &value)) return HC_ERR_VALUE;
    if (!hc_parse_ld(incr, incr_len, &by)) return HC_ERR_INCR;
    value += by;
    if (isnan(value) || isinf(value)) return HC_ERR_NANINF;

    n = snprintf(buf, sizeof(buf), "%.17Lf", value);
    if (n < 0 || (size_t)n + 1 > sizeof(buf)) {
        /* Redis's ld2string fails and it stores an empty string; cannot
         * happen for finite 80-bit values (max ~4950 chars). */
        l = 0;
    } else {
        l = (size_t)n;
        if (memchr(buf, '.', l) != NULL) {
            while (l > 0 && buf[l - 1] == '0') l--;
            if (l > 0 && buf[l - 1] == '.') l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') {
            buf[0] = '0';
            l = 1;
        }
    }
    if (l > out_cap) return HC_ERR_BUF;
    memcpy(out, buf, l);
    return (int)l;
}

/* Blocking-command timeout in seconds -> milliseconds, as Redis computes
 * it: (long long)ceill(value * 1000.0). An out-of-range conversion yields
 * LLONG_MIN, which is what x86_64 produces (and Redis then reports as a
 * negative timeout). Returns 0 if s is not a valid long double. */
int hc_ld_timeout_ms(const char *s, size_t len, long long *out) {
    long double v;
    if (!hc_parse_ld(s, len, &v)) return 0;
    v = ceill(v * 1000.0);
    if (v >= -9223372036854775808.0L && v < 9223372036854775808.0L)
        *out = (long long)v;
    else
        *out = (-9223372036854775807LL - 1);
    return 1;
}

/* Redis string2d. s must be NUL-terminated at s[len]. */
int hc_string2d(const char *s, size_t len, double *out) {
    char *end;
    double v;

    if (len == 0 || hc_is_space(s[0])) return 0;
    errno = 0;
    v = strtod(s, &end);
    if ((size_t)(end - s) != len) return 0;
    if (errno == ERANGE && (isinf(v) || v == 0.0)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* zslParseRange's strtod: whatever strtod takes (leading blanks, "" as 0, overflow to
 * infinity), as long as it consumes the whole string and the value is not NaN. */
int hc_strtod_lax(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* SORT's numeric key: strtod over the whole string, refusing overflow, underflow and NaN. */
int hc_strtod_sort(const char *s, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* addReplyDouble's "%.17g" (callers handle infinities themselves). */
int hc_fmt_g17(double v, char *out, size_t cap) {
    int n = snprintf(out, cap, "%.17g", v);
    if (n < 0 || (size_t)n >= cap) return -1;
    return n;
}
