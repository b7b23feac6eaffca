//! The client package's SSE parser. Never a panic; however the stream is
//! cut into chunks, the same events come out; and the events, written out
//! as a stream again, are read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_client::sse::{EventParser, SseEvent};

fuzz_target!(|data: (u16, &str)| {
    let (cut, text) = data;
    let whole = EventParser::new().push(text);
    let mut cut = usize::from(cut) % (text.len() + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut parser = EventParser::new();
    let mut pieces = parser.push(&text[..cut]);
    pieces.extend(parser.push(&text[cut..]));
    assert_eq!(pieces, whole);

    // A value ending in CR has no written form (a line's CR is dropped).
    let writable = |e: &SseEvent| {
        !(e.event.contains('\r') || e.id.as_ref().is_some_and(|i| i.contains('\r')) || e.data.contains('\r'))
    };
    if !whole.iter().all(writable) {
        return;
    }
    let mut written = String::new();
    for e in &whole {
        write(&mut written, e);
    }
    let again = EventParser::new().push(&written);
    assert_eq!(again, whole);
});

/// How a server writes `e`: `event:`, `id:`, one `data:` line per line.
fn write(out: &mut String, e: &SseEvent) {
    out.push_str("event: ");
    out.push_str(&e.event);
    out.push('\n');
    if let Some(id) = &e.id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    for line in e.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
}
