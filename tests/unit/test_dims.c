#include "check.h"
#include "dims.h"

static ce_config with_model(const char *model) {
  ce_config c;
  ce_config_defaults(&c);
  snprintf(c.model, sizeof c.model, "%s", model);
  return c;
}

static int check(const ce_config *c, uint32_t dims) {
  char err[120] = "";
  int rc = ce_dims_check(c, dims, err, sizeof err);
  CHECK(rc == 0 ? !err[0] : strstr(err, "dimensions") != NULL);
  return rc;
}

/* A configured size and a published one never change. */
static void test_fixed(void) {
  ce_config c = with_model("jina-embeddings-v2-base-en");
  char err[120];
  CHECK(ce_dims_fixed(&c) == 768 && ce_dims_expected(&c) == 768);
  CHECK(check(&c, 768) == 0);
  for (int i = 0; i < 10; i++)
    CHECK(check(&c, 1024) == -1);
  CHECK(ce_dims_expected(&c) == 768);
  ce_dims_check(&c, 1024, err, sizeof err);
  CHECK_STR(err, "expected 768 dimensions, got 1024");

  c = with_model("my-model-a");
  c.dimensions = 256;
  for (int i = 0; i < 10; i++)
    CHECK(check(&c, 512) == -1);
  CHECK(ce_dims_expected(&c) == 256 && check(&c, 256) == 0);
}

/* A learned size: the first answer sets it; one answer of another length is
 * refused; CE_DIMS_RELEARN agreeing answers in a row replace it. */
static void test_relearn(void) {
  ce_config c = with_model("my-model-b");
  char err[120];
  CHECK(ce_dims_fixed(&c) == 0 && ce_dims_expected(&c) == 0);
  CHECK(check(&c, 768) == 0);
  CHECK(ce_dims_expected(&c) == 768);

  /* a single answer of the wrong length is refused */
  CHECK(check(&c, 1024) == -1);
  ce_dims_check(&c, 1024, err, sizeof err);
  CHECK_STR(err, "expected 768 dimensions, got 1024");
  CHECK(ce_dims_expected(&c) == 768);
  /* an answer of the learned size breaks the run */
  CHECK(check(&c, 768) == 0);
  CHECK(check(&c, 1024) == -1);
  /* so does an answer of a third size */
  CHECK(check(&c, 512) == -1);
  for (int i = 1; i < CE_DIMS_RELEARN; i++)
    CHECK(check(&c, 1024) == -1);
  CHECK(ce_dims_expected(&c) == 768);
  /* the run completes: the new size is learned and this answer taken */
  CHECK(check(&c, 1024) == 0);
  CHECK(ce_dims_expected(&c) == 1024);
  CHECK(check(&c, 1024) == 0);
  /* and the old one is now refused like any other */
  CHECK(check(&c, 768) == -1);
  CHECK(ce_dims_expected(&c) == 1024);
}

/* Each endpoint and model learns on its own. */
static void test_independent(void) {
  ce_config a = with_model("my-model-c"), b = with_model("my-model-c");
  snprintf(b.endpoint, sizeof b.endpoint, "http://other.example/v1/embeddings");
  CHECK(check(&a, 384) == 0 && check(&b, 1536) == 0);
  CHECK(ce_dims_expected(&a) == 384 && ce_dims_expected(&b) == 1536);
  for (int i = 0; i < CE_DIMS_RELEARN; i++)
    check(&a, 1536);
  CHECK(ce_dims_expected(&a) == 1536 && ce_dims_expected(&b) == 1536);
  CHECK(check(&b, 384) == -1);
}

int main(void) {
  test_fixed();
  test_relearn();
  test_independent();
  return CHECK_DONE();
}
