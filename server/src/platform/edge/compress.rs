//! Response compression: brotli or gzip, as the request's `Accept-Encoding`
//! asks (brotli first), for pages, the API's JSON and the site's files
//! (CSS, JS, WASM, SVG). Left as they are:
//! - Server-Sent Events, so each event is flushed the moment it is written;
//! - bodies under [`MIN_BYTES`] (not worth the header and the CPU) and
//!   images (already compressed);
//! - the ingest webhook's answers: it serves programs on the hot path and
//!   is routed outside this layer (see `crate::router`).

use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Bodies smaller than this go out uncompressed.
pub const MIN_BYTES: u16 = 1024;

/// What is worth compressing (see the module docs).
pub type Worth = tower_http::compression::predicate::And<
    tower_http::compression::predicate::And<
        tower_http::compression::predicate::And<SizeAbove, NotForContentType>,
        NotForContentType,
    >,
    NotForContentType,
>;

/// The compression layer (brotli at quality 4, a fast setting).
pub fn layer() -> CompressionLayer<Worth> {
    let worth = SizeAbove::new(MIN_BYTES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::GRPC);
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Precise(4))
        .compress_when(worth)
}
