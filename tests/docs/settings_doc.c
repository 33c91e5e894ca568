/* Prints the README's configuration table from the one settings table
 * (udf/settings.def), so the two cannot disagree: check_readme.py compares
 * this output with the README, or writes it there (--write). The system
 * variable column is the plugin's naming rule: cached_embed_<name> for every
 * setting but the secrets. */
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
  char env[80], def[1200], var[80];
  printf("| file key | environment | system variable | default | meaning |\n");
  printf("|---|---|---|---|---|\n");
  printf("| — | `CACHED_EMBED_CONFIG` | — | `%s` | path of the config file "
         "(missing file: defaults) |\n",
         CE_CONFIG_DEFAULT_PATH);
  for (size_t i = 0; i < ce_n_settings; i++) {
    const ce_setting *s = &ce_settings[i];
    ce_setting_env_name(s, env, sizeof env);
    default_text(s, def, sizeof def);
    /* Secrets are never system variables (udf/plugin.c). */
    if (s->flags & CE_SECRET)
      snprintf(var, sizeof var, "—");
    else
      snprintf(var, sizeof var, "`cached_embed_%s`", s->name);
    printf("| `%s` | `%s` | %s | %s | %s |\n", s->name, env, var, def, s->help);
  }
  return 0;
}
