//! Accounts, sign-in and sessions against the real binary (embedded mode,
//! SQLite under a data folder of the test's own): the CLI, sign-in with
//! session rotation, logout that kills the cookie, viewers kept out of the
//! admin pages, throttled wrong passwords, the API key, and no password in
//! the database or the logs.

use crate::common;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ADMIN: &str = "ops";
const ADMIN_PASSWORD: &str = "first-admin-pw-1";
const VIEWER_PASSWORD: &str = "viewer-pw-2345";
const API_KEY: &str = "public-key-77";

struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tickpulse-{name}-{}-{}-{}",
        std::process::id(),
        common::now_ms(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start(extra: &[(&str, &str)]) -> Server {
    let dir = temp_dir("accounts");
    let port = common::free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
    cmd.env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", dir.join("data"))
        .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("ADMIN_USERNAME", "Ops")
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug,sqlx=debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start tickpulse");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let client = reqwest::Client::new();
    let ready = common::eventually(Duration::from_secs(30), || {
        let url = format!("{}/health/readiness", server.base);
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    assert!(ready.is_some(), "server not ready:\n{}", server.log());
    let admin = common::eventually(Duration::from_secs(30), || async {
        server
            .log()
            .contains("created the first admin")
            .then_some(())
    })
    .await;
    assert!(admin.is_some(), "no first admin:\n{}", server.log());
    server
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// Runs `tickpulse user …` with `input` on standard input.
fn cli(data_dir: &Path, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickpulse"))
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Posts the login form as a browser without JavaScript does; returns the
/// redirect target and the session cookie set, if any.
async fn login(
    base: &str,
    cookie: Option<&str>,
    user: &str,
    password: &str,
) -> (String, Option<String>) {
    let mut req = client()
        .post(format!("{base}/auth/login"))
        .header("accept", "text/html")
        .header("referer", format!("{base}/login"))
        .form(&[
            ("username", user),
            ("password", password),
            ("next", "/admin/health"),
        ]);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let r = req.send().await.unwrap();
    assert!(
        r.status().is_redirection(),
        "login answers a redirect: {}",
        r.status()
    );
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let cookie = r.headers().get(SET_COOKIE).map(|v| {
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly"), "{v}");
        assert!(v.contains("SameSite=Strict"), "{v}");
        assert!(!v.contains("Secure"), "plain HTTP here: {v}");
        v.split(';').next().unwrap().to_owned()
    });
    (location, cookie)
}

/// `GET path`, with the session cookie when given.
async fn get(base: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}

async fn status(base: &str, path: &str, cookie: Option<&str>) -> u16 {
    get(base, path, cookie).await.status().as_u16()
}

async fn text(base: &str, path: &str, cookie: Option<&str>) -> String {
    get(base, path, cookie).await.text().await.unwrap()
}

#[tokio::test]
async fn sign_in_rotates_logout_ends_and_viewers_stay_out() {
    let s = start(&[]).await;
    let base = &s.base;
    // Without a session: the page sends to the login, the API says 401.
    let r = client()
        .get(format!("{base}/admin/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()[LOCATION], "/login?next=/admin/health");
    assert_eq!(status(base, "/api/admin/nodes", None).await, 401);

    // The first admin came from ADMIN_USERNAME (lower-cased).
    let (to, first) = login(base, None, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(to, "/admin/health");
    let first = first.expect("a session cookie");
    assert_eq!(status(base, "/admin/health", Some(&first)).await, 200);
    assert_eq!(status(base, "/api/admin/nodes", Some(&first)).await, 200);
    // Signing in again with that cookie gives a new session id; the old
    // one is worth nothing.
    let (_, second) = login(base, Some(&first), ADMIN, ADMIN_PASSWORD).await;
    let second = second.expect("a new session cookie");
    assert_ne!(first, second);
    assert_eq!(status(base, "/api/admin/nodes", Some(&first)).await, 401);
    assert_eq!(status(base, "/api/admin/nodes", Some(&second)).await, 200);

    // The health page as the admin sees it.
    let page = text(base, "/admin/health", Some(&second)).await;
    assert!(page.contains("data-status=\"up\""), "{page}");
    assert!(page.contains("Signed in as"));

    // The admin stream of this session, open across the logout below.
    let stream = get(base, "/api/admin/stream", Some(&second)).await;
    assert_eq!(stream.status().as_u16(), 200);
    let mut sse = common::SseReader::new(stream);
    assert!(sse
        .next_of("health", Duration::from_secs(5))
        .await
        .is_some());

    // Logout: the cookie kept from before is rejected everywhere.
    let r = client()
        .post(format!("{base}/auth/logout"))
        .header("accept", "text/html")
        .header(COOKIE, &second)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION], "/login?signed_out=1");
    assert_eq!(status(base, "/api/admin/nodes", Some(&second)).await, 401);
    assert_eq!(status(base, "/admin/health", Some(&second)).await, 303);
    assert!(
        sse.next_of("signed_out", Duration::from_secs(5))
            .await
            .is_some(),
        "the open admin stream ends with its session"
    );

    // A viewer, added by the CLI while the server runs, is not an admin.
    let (ok, out) = cli(
        &s.data_dir(),
        &["add", "Vera"],
        &format!("{VIEWER_PASSWORD}\n"),
    );
    assert!(ok, "{out}");
    let (to, viewer) = login(base, None, "vera", VIEWER_PASSWORD).await;
    assert_eq!(to, "/admin/health");
    let viewer = viewer.unwrap();
    assert_eq!(status(base, "/admin/health", Some(&viewer)).await, 403);
    // The 403 page is the server's own: a policy for its stylesheet, and no
    // inline script allowed.
    let forbidden = get(base, "/admin/health", Some(&viewer)).await;
    let policy = forbidden.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("style-src 'self'") && !policy.contains("nonce"),
        "{policy}"
    );
    assert_eq!(status(base, "/api/admin/nodes", Some(&viewer)).await, 403);
    assert_eq!(status(base, "/api/admin/events", Some(&viewer)).await, 403);
    // A new password ends the viewer's sessions.
    let (ok, out) = cli(&s.data_dir(), &["passwd", "vera"], "another-pw-999\n");
    assert!(ok, "{out}");
    assert_eq!(status(base, "/", Some(&viewer)).await, 200);
    let me = text(base, "/", Some(&viewer)).await;
    assert!(!me.contains("Signed in as"), "the old session is gone");
    assert_no_password_anywhere(&s, &[ADMIN_PASSWORD, VIEWER_PASSWORD, "another-pw-999"]).await;
}

#[tokio::test]
async fn wrong_passwords_are_throttled_with_one_generic_answer() {
    let s = start(&[]).await;
    let base = &s.base;
    let mut answers = Vec::new();
    for i in 0..20 {
        let (to, cookie) = login(base, None, ADMIN, &format!("wrong-{i}")).await;
        assert!(cookie.is_none(), "no session for a wrong password");
        answers.push(to);
    }
    // The first five say "wrong user name or password", the rest "wait".
    assert!(
        answers[..5]
            .iter()
            .all(|a| a == "/login?error=invalid&next=/admin/health"),
        "{answers:?}"
    );
    assert!(
        answers[5..]
            .iter()
            .all(|a| a.starts_with("/login?error=throttled&wait=")),
        "{answers:?}"
    );
    // Throttled means throttled: even the right password is refused now.
    let (to, cookie) = login(base, None, ADMIN, ADMIN_PASSWORD).await;
    assert!(to.starts_with("/login?error=throttled"), "{to}");
    assert!(cookie.is_none());
    // Twenty failures from one address throttle other names from it too,
    // whether they exist or not: nothing tells them apart.
    let (to, _) = login(base, None, "no-such-user", "whatever1").await;
    assert!(to.starts_with("/login?error=throttled"), "{to}");
    // The login page says it in words, once.
    let page = text(base, &to, None).await;
    assert_eq!(
        page.matches("Too many failed sign-ins").count(),
        1,
        "{page}"
    );
    let wrong = text(base, "/login?error=invalid", None).await;
    assert_eq!(wrong.matches("Wrong user name or password.").count(), 1);
    assert!(s.log().contains("throttled"));
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let s = start(&[]).await;
    let (unknown, _) = login(&s.base, None, "ghost", "some-password").await;
    let (wrong, _) = login(&s.base, None, ADMIN, "some-password").await;
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, "/login?error=invalid&next=/admin/health");
}

#[tokio::test]
async fn the_api_key_guards_the_public_api_and_the_pages() {
    let s = start(&[("API_KEY", API_KEY), ("ADMIN_API_KEY", "admin-key-88")]).await;
    let base = &s.base;
    assert_eq!(status(base, "/api/symbols", None).await, 401);
    let r = client()
        .get(format!("{base}/api/symbols"))
        .header("x-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("x-api-key"));
    let with_key = client()
        .get(format!("{base}/api/symbols"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status().as_u16(), 200);
    // The public key is not the admin key.
    let r = client()
        .get(format!("{base}/api/admin/nodes"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .get(format!("{base}/api/admin/events"))
        .header("x-api-key", "admin-key-88")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Pages need a signed-in user; the login page and ingest stay open.
    assert_eq!(status(base, "/", None).await, 303);
    assert_eq!(status(base, "/login", None).await, 200);
    let (_, cookie) = login(base, None, ADMIN, ADMIN_PASSWORD).await;
    let cookie = cookie.unwrap();
    assert_eq!(status(base, "/api/symbols", Some(&cookie)).await, 200);
    assert_eq!(status(base, "/", Some(&cookie)).await, 200);
    // So does a user's personal token; a wrong one does not.
    let (ok, out) = cli(&s.dir.join("data"), &["token", ADMIN], "");
    assert!(ok, "{out}");
    let token = out.lines().next().unwrap().trim().to_owned();
    let bearer = |token: String| {
        let url = format!("{base}/api/symbols");
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(bearer(token).await, 200);
    assert_eq!(bearer("tp_wrong".into()).await, 401);
    let r = client()
        .post(format!("{base}/ingest/tick"))
        .basic_auth(common::USER, Some(common::PASSWORD))
        .json(&common::tick("KEYED", "1", "keyed-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
}

#[tokio::test]
async fn the_cli_manages_accounts_and_says_what_is_wrong() {
    let dir = temp_dir("cli");
    let data = dir.join("data");
    let (ok, out) = cli(&data, &["add", "Alice", "--admin"], "alice-password\n");
    assert!(ok, "{out}");
    assert!(out.contains("added alice (admin)"), "{out}");
    let (ok, out) = cli(&data, &["add", "alice"], "other-password\n");
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");
    let (ok, out) = cli(&data, &["add", "bob"], "short\n");
    assert!(!ok);
    assert!(
        out.contains("password: password is shorter than 8"),
        "{out}"
    );
    let (ok, out) = cli(&data, &["add", "bad name"], "long-enough-pw\n");
    assert!(!ok);
    assert!(out.contains("username:"), "{out}");
    let (ok, out) = cli(&data, &["add", "bob"], "bob-password\n");
    assert!(ok, "{out}");
    let (ok, out) = cli(&data, &["list"], "");
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("USERNAME"), "{out}");
    assert!(
        lines[1].starts_with("alice") && lines[1].contains("admin"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("bob") && lines[2].contains("viewer"),
        "{out}"
    );
    let (ok, out) = cli(&data, &["passwd", "carol"], "carol-password\n");
    assert!(!ok);
    assert!(out.contains("no user \"carol\""), "{out}");
    let (ok, _) = cli(&data, &["remove", "bob"], "");
    assert!(ok);
    let (_, out) = cli(&data, &["list"], "");
    assert!(!out.contains("bob"), "{out}");
    // What is stored is an argon2id hash, never the password.
    let hashes = stored_hashes(&data).await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$"), "{}", hashes[0]);
    assert!(!hashes[0].contains("alice-password"));
    let _ = std::fs::remove_dir_all(&dir);
}

async fn stored_hashes(data: &Path) -> Vec<String> {
    let url = format!("sqlite://{}", data.join("ticks.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let hashes = sqlx::query_scalar("SELECT password_hash FROM app_user ORDER BY username")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    hashes
}

/// No password appears in the database file, the WAL or the server's log
/// (JSON lines with service and node_id, at debug level).
async fn assert_no_password_anywhere(s: &Server, passwords: &[&str]) {
    for hash in stored_hashes(&s.data_dir()).await {
        assert!(hash.starts_with("$argon2id$"));
    }
    let log = s.log();
    let first = log.lines().next().unwrap_or_default();
    let line: serde_json::Value = serde_json::from_str(first).expect("JSON log lines");
    assert_eq!(line["service"], "tickpulse");
    assert!(line["node_id"].as_str().is_some_and(|n| !n.is_empty()));
    let mut files = vec![("server log".to_owned(), log.into_bytes())];
    for entry in std::fs::read_dir(s.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    for (name, bytes) in files {
        for p in passwords {
            assert!(
                !bytes.windows(p.len()).any(|w| w == p.as_bytes()),
                "{p:?} found in {name}"
            );
        }
    }
}
