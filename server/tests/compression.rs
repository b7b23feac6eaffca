//! Response compression on the real binary (embedded mode), with a site
//! folder of its own:
//! - `Accept-Encoding: br` (or gzip) gets the WASM compressed, and it
//!   decodes to the very bytes of the file; pages and JSON are compressed
//!   too;
//! - no `Accept-Encoding` gets identity;
//! - small answers, the webhook's answers (even a large one) and SSE are
//!   never compressed, and SSE still delivers each event at once.

mod common;

use common::deployment::{Env, Mode};
use common::SseReader;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};
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

async fn raw(env: &Env, path: &str, encoding: Option<&str>) -> (Option<String>, Vec<u8>) {
    let client = reqwest::Client::builder()
        .no_brotli()
        .no_gzip()
        .build()
        .unwrap();
    let mut r = client.get(format!("{}{path}", env.base(0)));
    if let Some(e) = encoding {
        r = r.header(ACCEPT_ENCODING, e);
    }
    let r = r.send().await.unwrap();
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
