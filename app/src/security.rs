//! The pages' Content Security Policy: exactly what they load.
//!
//! - scripts: this origin (the bundle's JS, the local ECharts) and the
//!   inline hydration and resource scripts, which carry this response's
//!   nonce; `'wasm-unsafe-eval'` lets the bundle compile its WASM;
//! - styles: this origin's stylesheet; inline `style` attributes only
//!   (ECharts positions its tooltip with them), never `<style>` elements;
//! - connections (the WASM fetch, server functions, SSE): this origin;
//! - no frames, no plugins, no `<base>`, forms post only here.

/// The policy for a page whose inline scripts carry `nonce`; without one
/// (a page the server writes by hand, with no inline script), scripts only
/// from this origin.
pub fn policy(nonce: Option<&str>) -> String {
    let inline = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'{inline} 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-elem 'self'; style-src-attr 'unsafe-inline'; \
         img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_nonce_and_forbids_framing() {
        let p = policy(Some("abc"));
        assert!(!policy(None).contains("nonce"));
        assert!(p.contains("'nonce-abc'"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(p.contains("default-src 'none'"));
        let scripts = p
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        assert!(!scripts.contains("'unsafe-inline'") && !scripts.contains(" 'unsafe-eval'"));
    }
}
