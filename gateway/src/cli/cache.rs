//! `cache status` and `cache clear`.

use std::path::Path;

use anyhow::{bail, Context};

use super::CacheAction;
use crate::cache::Cache;
use crate::config;

pub(super) async fn cache_cmd(path: &Path, action: CacheAction) -> anyhow::Result<i32> {
    let mut loaded = config::load(path).with_context(|| format!("loading {}", path.display()))?;
    // The same cache the gateway uses: `ENKRYPT_CACHE_*` win over the file, as for `start`.
    config::env::apply_cache_env(&mut loaded.config.common).map_err(anyhow::Error::msg)?;
    let cache = match Cache::connect_remote(&loaded.config.common).await {
        Ok(c) => c,
        Err(e) => bail!("{e}"),
    };
    match action {
        CacheAction::Status { json } => {
            let st = cache.status().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!("{}", st.to_text());
            }
            Ok(if st.reachable { 0 } else { 1 })
        }
        CacheAction::Clear { server, all } => {
            let n = match (server, all) {
                (_, true) => cache.clear_all().await?,
                (Some(s), false) => {
                    let mut n = 0;
                    for mc in loaded.config.mcp_configs.values() {
                        if mc.server(&s).is_some() {
                            n += cache.clear_server(&mc.id, &s).await?;
                        }
                    }
                    n
                }
                (None, false) => cache.clear_all_tools().await?,
            };
            println!("Cleared {n} cache entries");
            Ok(0)
        }
    }
}
