/* float32 vectors as the server stores them: `dims` little-endian IEEE-754
 * float32 values, no header (the layout of MySQL 9 / MariaDB 11.7 VECTOR). */
#ifndef CE_VECTOR_H
#define CE_VECTOR_H

#include <stddef.h>
#include <stdint.h>

float ce_f32_load(const uint8_t *p);
void ce_f32_store(uint8_t *p, float v);

/* 1 when every value is finite (no NaN, no infinity). */
int ce_vec_finite(const uint8_t *vec, size_t dims);

/* Cosine similarity; 0 on success, -1 when either vector has zero norm. */
int ce_vec_cosine(const uint8_t *a, const uint8_t *b, size_t dims, double *out);

/* "[v0,v1,...]" with the shortest text that reads back to the same float32.
 * Returns the length written (NUL excluded), or 0 if `cap` is too small;
 * ce_vec_json_cap(dims) is always enough. */
size_t ce_vec_to_json(const uint8_t *vec, size_t dims, char *out, size_t cap);
size_t ce_vec_json_cap(size_t dims);

#endif
