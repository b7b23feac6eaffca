//! `/api/graphql`: the GraphQL door (`async-graphql`). Queries and
//! mutations over `POST` (and `GET` for queries), subscriptions over
//! `graphql-transport-ws` on the same path.
//!
//! Every resolver checks its arguments with the REST handler's own rule and
//! calls the service the REST handler calls: the door has no rule of its
//! own. Objects and values are the JSON API's, field for field (the core
//! types derive both), so an answer equals the REST answer of the same
//! data. An error carries what the REST error would: `extensions.status`
//! (the HTTP status), `extensions.code` (where REST has one) and
//! `extensions.details` (each bad field).
//!
//! Authentication is the API's (the key guard of the public routes, and a
//! session or a bearer token for a user's fields); the request counts
//! against the API's rate limit like any other; a query deeper than
//! [`MAX_DEPTH`] or costlier than [`MAX_COMPLEXITY`] is refused before it
//! runs.

mod mutation;
mod query;
mod subscription;

use crate::accounts::MaybeUser;
use crate::error::{ApiError, ErrorBody, ReadRefusals};
use crate::state::AppState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, ErrorExtensions, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tickpulse_core::account::SignedIn;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

/// The deepest selection a query may nest.
pub const MAX_DEPTH: usize = 12;
/// The most fields (each list counts as one) a query may select.
pub const MAX_COMPLEXITY: usize = 1_000;

pub type TickpulseSchema = Schema<Query, Mutation, Subscription>;

