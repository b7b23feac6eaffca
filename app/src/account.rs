//! Sign-in and sign-out: `/login`, the user box in the site bar, and their
//! server functions. The forms are plain HTML forms posting to the server
//! functions, which answer with a redirect: they work the same with and
//! without WASM.

use crate::error::{AppError, Refusal};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use tickpulse_core::account::{Role, SignedIn};

/// Where to go after signing in: a path on this site, never elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Percent-encodes a path for a query value (`/` kept).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in and redirects: to `next` on success, back to the login page
/// with the reason otherwise.
#[server(prefix = "/auth", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let admin = crate::ssr::services()?.admin;
    let parts = crate::ssr::request()?;
    let next = safe_next(next.as_deref());
    // A plain form posts here: every outcome is a redirect, so the page
    // works the same without WASM; a refusal goes back to the login page.
    match admin.login(&parts, &username, &password).await {
        Ok(_) => leptos_axum::redirect(&next),
        Err(e) => {
            let refusal = match e {
                AppError::SignIn(refusal) => refusal,
                _ => Refusal::Unavailable,
            };
            leptos_axum::redirect(&format!(
                "/login?{}&next={}",
                refusal.query(),
                encode(&next)
            ));
        }
    }
    Ok(())
}

/// Ends the session and goes to the login page.
#[server(prefix = "/auth", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let admin = crate::ssr::services()?.admin;
    let parts = crate::ssr::request()?;
    admin.logout(&parts).await.map_err(AppError::respond)?;
    leptos_axum::redirect("/login?signed_out=1");
    Ok(())
}

/// Who is signed in, if anyone.
#[server(prefix = "/auth", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<SignedIn>, AppError> {
    let admin = crate::ssr::services()?.admin;
    let parts = crate::ssr::request()?;
    admin.current(&parts).await
}

/// The site bar: links, and who is signed in with a sign-out button.
#[component]
pub fn SiteBar() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <nav class="site" aria-label="Site">
            <a href="/" class="brand-link">"tickpulse"</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(user)) => {
                            let admin = user.role == Role::Admin;
                            view! {
                                <a href="/trade" id="trade-link">"Trade"</a>
                                {admin.then(|| view! { <a href="/admin/health">"Health"</a> })}
                                <span class="user" data-user=user.username.clone()>
                                    "Signed in as " <strong>{user.username.clone()}</strong>
                                    " (" {user.role.as_str()} ")"
                                </span>
                                <form method="post" action="/auth/logout" class="inline">
                                    <button type="submit">"Sign out"</button>
                                </form>
                            }
                                .into_any()
                        }
                        _ => view! { <a href="/login" class="user">"Sign in"</a> }.into_any(),
                    }
                })}
            </Suspense>
        </nav>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.with(|q| q.get("next")).as_deref());
    let refusal = move || {
        query.with(|q| {
            q.get("error")
                .map(|e| Refusal::from_query(&e, q.get("wait").as_deref()))
        })
    };
    let signed_out = move || query.with(|q| q.get("signed_out").is_some());
    view! {
        <main class="page narrow">
            <h1>"Sign in"</h1>
            {move || {
                refusal()
                    .map(|r| view! { <p class="error" role="alert" id="login-error">{r.message()}</p> })
            }}
            {move || {
                signed_out()
                    .then(|| view! { <p class="notice" role="status">"You are signed out."</p> })
            }}
            <form method="post" action="/auth/login" class="login">
                <input type="hidden" name="next" prop:value=next value=next/>
                <label>
                    "User name"
                    <input name="username" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="current-password" required/>
                </label>
                <button type="submit">"Sign in"</button>
            </form>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_survive_the_query_and_read_generically() {
        for r in [
            Refusal::Invalid,
            Refusal::Throttled(42),
            Refusal::Unavailable,
            Refusal::NoAccounts,
        ] {
            let q = r.query();
            let mut error = "";
            let mut wait = None;
            for pair in q.split('&') {
                match pair.split_once('=') {
                    Some(("error", v)) => error = v,
                    Some(("wait", v)) => wait = Some(v),
                    _ => {}
                }
            }
            assert_eq!(Refusal::from_query(error, wait), r);
        }
        assert_eq!(Refusal::from_query("made-up", None), Refusal::Invalid);
        assert_eq!(Refusal::Invalid.message(), "Wrong user name or password.");
        assert!(Refusal::Throttled(900).message().contains("15 minutes"));
        assert!(Refusal::Throttled(30).message().contains("30 seconds"));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/admin/health")), "/admin/health");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(encode("/a?b=1"), "/a%3Fb%3D1");
    }
}
