//! What browsers are told: every page carries a Content Security Policy with
//! its own script nonce (and every inline script that nonce), no page can
//! be framed, nothing is sniffed; a cross-site form post is refused with 403.

use crate::common;

use common::TestServer;
use tickpulse_app::PAGES;

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} on {}", r.url()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn every_page_has_a_policy_with_its_nonce_and_the_browser_headers() {
    let s = TestServer::start().await;
    s.accept("SEC", "1", "sec", 1).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut nonces = Vec::new();
    let paths = PAGES
        .iter()
        .map(|p| p.path.replace("{id}", "SEC"))
        .chain(["/no-such-page".to_owned()]);
    for path in paths {
        let r = client.get(s.url(&path)).send().await.unwrap();
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        let csp = header(&r, "content-security-policy").to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if r.status().is_redirection() {
            continue;
        }
        let html = r.text().await.unwrap();
        assert!(html.contains("<html"), "{path} is a page");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"))
            .to_owned();
        assert!(nonce.len() >= 16, "{path}: nonce {nonce:?}");
        // Every inline script carries it; scripts from files need none.
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap();
            if !open.contains("src=") {
                assert!(
                    open.contains(&format!("nonce=\"{nonce}\"")),
                    "{path}: inline script without the nonce: <script{open}>"
                );
            }
        }
        nonces.push(nonce);
    }
    assert!(nonces.len() >= 2, "pages rendered: {nonces:?}");
    let distinct: std::collections::HashSet<_> = nonces.iter().collect();
    assert_eq!(distinct.len(), nonces.len(), "a nonce is used once");
    // Files and the API get a policy that allows nothing.
    let r = client.get(s.url("/api/symbols")).send().await.unwrap();
    assert!(header(&r, "content-security-policy").starts_with("default-src 'none'"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    s.stop().await;
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_with_403() {
    let s = TestServer::start().await;
    let client = reqwest::Client::new();
    let form = [("username", "admin"), ("password", "x"), ("next", "/")];
    for path in ["/auth/login", "/auth/logout"] {
        let by_origin = client
            .post(s.url(path))
            .header("origin", "http://evil.example")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(by_origin.status(), 403, "{path} with a foreign Origin");
        let body: serde_json::Value = by_origin.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("cross-site"),
            "{body}"
        );
        let by_fetch_site = client
            .post(s.url(path))
            .header("sec-fetch-site", "cross-site")
            .header("origin", &s.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(by_fetch_site.status(), 403, "{path} marked cross-site");
        let same = client
            .post(s.url(path))
            .header("sec-fetch-site", "same-origin")
            .header("origin", &s.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_ne!(same.status(), 403, "{path} from this site");
    }
    s.stop().await;
}
