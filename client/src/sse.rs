//! Server-Sent Events: [`EventParser`] turns the bytes of a
//! `text/event-stream` into events (pure, for every target); natively,
//! [`follow`] keeps one stream open, reconnecting with `Last-Event-ID` and
//! a growing delay, so the server replays what was missed.

/// One event as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` when the server named none.
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// Reads events from chunks of a stream, however the chunks are cut.
#[derive(Debug, Default)]
pub struct EventParser {
    line: String,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    /// The id of the last event, kept across events as the spec says.
    last_id: Option<String>,
}

impl EventParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id to resume after (`Last-Event-ID`).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.find('\n') {
            let (piece, after) = (&rest[..end], &rest[end + 1..]);
            rest = after;
            if self.line.is_empty() {
                self.line_done(piece, &mut out);
            } else {
                // The line began in an earlier chunk.
                let mut line = std::mem::take(&mut self.line);
                line.push_str(piece);
                self.line_done(&line, &mut out);
            }
        }
        self.line.push_str(rest);
        out
    }

    /// One whole line, without its `\n`.
    fn line_done(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    id: self.id.take().or_else(|| self.last_id.clone()),
                    data,
                });
            }
            self.event = None;
            return;
        }
        if line.starts_with(':') {
            return; // a comment (keep-alive)
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "id" => {
                self.id = Some(value.to_owned());
                self.last_id = Some(value.to_owned());
            }
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

/// How long a follower waits before it connects again: 0.5 s, doubling up
/// to 10 s while connecting keeps failing, 0.5 s again once it worked.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct Reconnect(std::time::Duration);

#[cfg(not(target_arch = "wasm32"))]
impl Reconnect {
    pub(crate) fn new() -> Self {
        Self(std::time::Duration::from_millis(500))
    }

    /// The connection was made.
    pub(crate) fn connected(&mut self) {
        *self = Self::new();
    }

    /// Waits, and waits longer next time.
    pub(crate) async fn pause(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(std::time::Duration::from_secs(10));
    }
}

/// Follows `url` (an `/api/stream` URL) until `on_event` returns `false`:
/// every event goes to `on_event`; a dropped connection is opened again
/// after 0.5 s, doubling up to 10 s while it keeps failing, with the last
/// event id so the server replays what was missed.
#[cfg(not(target_arch = "wasm32"))]
pub async fn follow(url: &str, on_event: impl FnMut(SseEvent) -> bool) {
    follow_with(url, None, on_event).await;
}

/// [`follow`], acting as the user of a personal token (`Authorization:
/// Bearer`), as a watchlist's stream needs.
#[cfg(not(target_arch = "wasm32"))]
pub async fn follow_with(
    url: &str,
    token: Option<&str>,
    mut on_event: impl FnMut(SseEvent) -> bool,
) {
    let client = reqwest::Client::new();
    let mut parser = EventParser::new();
    let mut reconnect = Reconnect::new();
    loop {
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = parser.last_id() {
            request = request.header("last-event-id", id);
        }
        if let Ok(mut response) = request.send().await {
            if response.status().is_success() {
                reconnect.connected();
                // A new connection starts clean; a cut-off event is lost
                // with it and comes again by its id.
                let last = parser.last_id.take();
                parser = EventParser {
                    last_id: last,
                    ..EventParser::default()
                };
                while let Ok(Some(chunk)) = response.chunk().await {
                    for event in parser.push(&String::from_utf8_lossy(&chunk)) {
                        if !on_event(event) {
                            return;
                        }
                    }
                }
            }
        }
        reconnect.pause().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_however_the_chunks_are_cut() {
        let stream = "retry: 1000\nevent: snapshot\nid: 5-0\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: tick\r\nid: 6-0\r\ndata: x\r\ndata: y\r\n\r\ndata: plain\n\n";
        let whole = EventParser::new().push(stream);
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            let mut p = EventParser::new();
            let mut got = p.push(a);
            got.extend(p.push(b));
            assert_eq!(got, whole, "cut at {cut}");
        }
        assert_eq!(
            whole,
            [
                SseEvent {
                    event: "snapshot".into(),
                    id: Some("5-0".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: "tick".into(),
                    id: Some("6-0".into()),
                    data: "x\ny".into()
                },
                SseEvent {
                    event: "message".into(),
                    id: Some("6-0".into()),
                    data: "plain".into()
                },
            ]
        );
    }

    #[test]
    fn the_last_id_is_what_to_resume_after() {
        let mut p = EventParser::new();
        assert_eq!(p.last_id(), None);
        p.push("event: tick\nid: 7-1\ndata: {}\n\n");
        assert_eq!(p.last_id(), Some("7-1"));
        p.push(": keep-alive\n\n");
        assert_eq!(p.last_id(), Some("7-1"));
    }
}
