//! Response compression on the real binary (embedded mode), with a site
//! folder of its own:
//! - `Accept-Encoding: br` (or gzip) gets the WASM compressed, and it
//!   decodes to the very bytes of the file; pages and JSON are compressed
//!   too;
//! - no `Accept-Encoding` gets identity;
//! - small answers, the webhook's answers (even a large one) and SSE are
//!   never compressed, and SSE still delivers each event at once.
//!
//! And a site built by the site build's last step (`web/build.mjs`):
//! - the page names the build files by their content hashes, and each name
//!   resolves, precompressed, with a cache header that keeps it for good;
//! - pages and the API say `no-cache`; static files carry an `ETag`, and a
//!   matching `If-None-Match` gets a 304 without a body.

use crate::common;

use common::deployment::{Env, Mode};
use common::SseReader;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use std::io::Read;
use std::time::Duration;

/// A WASM-like file: repeated sections with some noise, 400 KB.
fn wasm_bytes() -> Vec<u8> {
    let mut out = Vec::with_capacity(400_000);
    let mut x: u32 = 12345;
    while out.len() < 400_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.extend_from_slice(b"\0asm\x01\0\0\0function body ");
        out.push((x >> 16) as u8);
    }
    out
}

/// A client that leaves the body as it came.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_brotli()
        .no_gzip()
        .build()
        .unwrap()
}

