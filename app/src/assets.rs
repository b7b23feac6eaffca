//! The site's build files by the names the site build gave them
//! (`scripts/build-site.sh` names each by a hash of its content and lists
//! the hashes in `pkg/hash.txt`): the page links them, and the server serves
//! exactly those names as immutable.

use leptos::prelude::*;

/// Where the browser finds the chart library (read by the WASM, which
/// loads it only when a page draws a chart).
pub const ECHARTS_META: &str = "tickpulse-echarts";

/// The URL paths of the build files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assets {
    pub js: String,
    pub wasm: String,
    pub css: String,
    pub echarts: String,
    /// GraphiQL's script and stylesheet (the `/graphiql` page alone).
    pub graphiql: String,
    pub graphiql_css: String,
    /// Whether the names carry content hashes (so never change content).
    pub hashed: bool,
}

impl Assets {
    /// The names of a site built without hashes.
    pub fn plain() -> Self {
        Self {
            js: "/pkg/tickpulse.js".into(),
            wasm: "/pkg/tickpulse_bg.wasm".into(),
            css: "/pkg/tickpulse.css".into(),
            echarts: "/echarts.js".into(),
            graphiql: "/graphiql.js".into(),
            graphiql_css: "/graphiql.css".into(),
            hashed: false,
        }
    }

    /// The names `hash.txt` gives (lines `key: hash`; `js`, `wasm`, `css`,
    /// `echarts`, `graphiql` and `graphiql_css` must all be there).
    pub fn from_hashes(text: &str) -> Result<Self, String> {
        let hash = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, h)| h.trim().to_owned())
                .filter(|h| {
                    !h.is_empty()
                        && h.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
                .ok_or_else(|| format!("no valid `{key}:` line"))
        };
        Ok(Self {
            js: format!("/pkg/tickpulse.{}.js", hash("js")?),
            wasm: format!("/pkg/tickpulse.{}.wasm", hash("wasm")?),
            css: format!("/pkg/tickpulse.{}.css", hash("css")?),
            echarts: format!("/echarts.{}.js", hash("echarts")?),
            graphiql: format!("/graphiql.{}.js", hash("graphiql")?),
            graphiql_css: format!("/graphiql.{}.css", hash("graphiql_css")?),
            hashed: true,
        })
    }

    /// Whether `path` is one of the hashed build files, which may be cached
    /// for good.
    pub fn immutable(&self, path: &str) -> bool {
        self.hashed
            && [
                &self.js,
                &self.wasm,
                &self.css,
                &self.echarts,
                &self.graphiql,
                &self.graphiql_css,
            ]
            .iter()
            .any(|p| *p == path)
    }
}

/// The chart library's path, for a page that draws charts to preload it.
pub fn echarts_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<Assets>()
            .unwrap_or_else(Assets::plain)
            .echarts
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .query_selector(&format!("meta[name={ECHARTS_META}]"))
            .ok()
            .flatten()
            .and_then(|m| m.get_attribute("content"))
            .unwrap_or_else(|| Assets::plain().echarts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_name_the_files_and_only_those_are_immutable() {
        let assets = Assets::from_hashes(
            "js: aaaa\nwasm: bb_b\ncss: c-cc\necharts: dddd\ngraphiql: eeee\ngraphiql_css: ffff\n",
        )
        .unwrap();
        assert_eq!(assets.js, "/pkg/tickpulse.aaaa.js");
        assert_eq!(assets.wasm, "/pkg/tickpulse.bb_b.wasm");
        assert_eq!(assets.css, "/pkg/tickpulse.c-cc.css");
        assert_eq!(assets.echarts, "/echarts.dddd.js");
        assert_eq!(assets.graphiql, "/graphiql.eeee.js");
        assert!(assets.immutable("/graphiql.ffff.css"));
        assert!(assets.immutable("/pkg/tickpulse.bb_b.wasm"));
        assert!(!assets.immutable("/pkg/tickpulse.css"));
        assert!(!assets.immutable("/favicon.svg"));
        assert!(!Assets::plain().immutable("/pkg/tickpulse.css"));
    }

    #[test]
    fn a_hash_file_without_a_name_or_with_a_path_in_it_is_refused() {
        let missing = Assets::from_hashes("js: a\nwasm: b\ncss: c\n").unwrap_err();
        assert!(missing.contains("echarts"), "{missing}");
        assert!(Assets::from_hashes("js: ../x\nwasm: b\ncss: c\necharts: d").is_err());
    }
}
