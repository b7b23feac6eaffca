//! `tickpulse user add NAME [--admin] | passwd NAME | list | remove NAME |
//! token NAME`:
//! account management against the configured database (the embedded one
//! under `DATA_DIR` when `DATABASE_URL` is unset).
//!
//! Passwords are asked for on the terminal without echo, twice; when
//! standard input is not a terminal, its first line is the password (for
//! scripts: `printf '%s\n' "$PW" | tickpulse user add ops --admin`).

use super::{AccountError, Accounts};
use crate::platform::config::{Config, UserAction};
use std::io::{BufRead, IsTerminal, Write};
use tickpulse_core::account::Role;

/// Runs one account command and says what it did.
///
/// # Errors
/// A message for the operator; the process exits with status 1.
pub async fn run(config: &Config, action: &UserAction) -> anyhow::Result<()> {
    let store = crate::store::open(&config.store_settings())
        .await?
        .ok_or_else(|| anyhow::anyhow!("accounts need a database: set DATABASE_URL (or leave REDIS_URL unset for the embedded one)"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("cannot prepare the database: {e}"))?;
    let accounts = Accounts::new(store);
    let done = match action {
        UserAction::Add { name, admin } => {
            let role = if *admin { Role::Admin } else { Role::Viewer };
            let password = read_password(&format!("New password for {name}"))?;
            accounts
                .add(name, &password, role)
                .await
                .map(|u| format!("added {} ({})", u.username, u.role))
        }
        UserAction::Passwd { name } => {
            let password = read_password(&format!("New password for {name}"))?;
            accounts
                .passwd(name, &password)
                .await
                .map(|()| format!("password of {name} changed; its sessions have ended"))
        }
        UserAction::Remove { name } => accounts
            .remove(name)
            .await
            .map(|()| format!("removed {name}")),
        UserAction::Token { name } => accounts.new_token(name).await.map(|token| {
            format!("{token}\n(a personal token for {name}: send it as `Authorization: Bearer <token>`; it is shown only this once)")
        }),
        UserAction::List => accounts.list().await.map(|users| {
            let mut out = format!("{:<32} {:<7} CREATED (UTC)", "USERNAME", "ROLE");
            for u in users {
                out.push_str(&format!(
                    "\n{:<32} {:<7} {}",
                    u.username,
                    u.role,
                    tickpulse_core::Timestamp::from_nanos(u.created_at.saturating_mul(1_000_000))
                ));
            }
            out
        }),
    };
    match done {
        Ok(message) => {
            println!("{message}");
            Ok(())
        }
        Err(
            e
            @ (AccountError::Invalid { .. } | AccountError::Exists(_) | AccountError::NotFound(_)),
        ) => Err(anyhow::anyhow!("{e}")),
        Err(e) => Err(anyhow::anyhow!("failed: {e}")),
    }
}

/// Asks twice on a terminal (no echo); reads one line otherwise.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = ask_hidden(&format!("{prompt}: "))?;
    let second = ask_hidden("Again: ")?;
    if first != second {
        anyhow::bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

fn ask_hidden(prompt: &str) -> anyhow::Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let _echo_off = EchoOff::new();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    writeln!(err)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Turns terminal echo off until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr on standard input with a zeroed,
        // then filled, termios; nothing is kept beyond this struct.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return Self(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) != 0 {
                return Self(None);
            }
            Self(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved);
            }
        }
    }
}