/// The schema, for a server and for `tickpulse graphql-schema`.
pub fn schema() -> TickpulseSchema {
    Schema::build(Query, Mutation, Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in GraphQL's schema language (`docs/schema.graphql`).
pub fn sdl() -> String {
    schema().sdl()
}

/// The process's schema, built once (it holds no data: each request
/// brings the state and its caller).
fn served() -> &'static TickpulseSchema {
    static SCHEMA: std::sync::OnceLock<TickpulseSchema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(schema)
}

/// Who asks, for the resolvers.
#[derive(Clone)]
pub(crate) struct Caller {
    pub user: Option<SignedIn>,
}

impl Caller {
    /// The signed-in user.
    ///
    /// # Errors
    /// 401, as the REST API's user endpoints answer.
    pub fn user(&self) -> Result<&SignedIn, ApiError> {
        self.user.as_ref().ok_or(ApiError::SignInRequired(
            "sign in, or send a personal token (Authorization: Bearer)",
        ))
    }
}

/// An [`ApiError`] as a GraphQL error with the REST error's body.
pub(crate) fn error(e: ApiError) -> async_graphql::Error {
    let status = e.status();
    if status.is_server_error() {
        tracing::warn!(error = %e, "GraphQL request failed");
    }
    let body: ErrorBody = e.body();
    let json = serde_json::to_value(&body).unwrap_or_default();
    async_graphql::Error::new(json["error"].as_str().unwrap_or("error").to_owned()).extend_with(
        |_, ext| {
            ext.set("status", status.as_u16());
            if let Some(code) = json.get("code").and_then(|c| c.as_str()) {
                ext.set("code", code);
            }
            if let Ok(details) = async_graphql::Value::from_json(json["details"].clone()) {
                ext.set("details", details);
            }
        },
    )
}

/// Results of the services as GraphQL results.
pub(crate) trait Answer<T> {
    fn answer(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> Answer<T> for Result<T, E> {
    fn answer(self) -> async_graphql::Result<T> {
        self.map_err(|e| error(e.into()))
    }
}

#[utoipa::path(
    post, path = "/api/graphql", tag = "graphql",
    request_body(content = String, content_type = "application/json", description = "A GraphQL request: `{\"query\", \"variables\"?, \"operationName\"?}`. The schema is `docs/schema.graphql`; GraphiQL is at `/graphiql`."),
    responses(
        (status = 200, description = "A GraphQL response: `{\"data\"}`, with `errors` (each with `extensions.status`, `code` and `details` as the REST error) when some field failed", content_type = "application/json", body = String),
        (status = 400, description = "Not a GraphQL request", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []), ("bearer" = []))
)]
pub async fn post(
    State(state): State<AppState>,
    asking: MaybeUser,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Result<GraphQLResponse, ApiError> {
    let request = request.map_err(|e| ApiError::BadParam {
        field: "body",
        message: format!("not a GraphQL request: {}", e.0),
    })?;
    let caller = Caller {
        user: asking.optional().await?,
    };
    Ok(served()
        .execute(request.into_inner().data(state.clone()).data(caller))
        .await
        .into())
}

/// `GET /api/graphql`: the `graphql-transport-ws` handshake of
/// subscriptions (queries and mutations are `POST`ed).
#[utoipa::path(
    get, path = "/api/graphql", tag = "graphql",
    responses(
        (status = 101, description = "The `graphql-transport-ws` (or the older `graphql-ws`) protocol, for subscriptions: `market` (ticks, views and snapshots of symbols or a watchlist, with `conflate` and `from`) and `orders` (your order events)"),
        (status = 400, description = "Not a WebSocket handshake of a GraphQL protocol (`details` names `upgrade`); queries are POSTed", body = ErrorBody),
        (status = 403, description = "A browser's handshake from another site", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []), ("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    asking: MaybeUser,
    headers: HeaderMap,
    protocol: Result<GraphQLProtocol, axum::http::StatusCode>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let (protocol, upgrade) = super::ws::handshake(
        &headers,
        match (protocol, upgrade) {
            (Ok(protocol), Ok(upgrade)) => Ok((protocol, upgrade)),
            (Err(_), _) => Err("no GraphQL WebSocket protocol was asked for".to_owned()),
            (_, Err(e)) => Err(e.to_string()),
        },
        "GET is for the graphql-transport-ws handshake of subscriptions; POST queries and mutations",
    )?;
    let caller = Caller {
        user: asking.optional().await?,
    };
    let schema = served().clone();
    Ok(super::ws::sized(upgrade)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let mut data = Data::default();
            data.insert(state);
            data.insert(caller);
            GraphQLWebSocket::new(socket, schema, protocol)
                .with_data(data)
                .serve()
        }))
}

/// `GET /graphiql`: GraphiQL on `/api/graphql`, from this site's own
/// build files (`web/graphiql.mjs`), under the pages' Content Security
/// Policy (scripts and styles from this origin only).
pub async fn graphiql(State(state): State<AppState>) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>GraphiQL · tickpulse</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body style=\"margin: 0\"><div id=\"graphiql\" style=\"height: 100vh\"></div>\
         <script src=\"{js}\"></script></body></html>\n",
        css = state.assets.graphiql_css,
        js = state.assets.graphiql,
    );
    let mut response = axum::response::Html(page).into_response();
    if let Ok(policy) = axum::http::HeaderValue::from_str(&tickpulse_app::security::policy(None)) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    }
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_is_the_one_the_code_builds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.graphql");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == sdl(),
            "docs/schema.graphql differs from what the code builds: run \
             `cargo run -p tickpulse-server -- graphql-schema > docs/schema.graphql` and commit it"
        );
    }

    #[tokio::test]
    async fn a_query_too_deep_or_too_costly_is_refused_before_it_runs() {
        let schema = schema();
        let mut nested = "name".to_owned();
        for _ in 0..MAX_DEPTH {
            nested = format!("ofType {{ {nested} }}");
        }
        let deep = format!("{{ __schema {{ types {{ fields {{ type {{ {nested} }} }} }} }} }}");
        let answer = schema.execute(deep.as_str()).await;
        assert!(
            answer
                .errors
                .iter()
                .any(|e| e.message.contains("nested too deep")),
            "{:?}",
            answer.errors
        );
        let wide: String = (0..MAX_COMPLEXITY)
            .map(|i| format!("a{i}: symbols {{ id }} "))
            .collect();
        let answer = schema.execute(format!("{{ {wide} }}").as_str()).await;
        assert!(
            answer
                .errors
                .iter()
                .any(|e| e.message.contains("too complex")),
            "{:?}",
            answer.errors
        );
    }
}
