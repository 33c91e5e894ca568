/* Prints the README's configuration table from the one settings table
 * (udf/settings.def), so the two cannot disagree: check_readme.py compares
 * this output with the README, or writes it there (--write). */
#include "config.h"

#include <stdio.h>
#include <string.h>

static void default_text(const ce_setting *s, char *out, size_t cap) {
  ce_config c;
  char v[1100];
  ce_config_defaults(&c);
  ce_setting_format(&c, s, v, sizeof v);
  if (!v[0])
    snprintf(out, cap, "unset");
  else
    snprintf(out, cap, "`%s`", v);
}

int main(void) {
  char env[80], def[1200];
  printf("| file key | environment | default | meaning |\n");
  printf("|---|---|---|---|\n");
  printf("| — | `CACHED_EMBED_CONFIG` | `%s` | path of the config file "
         "(missing file: defaults) |\n",
         CE_CONFIG_DEFAULT_PATH);
  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    ce_setting_env_name(s, env, sizeof env);
    default_text(s, def, sizeof def);
    printf("| `%s` | `%s` | %s | %s |\n", s->name, env, def, s->help);
  }
  return 0;
}