async fn get(env: &Env, path: &str, encoding: Option<&str>) -> reqwest::Response {
    let mut r = plain_client().get(format!("{}{path}", env.base(0)));
    if let Some(e) = encoding {
        r = r.header(ACCEPT_ENCODING, e);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn raw(env: &Env, path: &str, encoding: Option<&str>) -> (Option<String>, Vec<u8>) {
    let r = get(env, path, encoding).await;
    assert!(r.status().is_success(), "{path}: {}", r.status());
    let encoding = r
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap().to_owned());
    (encoding, r.bytes().await.unwrap().to_vec())
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn files_pages_and_json_are_compressed_as_asked_and_streams_and_the_webhook_are_not() {
    let mut env = Env::new(Mode::Embedded).await;
    let site = env.dir.join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let wasm = wasm_bytes();
    std::fs::write(site.join("pkg/tickpulse_bg.wasm"), &wasm).unwrap();
    let site_root = site.to_string_lossy().into_owned();
    env.start("a", &[("SITE_ROOT", site_root.as_str())]).await;
    for i in 0..30 {
        env.tick(&format!("Z{i:02}"), "10.5").await;
    }

    // The WASM: brotli and gzip decode to the file; identity is the file.
    let (encoding, body) = raw(&env, "/pkg/tickpulse_bg.wasm", Some("br, gzip")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(
        body.len() < wasm.len() / 2,
        "{} of {} bytes",
        body.len(),
        wasm.len()
    );
    assert!(unbrotli(&body) == wasm, "brotli decodes to the same bytes");
    let (encoding, body) = raw(&env, "/pkg/tickpulse_bg.wasm", Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert!(ungzip(&body) == wasm, "gzip decodes to the same bytes");
    let (encoding, body) = raw(&env, "/pkg/tickpulse_bg.wasm", None).await;
    assert_eq!(encoding, None, "no Accept-Encoding, no encoding");
    assert!(body == wasm);

    // A page and the API's JSON; a small answer stays as it is.
    let (encoding, body) = raw(&env, "/", Some("br")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(String::from_utf8(unbrotli(&body))
        .unwrap()
        .contains("<!DOCTYPE html>"));
    let (encoding, body) = raw(&env, "/api/symbols", Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let ticks: serde_json::Value = serde_json::from_slice(&ungzip(&body)).unwrap();
    assert_eq!(ticks.as_array().unwrap().len(), 30);
    let (encoding, _) = raw(&env, "/health/liveness", Some("br")).await;
    assert_eq!(encoding, None, "a small answer is not compressed");

    // The webhook: even a large refusal (a detail per bad tick) is plain.
    let bad: Vec<serde_json::Value> = (0..300)
        .map(|i| serde_json::json!({"symbol": "", "price": "x", "event_id": format!("bad-{i}")}))
        .collect();
    let r = env
        .http
        .post(format!("{}/ingest/ticks", env.base(0)))
        .basic_auth(common::USER, Some(common::PASSWORD))
        .header(ACCEPT_ENCODING, "br, gzip")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get(CONTENT_ENCODING).is_none());
    assert!(r.bytes().await.unwrap().len() > 10_000, "a large answer");

    // SSE: never encoded, and a tick posted after connecting arrives as its
    // own event without waiting for more.
    let stream = env
        .http
        .get(format!("{}/api/stream?symbols=Z01", env.base(0)))
        .header(ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert!(stream.headers().get(CONTENT_ENCODING).is_none());
    let mut reader = SseReader::new(stream);
    reader
        .next_of("snapshot", Duration::from_secs(10))
        .await
        .expect("the snapshot");
    env.tick("Z01", "11.25").await;
    let (_, _, data) = reader
        .next_of("tick", Duration::from_secs(10))
        .await
        .expect("the tick, flushed at once");
    assert!(data.contains("11.25"), "{data}");
}

/// Every path of the page's `<head>` that names a build file.
fn build_files(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for quote in html.split('"') {
        let named = (quote.starts_with("/pkg/tickpulse.") || quote.starts_with("/echarts."))
            && [".js", ".wasm", ".css"].iter().any(|e| quote.ends_with(e));
        if named && !found.iter().any(|f| f == quote) {
            found.push(quote.to_owned());
        }
    }
    found
}

#[tokio::test]
async fn a_built_site_is_named_by_content_kept_for_good_and_revalidated_by_etag() {
    let mut env = Env::new(Mode::Embedded).await;
    // The inputs of the last build step, as wasm-bindgen and the stylesheet
    // copy leave them; then the step itself.
    let site = env.dir.join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let wasm = wasm_bytes();
    std::fs::write(site.join("pkg/tickpulse_bg.wasm"), &wasm).unwrap();
    std::fs::write(
        site.join("pkg/tickpulse.js"),
        "export default async function init() {}\n".repeat(40),
    )
    .unwrap();
    std::fs::write(
        site.join("pkg/tickpulse.css"),
        "body { margin: 0 }\n".repeat(100),
    )
    .unwrap();
    std::fs::write(
        site.join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let step = std::process::Command::new("node")
        .arg(root.join("web/build.mjs"))
        .arg(&site)
        .arg("debug")
        .output()
        .expect("node runs web/build.mjs (scripts/setup.sh installs it)");
    assert!(
        step.status.success(),
        "{}",
        String::from_utf8_lossy(&step.stderr)
    );
    let site_root = site.to_string_lossy().into_owned();
    env.start("a", &[("SITE_ROOT", site_root.as_str())]).await;

    // The page names the four build files by hash, and no file by its
    // plain name; the page itself is revalidated each time.
    let page = get(&env, "/", None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, CACHE_CONTROL).as_deref(), Some("no-cache"));
    let html = page.text().await.unwrap();
    let files = build_files(&html);
    let hashed = |prefix: &str, ext: &str| {
        files.iter().any(|f| {
            f.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(ext))
                .is_some_and(|hash| hash.len() == 16)
        })
    };
    assert!(hashed("/pkg/tickpulse.", ".js"), "{files:?}");
    assert!(hashed("/pkg/tickpulse.", ".wasm"), "{files:?}");
    assert!(hashed("/pkg/tickpulse.", ".css"), "{files:?}");
    assert!(hashed("/echarts.", ".js"), "{files:?}");
    assert!(!html.contains("tickpulse_bg.wasm") && !html.contains("/pkg/tickpulse.css\""));
    assert_eq!(
        get(&env, "/pkg/tickpulse_bg.wasm", None).await.status(),
        404,
        "renamed by the build"
    );

    for file in &files {
        let r = get(&env, file, Some("br, gzip")).await;
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(
            header(&r, CACHE_CONTROL).as_deref(),
            Some("public, max-age=31536000, immutable"),
            "{file}"
        );
        assert_eq!(
            header(&r, CONTENT_ENCODING).as_deref(),
            Some("br"),
            "{file}"
        );
        // Served as the build wrote it, not compressed again per request.
        let on_disk =
            std::fs::read(site.join(format!("{}.br", file.trim_start_matches('/')))).unwrap();
        assert!(
            r.bytes().await.unwrap() == on_disk,
            "{file}: the precompressed file"
        );
    }
    let wasm_path = files.iter().find(|f| f.ends_with(".wasm")).unwrap();
    let (encoding, body) = raw(&env, wasm_path, Some("br")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(
        unbrotli(&body) == wasm,
        "brotli decodes to the WASM's bytes"
    );
    let (encoding, body) = raw(&env, wasm_path, None).await;
    assert_eq!(encoding, None);
    assert!(body == wasm, "identity is the WASM itself");

    // ETags: one per file and encoding; a match is a 304 without a body.
    let first = get(&env, wasm_path, Some("br")).await;
    let br_tag = header(&first, ETAG).expect("an ETag");
    let plain_tag = header(&get(&env, wasm_path, None).await, ETAG).unwrap();
    assert_ne!(br_tag, plain_tag, "the encodings differ, so do their tags");
    let again = plain_client()
        .get(format!("{}{wasm_path}", env.base(0)))
        .header(ACCEPT_ENCODING, "br")
        .header(IF_NONE_MATCH, &br_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, ETAG).as_deref(), Some(br_tag.as_str()));
    assert!(again.bytes().await.unwrap().is_empty());
    let changed = plain_client()
        .get(format!("{}{wasm_path}", env.base(0)))
        .header(IF_NONE_MATCH, "\"another\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        changed.status(),
        200,
        "a tag that does not match gets the file"
    );

    // A file without a hash in its name: revalidated, by its ETag.
    let icon = get(&env, "/favicon.svg", None).await;
    assert_eq!(icon.status(), 200);
    assert_eq!(header(&icon, CACHE_CONTROL).as_deref(), Some("no-cache"));
    let icon_tag = header(&icon, ETAG).expect("an ETag on a static file");
    let revalidated = plain_client()
        .get(format!("{}/favicon.svg", env.base(0)))
        .header(IF_NONE_MATCH, &icon_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    // The API: revalidated too, and no ETag (it is not a file).
    let api = get(&env, "/api/symbols", None).await;
    assert_eq!(header(&api, CACHE_CONTROL).as_deref(), Some("no-cache"));
    assert_eq!(header(&api, ETAG), None);
}
